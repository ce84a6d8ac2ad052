// Canvas mask editor: brush, eraser, polygon, box, undo / redo.
//
// The box tool is for detector findings (paper 2), whose mask is a filled box: dragging a
// rectangle replaces the whole mask with that filled box, and the handles of the current box
// resize it. The mask then stays a box (`shape()` is "box") until another tool paints.
//
// The mask lives at the photo's full resolution in a Uint8Array (1 byte a pixel, 12 MB for
// a 12-megapixel photo); the visible canvas is a scaled view of it. Every stroke is
// rasterised once at full resolution and only its dirty rectangle is redrawn on screen, so
// painting stays smooth whatever the photo's size. Undo and redo replay the operation log
// from the starting mask. Saving encodes the full-resolution mask as COCO RLE (rle.js).
(function (root) {
  "use strict";

  function clamp(v, lo, hi) {
    return v < lo ? lo : v > hi ? hi : v;
  }

  // Pure rasterisers over a row-major mask; exported for tests.
  function paintSegment(mask, width, height, x0, y0, x1, y1, radius, value) {
    const r = Math.max(0.5, radius);
    const minX = clamp(Math.floor(Math.min(x0, x1) - r), 0, width - 1);
    const maxX = clamp(Math.ceil(Math.max(x0, x1) + r), 0, width - 1);
    const minY = clamp(Math.floor(Math.min(y0, y1) - r), 0, height - 1);
    const maxY = clamp(Math.ceil(Math.max(y0, y1) + r), 0, height - 1);
    const dx = x1 - x0;
    const dy = y1 - y0;
    const len2 = dx * dx + dy * dy;
    const r2 = r * r;
    for (let y = minY; y <= maxY; y++) {
      const py = y + 0.5;
      for (let x = minX; x <= maxX; x++) {
        const px = x + 0.5;
        let t = len2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        const ex = px - (x0 + t * dx);
        const ey = py - (y0 + t * dy);
        if (ex * ex + ey * ey <= r2) mask[y * width + x] = value;
      }
    }
    return [minX, minY, maxX + 1, maxY + 1];
  }

  function fillPolygon(mask, width, height, points, value) {
    // Even-odd scanline fill through pixel centres.
    let minY = Infinity;
    let maxY = -Infinity;
    let minX = Infinity;
    let maxX = -Infinity;
    for (const p of points) {
      minY = Math.min(minY, p[1]);
      maxY = Math.max(maxY, p[1]);
      minX = Math.min(minX, p[0]);
      maxX = Math.max(maxX, p[0]);
    }
    const y0 = clamp(Math.floor(minY), 0, height - 1);
    const y1 = clamp(Math.ceil(maxY), 0, height - 1);
    const n = points.length;
    for (let y = y0; y <= y1; y++) {
      const py = y + 0.5;
      const xs = [];
      for (let i = 0, j = n - 1; i < n; j = i++) {
        const a = points[i];
        const b = points[j];
        if (a[1] > py !== b[1] > py) {
          xs.push(a[0] + ((py - a[1]) * (b[0] - a[0])) / (b[1] - a[1]));
        }
      }
      xs.sort(function (p, q) {
        return p - q;
      });
      for (let k = 0; k + 1 < xs.length; k += 2) {
        const from = clamp(Math.ceil(xs[k] - 0.5), 0, width);
        const to = clamp(Math.floor(xs[k + 1] - 0.5), -1, width - 1);
        for (let x = from; x <= to; x++) mask[y * width + x] = value;
      }
    }
    return [
      clamp(Math.floor(minX), 0, width),
      y0,
      clamp(Math.ceil(maxX) + 1, 0, width),
      y1 + 1,
    ];
  }

  // The integer rectangle [x0, y0, x1, y1) spanned by two points, clipped to the mask;
  // null when it holds no pixel.
  function rectBetween(a, b, width, height) {
    const x0 = clamp(Math.round(Math.min(a[0], b[0])), 0, width);
    const x1 = clamp(Math.round(Math.max(a[0], b[0])), 0, width);
    const y0 = clamp(Math.round(Math.min(a[1], b[1])), 0, height);
    const y1 = clamp(Math.round(Math.max(a[1], b[1])), 0, height);
    return x1 > x0 && y1 > y0 ? [x0, y0, x1, y1] : null;
  }

  // A box replaces the mask: the correction of a detector box is another box.
  function fillBox(mask, width, height, rect) {
    mask.fill(0);
    for (let y = rect[1]; y < rect[3]; y++) mask.fill(1, y * width + rect[0], y * width + rect[2]);
    return [0, 0, width, height];
  }

  // The box a mask is, or null when it is empty or not one filled rectangle.
  function boxOf(mask, width, height) {
    let x0 = width;
    let y0 = height;
    let x1 = -1;
    let y1 = -1;
    let n = 0;
    for (let y = 0; y < height; y++) {
      const row = y * width;
      for (let x = 0; x < width; x++) {
        if (!mask[row + x]) continue;
        n++;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
    if (!n || n !== (x1 + 1 - x0) * (y1 + 1 - y0)) return null;
    return [x0, y0, x1 + 1, y1 + 1];
  }

  // Handles of a box: corners and edge middles, named by the edges they move.
  const HANDLES = ["nw", "n", "ne", "e", "se", "s", "sw", "w"];
  const HANDLE_CURSORS = {
    nw: "nwse-resize", se: "nwse-resize", ne: "nesw-resize", sw: "nesw-resize",
    n: "ns-resize", s: "ns-resize", e: "ew-resize", w: "ew-resize",
  };

  function handlePoint(rect, name) {
    const xm = (rect[0] + rect[2]) / 2;
    const ym = (rect[1] + rect[3]) / 2;
    const x = name.indexOf("w") >= 0 ? rect[0] : name.indexOf("e") >= 0 ? rect[2] : xm;
    const y = name.indexOf("n") >= 0 ? rect[1] : name.indexOf("s") >= 0 ? rect[3] : ym;
    return [x, y];
  }

  // The rectangle after dragging handle `name` of `rect` to point `p` (edges may cross).
  function resizeBox(rect, name, p, width, height) {
    let [x0, y0, x1, y1] = rect;
    if (name.indexOf("w") >= 0) x0 = p[0];
    if (name.indexOf("e") >= 0) x1 = p[0];
    if (name.indexOf("n") >= 0) y0 = p[1];
    if (name.indexOf("s") >= 0) y1 = p[1];
    return rectBetween([x0, y0], [x1, y1], width, height);
  }

  function upscaleNearest(src, srcW, srcH, width, height) {
    const out = new Uint8Array(width * height);
    const cols = new Int32Array(width);
    for (let x = 0; x < width; x++) cols[x] = Math.min(Math.floor(((x + 0.5) * srcW) / width), srcW - 1);
    for (let y = 0; y < height; y++) {
      const sy = Math.min(Math.floor(((y + 0.5) * srcH) / height), srcH - 1);
      const srow = sy * srcW;
      const row = y * width;
      for (let x = 0; x < width; x++) out[row + x] = src[srow + cols[x]];
    }
    return out;
  }

  function applyOp(mask, width, height, op) {
    if (op.tool === "box") {
      return fillBox(mask, width, height, op.rect);
    }
    if (op.tool === "polygon") {
      return fillPolygon(mask, width, height, op.points, 1);
    }
    const value = op.tool === "eraser" ? 0 : 1;
    const pts = op.points;
    let box = paintSegment(mask, width, height, pts[0][0], pts[0][1], pts[0][0], pts[0][1], op.radius, value);
    for (let i = 1; i < pts.length; i++) {
      const b = paintSegment(mask, width, height, pts[i - 1][0], pts[i - 1][1], pts[i][0], pts[i][1], op.radius, value);
      box = [Math.min(box[0], b[0]), Math.min(box[1], b[1]), Math.max(box[2], b[2]), Math.max(box[3], b[3])];
    }
    return box;
  }

  class MaskEditor {
    // options: canvas (display), width / height (full resolution), color [r, g, b]
    constructor(options) {
      this.canvas = options.canvas;
      this.width = options.width;
      this.height = options.height;
      this.color = options.color || [255, 64, 129];
      this.alpha = options.alpha === undefined ? 150 : options.alpha;
      this.ctx = this.canvas.getContext("2d");
      this.base = new Uint8Array(this.width * this.height);
      this.mask = new Uint8Array(this.width * this.height);
      this.ops = [];
      this.redoStack = [];
      this.tool = "brush";
      this.radiusDisplay = 12; // brush radius in screen pixels, whatever the zoom
      this.current = null;
      this.polygon = [];
      this.baseBox = null; // the starting mask's box, when it was loaded as a box
      this.drag = null; // box tool: {from} for a new box, {handle, rect} for a resize
      this.preview = null; // box tool: the rectangle being dragged
      this.onchange = options.onchange || function () {};
      this._bind();
      this.resize();
    }

    scale() {
      return this.canvas.width / this.width;
    }

    resize() {
      // The canvas keeps the photo's aspect ratio at the size it is shown.
      const shown = this.canvas.clientWidth || this.canvas.width;
      this.canvas.width = Math.max(1, Math.round(shown));
      this.canvas.height = Math.max(1, Math.round((shown * this.height) / this.width));
      this.image = this.ctx.createImageData(this.canvas.width, this.canvas.height);
      this.redraw();
    }

    // `shape` "box": the mask is a detector's (or a person's) box, which the box tool's
    // handles then resize.
    load(mask, shape) {
      this.base = mask ? Uint8Array.from(mask) : new Uint8Array(this.width * this.height);
      this.baseBox = shape === "box" ? boxOf(this.base, this.width, this.height) : null;
      this.ops = [];
      this.redoStack = [];
      this._replay();
    }

    setTool(tool) {
      if (TOOLS.indexOf(tool) < 0) throw new Error("unknown tool " + tool);
      this.tool = tool;
      this.polygon = [];
      this.drag = null;
      this.preview = null;
      this.redraw();
      this.onchange(this);
    }

    // The box the mask is now: the last box drawn, unless another tool painted since.
    box() {
      const last = this.ops[this.ops.length - 1];
      if (last) return last.tool === "box" ? last.rect.slice() : null;
      return this.baseBox ? this.baseBox.slice() : null;
    }

    // What a saved correction records: "box" when the mask is a box drawn or kept as one.
    shape() {
      return this.box() ? "box" : "mask";
    }

    setRadius(px) {
      this.radiusDisplay = clamp(px, 1, 200);
      this.onchange(this);
    }

    canUndo() {
      return this.ops.length > 0;
    }

    canRedo() {
      return this.redoStack.length > 0;
    }

    undo() {
      if (!this.ops.length) return;
      this.redoStack.push(this.ops.pop());
      this._replay();
    }

    redo() {
      if (!this.redoStack.length) return;
      const op = this.redoStack.pop();
      this.ops.push(op);
      this._show(op, applyOp(this.mask, this.width, this.height, op));
      this.onchange(this);
    }

    // Apply an operation given in full-resolution coordinates (used by pointer input and tests).
    apply(op) {
      this.ops.push(op);
      this.redoStack = [];
      this._show(op, applyOp(this.mask, this.width, this.height, op));
      this.onchange(this);
    }

    _show(op, dirty) {
      // A box replaces the whole mask and brings its outline and handles: redraw it all.
      if (op.tool === "box" || this.tool === "box") this.redraw();
      else this._dirty(dirty);
    }

    area() {
      let n = 0;
      for (let i = 0; i < this.mask.length; i++) n += this.mask[i];
      return n;
    }

    toRle() {
      return root.ReviewRle.encode(this.mask, this.width, this.height);
    }

    closePolygon() {
      if (this.polygon.length >= 3) {
        this.apply({ tool: "polygon", points: this.polygon.slice() });
      }
      this.polygon = [];
      this.redraw();
    }

    _replay() {
      this.mask.set(this.base);
      for (const op of this.ops) applyOp(this.mask, this.width, this.height, op);
      this.redraw();
      this.onchange(this);
    }

    _toFull(event) {
      const rect = this.canvas.getBoundingClientRect();
      const sx = this.canvas.width / rect.width;
      const sy = this.canvas.height / rect.height;
      const s = this.scale();
      return [((event.clientX - rect.left) * sx) / s, ((event.clientY - rect.top) * sy) / s];
    }

    // The handle of the current box within 8 screen pixels of `p`, or null.
    _handleAt(p) {
      const rect = this.box();
      if (!rect) return null;
      const s = this.scale();
      for (const name of HANDLES) {
        const h = handlePoint(rect, name);
        if (Math.hypot(h[0] - p[0], h[1] - p[1]) * s <= 8) return name;
      }
      return null;
    }

    _boxDown(e, p) {
      this.canvas.setPointerCapture(e.pointerId);
      const handle = this._handleAt(p);
      this.drag = handle ? { handle: handle, rect: this.box() } : { from: p };
      this.preview = handle ? this.box() : null;
    }

    _boxMove(p) {
      if (!this.drag) {
        const handle = this._handleAt(p);
        this.canvas.style.cursor = handle ? HANDLE_CURSORS[handle] : "";
        return;
      }
      this.preview = this.drag.handle
        ? resizeBox(this.drag.rect, this.drag.handle, p, this.width, this.height)
        : rectBetween(this.drag.from, p, this.width, this.height);
      this.redraw();
    }

    _boxUp() {
      if (!this.drag) return;
      const rect = this.preview;
      const before = this.drag.rect;
      this.drag = null;
      this.preview = null;
      const same = before && rect && rect.every((v, i) => v === before[i]);
      if (rect && !same) this.apply({ tool: "box", rect: rect });
      else this.redraw();
    }

    _bind() {
      const c = this.canvas;
      c.addEventListener("pointerdown", (e) => {
        if (e.button !== 0) return;
        const p = this._toFull(e);
        if (this.tool === "box") {
          this._boxDown(e, p);
          return;
        }
        if (this.tool === "polygon") {
          const first = this.polygon[0];
          const near = first && Math.hypot(first[0] - p[0], first[1] - p[1]) * this.scale() < 8;
          if (near) this.closePolygon();
          else {
            this.polygon.push(p);
            this.redraw();
          }
          return;
        }
        c.setPointerCapture(e.pointerId);
        this.current = { tool: this.tool, radius: this.radiusDisplay / this.scale(), points: [p] };
        this._dirty(paintSegment(this.mask, this.width, this.height, p[0], p[1], p[0], p[1], this.current.radius, this.tool === "eraser" ? 0 : 1));
      });
      c.addEventListener("pointermove", (e) => {
        if (this.tool === "box") {
          this._boxMove(this._toFull(e));
          return;
        }
        if (!this.current) return;
        const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
        for (const ev of events.length ? events : [e]) {
          const p = this._toFull(ev);
          const prev = this.current.points[this.current.points.length - 1];
          this.current.points.push(p);
          this._dirty(paintSegment(this.mask, this.width, this.height, prev[0], prev[1], p[0], p[1], this.current.radius, this.current.tool === "eraser" ? 0 : 1));
        }
      });
      const end = () => {
        if (this.tool === "box") {
          this._boxUp();
          return;
        }
        if (!this.current) return;
        this.ops.push(this.current);
        this.redoStack = [];
        this.current = null;
        this.onchange(this);
      };
      c.addEventListener("pointerup", end);
      c.addEventListener("pointercancel", end);
      c.addEventListener("dblclick", () => {
        if (this.tool === "polygon") this.closePolygon();
      });
    }

    // Redraw the screen pixels covering a full-resolution rectangle [x0, y0, x1, y1).
    _dirty(box) {
      const s = this.scale();
      const dx0 = clamp(Math.floor(box[0] * s) - 1, 0, this.canvas.width);
      const dy0 = clamp(Math.floor(box[1] * s) - 1, 0, this.canvas.height);
      const dx1 = clamp(Math.ceil(box[2] * s) + 1, 0, this.canvas.width);
      const dy1 = clamp(Math.ceil(box[3] * s) + 1, 0, this.canvas.height);
      if (dx1 <= dx0 || dy1 <= dy0) return;
      this._render(dx0, dy0, dx1, dy1);
      this.ctx.putImageData(this.image, 0, 0, dx0, dy0, dx1 - dx0, dy1 - dy0);
    }

    _render(dx0, dy0, dx1, dy1) {
      const dw = this.canvas.width;
      const dh = this.canvas.height;
      const data = this.image.data;
      const c = this.color;
      for (let y = dy0; y < dy1; y++) {
        const sy = Math.min(Math.floor(((y + 0.5) * this.height) / dh), this.height - 1);
        for (let x = dx0; x < dx1; x++) {
          const sx = Math.min(Math.floor(((x + 0.5) * this.width) / dw), this.width - 1);
          const o = (y * dw + x) * 4;
          if (this.mask[sy * this.width + sx]) {
            data[o] = c[0];
            data[o + 1] = c[1];
            data[o + 2] = c[2];
            data[o + 3] = this.alpha;
          } else {
            data[o + 3] = 0;
          }
        }
      }
    }

    redraw() {
      if (!this.image) return;
      this._render(0, 0, this.canvas.width, this.canvas.height);
      this.ctx.putImageData(this.image, 0, 0);
      if (this.polygon.length) {
        const s = this.scale();
        this.ctx.save();
        this.ctx.strokeStyle = "#ffeb3b";
        this.ctx.lineWidth = 2;
        this.ctx.beginPath();
        this.polygon.forEach((p, i) => (i ? this.ctx.lineTo(p[0] * s, p[1] * s) : this.ctx.moveTo(p[0] * s, p[1] * s)));
        this.ctx.stroke();
        for (const p of this.polygon) this.ctx.fillRect(p[0] * s - 2, p[1] * s - 2, 4, 4);
        this.ctx.restore();
      }
      const rect = this.preview || (this.tool === "box" ? this.box() : null);
      if (rect) this._drawBox(rect, !this.preview || !!(this.drag && this.drag.handle));
    }

    // The box's outline (dashed while dragged) and, when it can be resized, its handles.
    _drawBox(rect, handles) {
      const s = this.scale();
      const ctx = this.ctx;
      ctx.save();
      ctx.strokeStyle = "#ffeb3b";
      ctx.lineWidth = 2;
      if (this.preview) ctx.setLineDash([6, 4]);
      ctx.strokeRect(rect[0] * s + 1, rect[1] * s + 1, (rect[2] - rect[0]) * s - 2, (rect[3] - rect[1]) * s - 2);
      ctx.setLineDash([]);
      if (handles) {
        ctx.fillStyle = "#ffeb3b";
        ctx.strokeStyle = "#111";
        ctx.lineWidth = 1;
        for (const name of HANDLES) {
          const h = handlePoint(rect, name);
          ctx.fillRect(h[0] * s - 4, h[1] * s - 4, 8, 8);
          ctx.strokeRect(h[0] * s - 4, h[1] * s - 4, 8, 8);
        }
      }
      ctx.restore();
    }
  }

  const TOOLS = ["brush", "eraser", "polygon", "box"];
  const api = {
    MaskEditor, TOOLS, paintSegment, fillPolygon, fillBox, boxOf, rectBetween, resizeBox,
    upscaleNearest, applyOp,
  };
  if (typeof module !== "undefined" && module.exports) {
    module.exports = api;
  } else {
    root.ReviewMaskEditor = api;
  }
})(typeof self !== "undefined" ? self : this);

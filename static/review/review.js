// Review screen: photo with part and damage overlays, findings list, decisions, mask editor.
// Every decision is a POST that answers with the re-rendered findings fragment
// (`_findings.html`); the lease is renewed by each decision and by a heartbeat while the
// adjuster is active.
(function () {
  "use strict";

  const app = document.getElementById("review-app");
  if (!app) return;
  const config = JSON.parse(document.getElementById("review-data").textContent);
  const R = self.ReviewRle;
  const E = self.ReviewMaskEditor;

  const stage = document.getElementById("stage");
  const photoEl = document.getElementById("photo");
  const partsLayer = document.getElementById("parts-layer");
  const damageLayer = document.getElementById("damage-layer");
  const editLayer = document.getElementById("edit-layer");
  const toolbar = document.getElementById("editor-toolbar");
  const panel = document.getElementById("findings-panel");
  const status = document.getElementById("review-status");
  const shortcuts = new self.ReviewShortcuts.Shortcuts(document.getElementById("help-overlay"));

  const PART_COLORS = [
    [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
    [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
    [174, 199, 232], [255, 187, 120], [152, 223, 138], [255, 152, 150], [197, 176, 213],
    [196, 156, 148], [247, 182, 210], [199, 199, 199], [219, 219, 141], [158, 218, 229],
    [57, 59, 121], [82, 84, 163],
  ];
  const STATE_COLORS = {
    pending: [255, 193, 7], accepted: [76, 175, 80], edited: [33, 150, 243],
    added: [33, 150, 243], rejected: [158, 158, 158], selected: [255, 64, 129],
  };

  let findings = [];
  let selected = null; // finding id (string) or null
  let photoIndex = 0;
  let editor = null;
  let editing = null; // {kind: "edit"|"add", finding, photo}
  const decodedCache = new Map();

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", !!isError);
  }

  function csrf() {
    const m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : config.csrf_token;
  }

  async function post(url, body) {
    const headers = { "X-CSRFToken": csrf(), "HX-Request": "true" };
    let payload = body;
    if (body && !(body instanceof FormData)) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const response = await fetch(url, { method: "POST", headers: headers, body: payload, credentials: "same-origin" });
    const text = await response.text();
    return { ok: response.ok, status: response.status, text: text, response: response };
  }

  // ----- findings panel -----------------------------------------------------------------
  function readFindings() {
    const data = document.getElementById("findings-data");
    findings = data ? JSON.parse(data.textContent) : [];
    if (selected && !findings.some((f) => String(f.id) === selected)) selected = null;
    if (!selected) {
      const next = findings.find((f) => f.state === "pending");
      selected = next ? String(next.id) : findings.length ? String(findings[0].id) : null;
    }
    markSelected();
    drawDamage();
  }

  function current() {
    return findings.find((f) => String(f.id) === selected) || null;
  }

  function markSelected() {
    panel.querySelectorAll("[data-finding-id]").forEach((row) => {
      const on = row.dataset.findingId === selected;
      row.classList.toggle("selected", on);
      row.setAttribute("aria-selected", on ? "true" : "false");
      if (on) row.scrollIntoView({ block: "nearest" });
    });
    const f = current();
    if (f) showPhoto(config.photos.findIndex((p) => p.id === f.photo));
  }

  function select(delta) {
    if (!findings.length) return;
    let i = findings.findIndex((f) => String(f.id) === selected);
    i = Math.min(findings.length - 1, Math.max(0, i + delta));
    selected = String(findings[i].id);
    markSelected();
    drawDamage();
  }

  function nextPending() {
    const i = findings.findIndex((f) => String(f.id) === selected);
    const order = findings.slice(i + 1).concat(findings.slice(0, i + 1));
    const next = order.find((f) => f.state === "pending");
    if (next) {
      selected = String(next.id);
      markSelected();
      drawDamage();
      return true;
    }
    return false;
  }

  async function swapPanel(result) {
    if (!result.ok) {
      let message = result.text;
      try {
        message = JSON.parse(result.text).error || message;
      } catch (_) {
        const doc = new DOMParser().parseFromString(result.text, "text/html");
        const err = doc.querySelector("[data-error]");
        if (err) message = err.textContent.trim();
      }
      say(message || "The server refused the request (" + result.status + ").", true);
      return false;
    }
    panel.innerHTML = result.text;
    if (self.htmx) self.htmx.process(panel);
    readFindings();
    return true;
  }

  // Keys come faster than the server answers. Each action that reads or moves the
  // selection waits for the previous one to land, so "a r" accepts one finding and
  // rejects the next instead of deciding the first one twice.
  let turn = Promise.resolve();
  function inTurn(fn) {
    return (...args) => {
      turn = turn.then(() => fn(...args)).catch((err) => say(String(err), true));
      return turn;
    };
  }

  async function decide(action) {
    if (editor) {
      say("Save (Enter) or cancel (Esc) the edit first.", true);
      return;
    }
    const f = current();
    if (!f) return;
    if (!f.decide_url || (f.kind === "photo" && action !== "accept")) {
      say(f.kind === "photo" ? "Press a to confirm that this photo is unusable." : "Added damages are already decided.", true);
      return;
    }
    const form = new FormData();
    form.append("action", action);
    form.append("supersedes", f.decision == null ? "" : String(f.decision));
    say((action === "accept" ? "Accepting " : "Rejecting ") + f.label + "...");
    const ok = await swapPanel(await post(f.decide_url, form));
    if (ok) {
      say((action === "accept" ? "Accepted " : "Rejected ") + f.label + ".");
      if (!nextPending()) announceDone();
    }
  }

  function announceDone() {
    if (panel.querySelector("[data-ready-to-finish]")) {
      say("Every item is decided. Press f to finish the review (it tells the customer).");
    }
  }

  function finishReview() {
    if (editor) {
      say("Save (Enter) or cancel (Esc) the edit first.", true);
      return;
    }
    const form = document.getElementById("finish-form");
    if (!form) {
      const pending = findings.filter((f) => f.state === "pending").length;
      say(
        panel.querySelector("[data-case-reviewed]")
          ? "This case is already reviewed."
          : pending + " item" + (pending === 1 ? "" : "s") + " still to decide before finishing.",
        true,
      );
      return;
    }
    form.requestSubmit();
  }

  // ----- photo and overlays -------------------------------------------------------------
  function showPhoto(index) {
    if (index < 0 || index >= config.photos.length) return;
    if (index === photoIndex && photoEl.dataset.loaded === "1") return;
    photoIndex = index;
    const p = config.photos[index];
    photoEl.dataset.loaded = "0";
    photoEl.src = p.url;
    photoEl.alt = "Photo " + (index + 1) + " of " + config.photos.length;
    document.querySelectorAll("[data-photo-tab]").forEach((tab) => {
      tab.classList.toggle("active", Number(tab.dataset.photoTab) === index);
    });
    const reason = document.getElementById("photo-set-aside");
    reason.hidden = !p.set_aside;
    reason.textContent = p.set_aside ? "Set aside: " + p.set_aside : "";
    sizeLayers();
  }

  function sizeLayers() {
    const p = config.photos[photoIndex];
    if (!p) return;
    const width = stage.clientWidth;
    const height = Math.round((width * p.height) / p.width);
    stage.style.height = height + "px";
    damageLayer.width = width;
    damageLayer.height = height;
    drawParts();
    drawDamage();
  }

  function decoded(key, rle) {
    if (!decodedCache.has(key)) decodedCache.set(key, R.decode(rle));
    return decodedCache.get(key);
  }

  // Paint a mask (any grid) onto a layer canvas scaled to the layer's size, nearest pixel.
  function paintMask(ctx, m, color, alpha) {
    const small = document.createElement("canvas");
    small.width = m.width;
    small.height = m.height;
    const sctx = small.getContext("2d");
    const img = sctx.createImageData(m.width, m.height);
    for (let i = 0; i < m.mask.length; i++) {
      if (!m.mask[i]) continue;
      const o = i * 4;
      img.data[o] = color[0];
      img.data[o + 1] = color[1];
      img.data[o + 2] = color[2];
      img.data[o + 3] = alpha;
    }
    sctx.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(small, 0, 0, ctx.canvas.width, ctx.canvas.height);
  }

  // The parts overlay is the platform's annotated render (parts faint, damage strong).
  function drawParts() {
    const p = config.photos[photoIndex];
    if (p && p.annotated_url) {
      if (partsLayer.getAttribute("src") !== p.annotated_url) partsLayer.src = p.annotated_url;
    } else {
      partsLayer.removeAttribute("src");
    }
  }

  // A box finding (a detector's box, or a box a person drew) is an outline with its label:
  // its mask is the filled box, which would hide the damage it points at.
  function shapeOf(f) {
    return f.edit_mask ? f.edit_shape : f.shape;
  }

  function strokeBox(ctx, m, box, color, label, thick) {
    const sx = ctx.canvas.width / m.width;
    const sy = ctx.canvas.height / m.height;
    const x = box[0] * sx;
    const y = box[1] * sy;
    const w = (box[2] - box[0]) * sx;
    const h = (box[3] - box[1]) * sy;
    const rgb = "rgb(" + color.join(",") + ")";
    const line = thick ? 4 : 3;
    ctx.save();
    ctx.lineWidth = line;
    ctx.strokeStyle = rgb;
    ctx.strokeRect(x + line / 2, y + line / 2, Math.max(1, w - line), Math.max(1, h - line));
    ctx.font = "600 12px system-ui, sans-serif";
    const textWidth = ctx.measureText(label).width + 8;
    const ty = y >= 18 ? y - 18 : y + line; // above the box, or inside it at the top edge
    ctx.fillStyle = rgb;
    ctx.fillRect(x, ty, textWidth, 18);
    ctx.fillStyle = "#111";
    ctx.textBaseline = "middle";
    ctx.fillText(label, x + 4, ty + 9);
    ctx.restore();
  }

  function drawDamage() {
    const ctx = damageLayer.getContext("2d");
    ctx.clearRect(0, 0, damageLayer.width, damageLayer.height);
    const p = config.photos[photoIndex];
    if (!p) return;
    const boxes = [];
    for (const f of findings) {
      if (f.photo !== p.id || (!f.mask && !f.edit_mask)) continue;
      if (editing && editing.finding && editing.finding.id === f.id) continue;
      const rle = f.edit_mask || f.mask;
      const on = String(f.id) === selected;
      const color = on ? STATE_COLORS.selected : STATE_COLORS[f.state] || STATE_COLORS.pending;
      const key = "finding-" + f.id + "-" + rle.counts.length + "-" + rle.size.join("x");
      const m = decoded(key, rle);
      if (shapeOf(f) === "box") {
        if (!m.box) m.box = R.bbox(m.mask, m.width, m.height);
        if (m.box) boxes.push({ m: m, color: color, on: on, label: f.damage + " / " + f.part });
      } else {
        paintMask(ctx, m, color, 255);
      }
    }
    // Outlines last, the selected one on top, so that masks never cover them.
    boxes.sort((a, b) => Number(a.on) - Number(b.on));
    for (const b of boxes) strokeBox(ctx, b.m, b.m.box, b.color, b.label, b.on);
    damageLayer.dataset.boxes = String(boxes.length);
  }

  function setOpacity() {
    const value = Number(document.getElementById("overlay-opacity").value) / 100;
    partsLayer.style.opacity = String(value * 0.6);
    damageLayer.style.opacity = String(value);
    editLayer.style.opacity = String(Math.max(value, 0.4));
  }

  function toggleLayer(id) {
    const box = document.getElementById(id);
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change"));
  }

  partsLayer.hidden = true;
  document.getElementById("toggle-parts").addEventListener("change", (e) => {
    partsLayer.hidden = !e.target.checked;
  });
  document.getElementById("toggle-damage").addEventListener("change", (e) => {
    damageLayer.hidden = !e.target.checked;
  });
  document.getElementById("overlay-opacity").addEventListener("input", setOpacity);
  document.querySelectorAll("[data-photo-tab]").forEach((tab) => {
    tab.addEventListener("click", () => showPhoto(Number(tab.dataset.photoTab)));
  });
  photoEl.addEventListener("load", () => {
    photoEl.dataset.loaded = "1";
  });
  window.addEventListener("resize", () => {
    sizeLayers();
    if (editor) editor.resize();
  });

  // ----- mask editor --------------------------------------------------------------------
  function openEditor(kind) {
    if (editor) return; // a second e or m queued while the first was opening
    if (panel.querySelector("[data-case-reviewed]")) {
      say("This case is reviewed and read-only; reopen the review (with a reason) to change it.", true);
      return;
    }
    const p = config.photos[photoIndex];
    const f = current();
    if (kind === "edit" && (!f || f.kind === "photo" || !f.mask)) {
      say("Select a finding with a mask to edit it, or press m to add a missed damage.", true);
      return;
    }
    if (kind === "edit" && f.photo !== p.id) showPhoto(config.photos.findIndex((q) => q.id === f.photo));
    const photo = config.photos[photoIndex];
    editing = { kind: kind, finding: kind === "edit" ? f : null, photo: photo };
    editLayer.hidden = false;
    editLayer.style.width = "100%";
    editor = new E.MaskEditor({
      canvas: editLayer,
      width: photo.width,
      height: photo.height,
      onchange: updateToolbar,
    });
    // A box (a detector's finding, or a box drawn before) opens on the box tool, as does a
    // missed damage on a detection version's case; masks open on the brush.
    let shape = "mask";
    if (kind === "edit") {
      const src = f.edit_mask || f.mask;
      const d = R.decode(src);
      // Model masks live in the processed grid; edits are stored at the photo's full size.
      const full = d.width === photo.width && d.height === photo.height
        ? d.mask
        : E.upscaleNearest(d.mask, d.width, d.height, photo.width, photo.height);
      shape = shapeOf(f) || "mask";
      editor.load(full, shape);
    } else {
      editor.load(null);
      if (config.damage_backend === "detection") shape = "box";
    }
    editor.setTool(shape === "box" ? "box" : "brush");
    const damageSel = document.getElementById("editor-damage");
    const partSel = document.getElementById("editor-part");
    damageSel.value = kind === "edit" ? f.damage : config.damage_types[0];
    // parts[0] is "other_panel" (a part not listed): a missed damage starts on a named part
    partSel.value = kind === "edit" ? f.part : (config.parts[1] ?? config.parts[0]);
    toolbar.hidden = false;
    app.classList.add("editing");
    drawDamage();
    shortcuts.push("editor", editorBindings);
    updateToolbar();
    if (shape === "box") {
      say(kind === "edit"
        ? "Editing the box of " + f.label + ": drag a new box, or a handle to resize it. Enter saves, Escape cancels."
        : "Drag a box around the missed damage. Enter saves, Escape cancels.");
    } else {
      say(kind === "edit" ? "Editing the mask of " + f.label + ". Enter saves, Escape cancels." : "Paint the missed damage. Enter saves, Escape cancels.");
    }
  }

  function closeEditor() {
    shortcuts.pop("editor");
    toolbar.hidden = true;
    editLayer.hidden = true;
    app.classList.remove("editing");
    editor = null;
    editing = null;
    drawDamage();
  }

  function updateToolbar() {
    if (!editor) return;
    toolbar.querySelectorAll("[data-tool]").forEach((b) => {
      b.classList.toggle("active", b.dataset.tool === editor.tool);
      b.setAttribute("aria-pressed", b.dataset.tool === editor.tool ? "true" : "false");
    });
    document.getElementById("editor-undo").disabled = !editor.canUndo();
    document.getElementById("editor-redo").disabled = !editor.canRedo();
    document.getElementById("editor-radius").value = String(editor.radiusDisplay);
    document.getElementById("editor-radius").disabled = editor.tool === "box"; // no brush size
    document.getElementById("editor-radius-value").textContent = String(editor.radiusDisplay);
  }

  async function saveEditor() {
    if (!editor) return;
    const area = editor.area();
    if (area === 0 && editing.kind === "add") {
      say("The mask is empty: paint the damage first.", true);
      return;
    }
    const body = {
      mask: editor.toRle(),
      damage_type: document.getElementById("editor-damage").value,
      part: document.getElementById("editor-part").value,
      shape: editor.shape(), // "box": the label records that a box was drawn
    };
    // The decision this correction replaces, as seen here: refused if it changed meanwhile.
    if (editing.kind === "edit") body.supersedes = editing.finding.decision;
    const url = editing.kind === "edit" ? editing.finding.edit_url : editing.photo.add_url;
    say("Saving the " + body.shape + " (" + area + " pixels at " + editing.photo.width + "x" + editing.photo.height + ")...");
    const ok = await swapPanel(await post(url, body));
    if (ok) {
      const wasEdit = editing.kind === "edit";
      closeEditor();
      decodedCache.clear();
      drawDamage();
      say(wasEdit ? "Saved the correction." : "Added the missed damage.");
      if (wasEdit && !nextPending()) announceDone();
    }
  }

  toolbar.querySelectorAll("[data-tool]").forEach((b) => {
    b.addEventListener("click", () => editor && editor.setTool(b.dataset.tool));
  });
  document.getElementById("editor-undo").addEventListener("click", () => editor && editor.undo());
  document.getElementById("editor-redo").addEventListener("click", () => editor && editor.redo());
  document.getElementById("editor-save").addEventListener("click", saveEditor);
  document.getElementById("editor-cancel").addEventListener("click", closeEditor);
  document.getElementById("editor-radius").addEventListener("input", (e) => editor && editor.setRadius(Number(e.target.value)));

  const editorBindings = [
    { keys: ["b"], help: "brush", run: () => editor.setTool("brush") },
    { keys: ["x"], help: "eraser", run: () => editor.setTool("eraser") },
    { keys: ["g"], help: "polygon (click points, click the first point or double-click to close)", run: () => editor.setTool("polygon") },
    { keys: ["w"], help: "box (drag a rectangle; it replaces the mask; drag a handle to resize)", run: () => editor.setTool("box") },
    { keys: ["["], label: "[ / ]", help: "smaller / larger brush", run: () => editor.setRadius(editor.radiusDisplay - 2) },
    { keys: ["]"], run: () => editor.setRadius(editor.radiusDisplay + 2) },
    { keys: ["ctrl+z", "u"], label: "Ctrl+Z / u", help: "undo", run: () => editor.undo() },
    { keys: ["ctrl+shift+z", "ctrl+y", "shift+u"], label: "Ctrl+Y / Shift+U", help: "redo", run: () => editor.redo() },
    { keys: ["t"], help: "change the damage type", run: () => document.getElementById("editor-damage").focus() },
    { keys: ["shift+p"], label: "Shift+P", help: "change the part", run: () => document.getElementById("editor-part").focus() },
    { keys: ["enter", "s"], label: "Enter / s", help: "save the mask", run: () => (editor.tool === "polygon" && editor.polygon.length >= 3 ? editor.closePolygon() : saveEditor()) },
    { keys: ["escape"], label: "Esc", help: "cancel editing", run: closeEditor },
    // Decisions wait until the editor is closed.
    { keys: ["a", "r", "e", "n", "f", "m", "j", "k", "arrowdown", "arrowup"], run: () => say("Save (Enter) or cancel (Esc) the edit first.", true) },
  ];

  // Selects in the toolbar: Enter saves, Escape returns to the canvas.
  for (const id of ["editor-damage", "editor-part"]) {
    document.getElementById(id).addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        saveEditor();
      } else if (e.key === "Escape") {
        e.preventDefault();
        e.target.blur();
      }
    });
  }

  // ----- lease: heartbeat while active, next case ---------------------------------------
  let lastActivity = Date.now();
  let lastBeat = Date.now();
  for (const ev of ["keydown", "pointerdown", "pointermove"]) {
    document.addEventListener(ev, () => {
      lastActivity = Date.now();
    }, { passive: true });
  }
  setInterval(async () => {
    const idle = Date.now() - lastActivity > config.lease_seconds * 500;
    if (idle || Date.now() - lastBeat < config.heartbeat_seconds * 1000) return;
    lastBeat = Date.now();
    const result = await post(config.urls.heartbeat, new FormData());
    if (!result.ok) {
      let message = "Your lease on this case has ended.";
      try {
        message = JSON.parse(result.text).error || message;
      } catch (_) {
        /* keep the default */
      }
      say(message, true);
    }
  }, 5000);

  function decideInTurn(action) {
    return inTurn(() => decide(action));
  }

  function nextCase() {
    if (editor) {
      say("Save (Enter) or cancel (Esc) the edit first.", true);
      return;
    }
    if (findings.some((f) => f.state === "pending") && nextPending()) return;
    if (panel.querySelector("[data-ready-to-finish]")) {
      say("Every item is decided: press f to finish this review before the next case.", true);
      return;
    }
    document.getElementById("next-case-form").submit();
  }

  // ----- page shortcuts -----------------------------------------------------------------
  shortcuts.push("page", [
    { keys: ["a"], help: "accept the selected finding (or confirm a set-aside photo)", run: decideInTurn("accept") },
    { keys: ["r"], help: "reject the selected finding", run: decideInTurn("reject") },
    { keys: ["e"], help: "edit the selected finding's mask, type or part", run: inTurn(() => openEditor("edit")) },
    { keys: ["m"], help: "add a damage the model missed on this photo", run: inTurn(() => openEditor("add")) },
    { keys: ["n"], help: "next: the next undecided finding, then the next case", run: inTurn(nextCase) },
    { keys: ["f"], help: "finish the review once everything is decided", run: inTurn(finishReview) },
    { keys: ["j", "arrowdown"], label: "j / \u2193", help: "select the next finding", run: inTurn(() => select(1)) },
    { keys: ["k", "arrowup"], label: "k / \u2191", help: "select the previous finding", run: inTurn(() => select(-1)) },
    { keys: ["1"], help: "show or hide the parts overlay", run: () => toggleLayer("toggle-parts") },
    { keys: ["2"], help: "show or hide the damage overlay", run: () => toggleLayer("toggle-damage") },
    { keys: ["-"], label: "- / +", help: "overlay opacity", run: () => nudgeOpacity(-10) },
    { keys: ["+", "="], run: () => nudgeOpacity(10) },
    { keys: ["?"], label: "?", help: "show or hide this help", run: () => shortcuts.toggleHelp() },
  ]);

  function nudgeOpacity(delta) {
    const range = document.getElementById("overlay-opacity");
    range.value = String(Math.min(100, Math.max(0, Number(range.value) + delta)));
    setOpacity();
  }

  panel.addEventListener("click", (e) => {
    const button = e.target.closest("[data-action]");
    const row = e.target.closest("[data-finding-id]");
    if (!row && !button) return;
    if (button) e.preventDefault();
    const id = row ? row.dataset.findingId : null;
    const action = button ? button.dataset.action : null;
    inTurn(() => {
      if (id && findings.some((f) => String(f.id) === id)) {
        selected = id;
        markSelected();
        drawDamage();
      }
      if (action === "accept" || action === "reject") return decide(action);
      if (action === "edit") openEditor("edit");
      return undefined;
    })();
  });
  document.getElementById("add-damage").addEventListener("click", () => openEditor("add"));

  setOpacity();
  showPhoto(0);
  readFindings();
  self.reviewApp = {
    get editor() {
      return editor;
    },
    get findings() {
      return findings;
    },
    get selected() {
      return selected;
    },
  };
})();

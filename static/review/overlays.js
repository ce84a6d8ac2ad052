// The photo and its layers: the parts overlay (the model's annotated render), the damage
// overlay (each finding's mask, or its box as an outline, with its number: the number of
// its row in the list and of the model's render), their toggles and opacity.
import { config, shapeOf, state } from "./state.js";

const R = self.ReviewRle;

const stage = document.getElementById("stage");
const photoEl = document.getElementById("photo");
const partsLayer = document.getElementById("parts-layer");
const damageLayer = document.getElementById("damage-layer");
const editLayer = document.getElementById("edit-layer");

const STATE_COLORS = {
  pending: [255, 193, 7], accepted: [76, 175, 80], edited: [33, 150, 243],
  added: [33, 150, 243], rejected: [158, 158, 158], selected: [255, 64, 129],
};

const decodedCache = new Map();

export function clearDecoded() {
  decodedCache.clear();
}

export function photoIndexOf(photoId) {
  return config.photos.findIndex((p) => p.id === photoId);
}

export function showPhoto(index) {
  if (index < 0 || index >= config.photos.length) return;
  if (index === state.photoIndex && photoEl.dataset.loaded === "1") return;
  state.photoIndex = index;
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

export function sizeLayers() {
  const p = config.photos[state.photoIndex];
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
  const p = config.photos[state.photoIndex];
  if (p && p.annotated_url) {
    if (partsLayer.getAttribute("src") !== p.annotated_url) partsLayer.src = p.annotated_url;
  } else {
    partsLayer.removeAttribute("src");
  }
}

// A region's number in a tag at its top-left corner (above it when there is room).
function numberTag(ctx, m, box, color, label, line) {
  const sx = ctx.canvas.width / m.width;
  const sy = ctx.canvas.height / m.height;
  const x = box[0] * sx;
  const y = box[1] * sy;
  ctx.save();
  ctx.font = "600 12px system-ui, sans-serif";
  const textWidth = ctx.measureText(label).width + 8;
  const ty = y >= 18 ? y - 18 : y + line; // above the region, or inside it at the top edge
  ctx.fillStyle = "rgb(" + color.join(",") + ")";
  ctx.fillRect(x, ty, textWidth, 18);
  ctx.fillStyle = "#111";
  ctx.textBaseline = "middle";
  ctx.fillText(label, x + 4, ty + 9);
  ctx.restore();
}

// A box finding is an outline with its number: its mask is the filled box, which would
// hide the damage it points at.
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
  ctx.restore();
  numberTag(ctx, m, box, color, label, line);
}

export function drawDamage() {
  const ctx = damageLayer.getContext("2d");
  ctx.clearRect(0, 0, damageLayer.width, damageLayer.height);
  const p = config.photos[state.photoIndex];
  if (!p) return;
  const boxes = [];
  const tags = [];
  for (const f of state.findings) {
    if (f.photo !== p.id || (!f.mask && !f.edit_mask)) continue;
    // The finding being edited is on the editor's canvas instead.
    if (state.editing && state.editing.finding && state.editing.finding.id === f.id) continue;
    const rle = f.edit_mask || f.mask;
    const on = String(f.id) === state.selected;
    const color = on ? STATE_COLORS.selected : STATE_COLORS[f.state] || STATE_COLORS.pending;
    const key = "finding-" + f.id + "-" + rle.counts.length + "-" + rle.size.join("x");
    const m = decoded(key, rle);
    if (!m.box) m.box = R.bbox(m.mask, m.width, m.height);
    const label = f.number == null ? "" : String(f.number);
    if (shapeOf(f) === "box") {
      if (m.box) boxes.push({ m: m, color: color, on: on, label: label });
    } else {
      paintMask(ctx, m, color, 255);
      if (m.box && label) tags.push({ m: m, color: color, on: on, label: label });
    }
  }
  // Outlines and numbers last, the selected one on top, so that masks never cover them.
  boxes.sort((a, b) => Number(a.on) - Number(b.on));
  tags.sort((a, b) => Number(a.on) - Number(b.on));
  for (const b of boxes) strokeBox(ctx, b.m, b.m.box, b.color, b.label, b.on);
  for (const t of tags) numberTag(ctx, t.m, t.m.box, t.color, t.label, 0);
  damageLayer.dataset.boxes = String(boxes.length);
  // The numbers drawn on this photo, in the order of the list: what the tests read.
  damageLayer.dataset.numbers = state.findings
    .filter((f) => f.photo === p.id && f.number != null && (f.mask || f.edit_mask))
    .map((f) => f.number)
    .join(" ");
}

function setOpacity() {
  const value = Number(document.getElementById("overlay-opacity").value) / 100;
  partsLayer.style.opacity = String(value * 0.6);
  damageLayer.style.opacity = String(value);
  editLayer.style.opacity = String(Math.max(value, 0.4));
}

export function toggleLayer(id) {
  const box = document.getElementById(id);
  box.checked = !box.checked;
  box.dispatchEvent(new Event("change"));
}

export function nudgeOpacity(delta) {
  const range = document.getElementById("overlay-opacity");
  range.value = String(Math.min(100, Math.max(0, Number(range.value) + delta)));
  setOpacity();
}

/** Wires the layer controls and shows the first photo. */
export function initOverlays() {
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
  setOpacity();
  showPhoto(0);
}

// Correcting a finding's mask, type or part, or adding a damage the model missed, with the
// mask editor (mask-editor.js) over the photo; saving posts the mask as JSON.
import { errorMessage, post } from "./api.js";
import { clearDecoded, drawDamage, photoIndexOf, showPhoto } from "./overlays.js";
import { nextPending } from "./selection.js";
import { app, config, current, panel, say, shapeOf, state } from "./state.js";

const R = self.ReviewRle;
const E = self.ReviewMaskEditor;

const editLayer = document.getElementById("edit-layer");
const toolbar = document.getElementById("editor-toolbar");

let shortcuts = null;
let onSaved = () => {};

export function openEditor(kind) {
  if (state.editor) return; // a second e or m queued while the first was opening
  if (panel.querySelector("[data-case-reviewed]")) {
    say("This case is reviewed and read-only; reopen the review (with a reason) to change it.", true);
    return;
  }
  const p = config.photos[state.photoIndex];
  const f = current();
  if (kind === "edit" && (!f || f.kind === "photo" || !f.mask || !f.edit_url)) {
    say("Select a finding with a mask to edit it, or press m to add a missed damage.", true);
    return;
  }
  if (kind === "edit" && f.photo !== p.id) showPhoto(photoIndexOf(f.photo));
  const photo = config.photos[state.photoIndex];
  state.editing = { kind: kind, finding: kind === "edit" ? f : null, photo: photo };
  editLayer.hidden = false;
  editLayer.style.width = "100%";
  const editor = new E.MaskEditor({
    canvas: editLayer,
    width: photo.width,
    height: photo.height,
    onchange: updateToolbar,
  });
  state.editor = editor;
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

export function closeEditor() {
  shortcuts.pop("editor");
  toolbar.hidden = true;
  editLayer.hidden = true;
  app.classList.remove("editing");
  state.editor = null;
  state.editing = null;
  drawDamage();
}

function updateToolbar() {
  const editor = state.editor;
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
  const editor = state.editor;
  if (!editor) return;
  const editing = state.editing;
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
  // The toolbar carries hx-ext="review-json": the body is one JSON object.
  const result = await post(url, { source: toolbar, target: panel, values: body, json: true });
  if (!result.ok) {
    say(errorMessage(result), true);
    return;
  }
  const wasEdit = editing.kind === "edit";
  closeEditor();
  clearDecoded();
  drawDamage();
  say(wasEdit ? "Saved the correction." : "Added the missed damage.");
  if (wasEdit && !nextPending()) onSaved();
}

const editorBindings = [
  { keys: ["b"], help: "brush", run: () => state.editor.setTool("brush") },
  { keys: ["x"], help: "eraser", run: () => state.editor.setTool("eraser") },
  { keys: ["g"], help: "polygon (click points, click the first point or double-click to close)", run: () => state.editor.setTool("polygon") },
  { keys: ["w"], help: "box (drag a rectangle; it replaces the mask; drag a handle to resize)", run: () => state.editor.setTool("box") },
  { keys: ["["], label: "[ / ]", help: "smaller / larger brush", run: () => state.editor.setRadius(state.editor.radiusDisplay - 2) },
  { keys: ["]"], run: () => state.editor.setRadius(state.editor.radiusDisplay + 2) },
  { keys: ["ctrl+z", "u"], label: "Ctrl+Z / u", help: "undo", run: () => state.editor.undo() },
  { keys: ["ctrl+shift+z", "ctrl+y", "shift+u"], label: "Ctrl+Y / Shift+U", help: "redo", run: () => state.editor.redo() },
  { keys: ["t"], help: "change the damage type", run: () => document.getElementById("editor-damage").focus() },
  { keys: ["shift+p"], label: "Shift+P", help: "change the part", run: () => document.getElementById("editor-part").focus() },
  { keys: ["enter", "s"], label: "Enter / s", help: "save the mask", run: () => (state.editor.tool === "polygon" && state.editor.polygon.length >= 3 ? state.editor.closePolygon() : saveEditor()) },
  { keys: ["escape"], label: "Esc", help: "cancel editing", run: closeEditor },
  // Decisions wait until the editor is closed.
  { keys: ["a", "r", "e", "n", "f", "m", "j", "k", "arrowdown", "arrowup"], run: () => say("Save (Enter) or cancel (Esc) the edit first.", true) },
];

/**
 * Wires the toolbar. `keys` is the page's shortcuts (the editor's bindings shadow them
 * while it is open); `done` runs when a saved correction leaves nothing to decide.
 */
export function initEditing(keys, done) {
  shortcuts = keys;
  onSaved = done;
  toolbar.querySelectorAll("[data-tool]").forEach((b) => {
    b.addEventListener("click", () => state.editor && state.editor.setTool(b.dataset.tool));
  });
  document.getElementById("editor-undo").addEventListener("click", () => state.editor && state.editor.undo());
  document.getElementById("editor-redo").addEventListener("click", () => state.editor && state.editor.redo());
  document.getElementById("editor-save").addEventListener("click", saveEditor);
  document.getElementById("editor-cancel").addEventListener("click", closeEditor);
  document.getElementById("editor-radius").addEventListener("input", (e) => state.editor && state.editor.setRadius(Number(e.target.value)));
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
}

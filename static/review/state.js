// What the review screen knows, shared by its modules: the page's data (json_script
// "review-data"), the findings of the panel, the selected one and the open mask edit.
export const app = document.getElementById("review-app");
export const panel = document.getElementById("findings-panel");
const data = document.getElementById("review-data");
export const config = data ? JSON.parse(data.textContent) : null;

export const state = {
  findings: [],
  selected: null, // finding id (string) or null
  photoIndex: 0,
  editor: null, // the open ReviewMaskEditor.MaskEditor, or null
  editing: null, // {kind: "edit"|"add", finding, photo} while the editor is open
};

const status = document.getElementById("review-status");

export function say(text, isError) {
  status.textContent = text;
  status.classList.toggle("error", !!isError);
}

export function current() {
  return state.findings.find((f) => String(f.id) === state.selected) || null;
}

// The shape a finding is drawn and edited as: a box (a detector's box, or a box a person
// drew) or a mask.
export function shapeOf(f) {
  return f.edit_mask ? f.edit_shape : f.shape;
}

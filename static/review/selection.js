// The findings panel: its findings (json_script "findings-data" in `_findings.html`),
// which one is selected, and moving the selection.
import { drawDamage, photoIndexOf, showPhoto } from "./overlays.js";
import { current, panel, say, state } from "./state.js";

export function readFindings() {
  const data = document.getElementById("findings-data");
  state.findings = data ? JSON.parse(data.textContent) : [];
  const findings = state.findings;
  if (state.selected && !findings.some((f) => String(f.id) === state.selected)) state.selected = null;
  if (!state.selected) {
    const next = findings.find((f) => f.state === "pending");
    state.selected = next ? String(next.id) : findings.length ? String(findings[0].id) : null;
  }
  markSelected();
  drawDamage();
}

function markSelected() {
  panel.querySelectorAll("[data-finding-id]").forEach((row) => {
    const on = row.dataset.findingId === state.selected;
    row.classList.toggle("selected", on);
    if (on) row.setAttribute("aria-current", "true");
    else row.removeAttribute("aria-current");
    if (on) row.scrollIntoView({ block: "nearest" });
  });
  const f = current();
  if (f) showPhoto(photoIndexOf(f.photo));
}

function selectId(id) {
  state.selected = id;
  markSelected();
  drawDamage();
}

/** Selects the finding with this row id, if the panel lists it. */
export function selectRow(id) {
  if (id && state.findings.some((f) => String(f.id) === id)) selectId(id);
}

export function select(delta) {
  const findings = state.findings;
  if (!findings.length) return;
  let i = findings.findIndex((f) => String(f.id) === state.selected);
  i = Math.min(findings.length - 1, Math.max(0, i + delta));
  selectId(String(findings[i].id));
}

/** Selects the next undecided finding after the selected one; false if none is left. */
export function nextPending() {
  const findings = state.findings;
  const i = findings.findIndex((f) => String(f.id) === state.selected);
  const order = findings.slice(i + 1).concat(findings.slice(0, i + 1));
  const next = order.find((f) => f.state === "pending");
  if (next) {
    selectId(String(next.id));
    return true;
  }
  return false;
}

export function pendingCount() {
  return state.findings.filter((f) => f.state === "pending").length;
}

// Keys come faster than the server answers. htmx sends the requests in order (hx-sync on
// #review-app), but which finding a key acts on is only known once the answer before it
// has moved the selection: each action that reads or moves the selection starts when the
// previous one has finished, so "a r" accepts one finding and rejects the next instead of
// deciding the first one twice.
let turn = Promise.resolve();
export function inTurn(fn) {
  return (...args) => {
    turn = turn.then(() => fn(...args)).catch((err) => say(String(err), true));
    return turn;
  };
}

/** Re-reads the findings whenever htmx swaps a new panel in. */
export function initSelection() {
  panel.addEventListener("htmx:afterSwap", (evt) => {
    if (evt.target === panel) readFindings();
  });
  readFindings();
}

// Review screen: photo with part and damage overlays, findings list, decisions, mask editor.
// Every decision is a POST that answers with the re-rendered findings fragment
// (`_findings.html`), which htmx swaps into the panel; the lease is renewed by each
// decision and by a heartbeat while the adjuster is active.
//
// api.js: requests (htmx) · overlays.js: photo and layers · selection.js: findings and the
// selected one · editing.js: the mask editor · lease.js: heartbeat. This module: decisions,
// next case, finish, and the keyboard.
import { errorMessage, post } from "./api.js";
import { initEditing, openEditor } from "./editing.js";
import { initLease } from "./lease.js";
import { initOverlays, nudgeOpacity, sizeLayers, toggleLayer } from "./overlays.js";
import { initSelection, inTurn, nextPending, pendingCount, select, selectRow } from "./selection.js";
import { app, current, panel, say, state } from "./state.js";

const EDITING = "Save (Enter) or cancel (Esc) the edit first.";

async function decide(action) {
  if (state.editor) {
    say(EDITING, true);
    return;
  }
  const f = current();
  if (!f) return;
  if (f.kind === "added") return removeAdded(f, action);
  if (!f.decide_url || (f.kind === "photo" && action !== "accept")) {
    say("Press a to confirm that this photo is unusable.", true);
    return;
  }
  const values = { action: action, supersedes: f.decision == null ? "" : String(f.decision) };
  say((action === "accept" ? "Accepting " : "Rejecting ") + f.label + "...");
  const result = await post(f.decide_url, { source: panel, target: panel, values: values });
  if (!result.ok) {
    say(errorMessage(result), true);
    return;
  }
  say((action === "accept" ? "Accepted " : "Rejected ") + f.label + ".");
  if (!nextPending()) announceDone();
}

// An added damage is kept as drawn: r removes it (e redraws, re-types or moves it).
async function removeAdded(f, action) {
  if (action !== "reject" || !f.remove_url) {
    say("An added damage counts as kept: press e to redraw, re-type or move it, r to remove it.", true);
    return;
  }
  say("Removing " + f.label + "...");
  const result = await post(f.remove_url, { source: panel, target: panel, values: {} });
  if (!result.ok) {
    say(errorMessage(result), true);
    return;
  }
  say("Removed " + f.label + "; the audit trail keeps it.");
}

function announceDone() {
  if (panel.querySelector("[data-ready-to-finish]")) {
    say("Every item is decided. Press f to finish the review (it tells the customer).");
  }
}

function finishReview() {
  if (state.editor) {
    say(EDITING, true);
    return;
  }
  const form = document.getElementById("finish-form");
  if (!form) {
    const pending = pendingCount();
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

function nextCase() {
  if (state.editor) {
    say(EDITING, true);
    return;
  }
  if (pendingCount() && nextPending()) return;
  if (panel.querySelector("[data-ready-to-finish]")) {
    say("Every item is decided: press f to finish this review before the next case.", true);
    return;
  }
  document.getElementById("next-case-form").submit();
}

function decideInTurn(action) {
  return inTurn(() => decide(action));
}

if (app) {
  const shortcuts = new self.ReviewShortcuts.Shortcuts(document.getElementById("help-overlay"));
  initOverlays();
  initEditing(shortcuts, announceDone);

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

  panel.addEventListener("click", (e) => {
    const button = e.target.closest("[data-action]");
    const row = e.target.closest("[data-finding-id]");
    if (!row && !button) return;
    if (button) e.preventDefault();
    const id = row ? row.dataset.findingId : null;
    const action = button ? button.dataset.action : null;
    inTurn(() => {
      selectRow(id);
      if (action === "accept" || action === "reject") return decide(action);
      if (action === "edit") openEditor("edit");
      return undefined;
    })();
  });
  document.getElementById("add-damage").addEventListener("click", () => openEditor("add"));
  window.addEventListener("resize", () => {
    sizeLayers();
    if (state.editor) state.editor.resize();
  });

  initLease();
  initSelection();
  self.reviewApp = {
    get editor() {
      return state.editor;
    },
    get findings() {
      return state.findings;
    },
    get selected() {
      return state.selected;
    },
  };
}

// Queue page: j / k move the selection, Enter claims the selected case, n claims the next.
(function () {
  "use strict";
  const page = document.getElementById("queue-page");
  if (!page) return;
  const shortcuts = new self.ReviewShortcuts.Shortcuts(document.getElementById("help-overlay"));
  let index = 0;

  function rows() {
    return Array.from(document.querySelectorAll(".queue-row"));
  }

  function mark() {
    const all = rows();
    index = Math.max(0, Math.min(index, all.length - 1));
    all.forEach((row, i) => row.classList.toggle("selected", i === index));
    if (all[index]) all[index].scrollIntoView({ block: "nearest" });
  }

  function claim() {
    const row = rows()[index];
    if (!row) return;
    const form = row.querySelector("form");
    if (form) form.submit();
  }

  shortcuts.push("queue", [
    { keys: ["n"], help: "claim the next free case (lowest confidence first)", run: () => document.getElementById("next-case-form").submit() },
    { keys: ["j", "arrowdown"], label: "j / \u2193", help: "select the next case", run: () => { index++; mark(); } },
    { keys: ["k", "arrowup"], label: "k / \u2191", help: "select the previous case", run: () => { index--; mark(); } },
    { keys: ["enter", "c"], label: "Enter / c", help: "claim the selected case", run: claim },
    { keys: ["?"], label: "?", help: "show or hide this help", run: () => shortcuts.toggleHelp() },
  ]);
  document.body.addEventListener("htmx:afterSwap", () => {
    index = 0;
    mark();
  });
  mark();
})();

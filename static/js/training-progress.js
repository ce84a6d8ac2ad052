// Training run page: polls the run's progress document (JSON) every few seconds and fills
// in the epoch, step, loss, validation figures, time left, the log tail and, once the run
// is done, the link to its candidate. Stops polling when the run is finished.
(function () {
  "use strict";
  const page = document.getElementById("training-run");
  if (!page) return;
  const url = page.dataset.progressUrl;
  const EVERY_MS = 3000;

  function text(id, value) {
    const el = document.getElementById(id);
    if (el && el.textContent !== value) el.textContent = value;
  }

  function figure(value, digits) {
    return typeof value === "number" && isFinite(value) ? value.toFixed(digits) : "–";
  }

  function render(doc) {
    const p = doc.progress || {};
    text("run-status", doc.status_display);
    text("progress-phase", p.phase || doc.status);
    text("progress-epoch", (p.epoch || 0) + " / " + (p.epochs || "?"));
    text("progress-step", (p.step || 0) + " / " + (p.steps || "?"));
    text("progress-loss", figure(p.train_loss, 4));
    const validation = p.validation || {};
    const parts = Object.keys(validation).map((k) => k + " " + figure(validation[k], 3));
    text("progress-validation", parts.length ? parts.join(" · ") : "–");
    let time = Math.round(p.seconds_elapsed || 0) + " s elapsed";
    if (typeof p.seconds_left === "number" && !doc.finished) time += ", about " + Math.round(p.seconds_left) + " s left";
    text("progress-time", time);
    const resumed = document.getElementById("progress-resumed");
    if (resumed && p.resumed_from_epoch) {
      resumed.hidden = false;
      resumed.textContent = "Resumed after epoch " + p.resumed_from_epoch + " (attempt " + doc.attempts + "): a worker stopped and the run continued from its last checkpoint.";
    }
    const error = document.getElementById("run-error");
    if (error) { error.hidden = !doc.error; error.textContent = doc.error || ""; }
    const log = document.getElementById("run-log");
    if (log && log.textContent !== doc.log_tail) {
      const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.textContent = doc.log_tail;
      if (atEnd) log.scrollTop = log.scrollHeight;
    }
    const candidate = document.getElementById("run-candidate");
    if (candidate && doc.candidate) {
      const link = candidate.querySelector("a");
      link.href = doc.candidate.url;
      link.textContent = doc.candidate.name;
      candidate.hidden = false;
    }
    if (doc.status !== "queued") {
      // "Training run N is queued" (the message after starting it) is no longer true.
      document.querySelectorAll(".messages li.run-queued").forEach((li) => {
        const list = li.parentElement;
        li.remove();
        if (list && !list.children.length) list.remove();
      });
    }
    const cancel = document.getElementById("cancel-form");
    if (cancel && doc.finished) cancel.hidden = true;
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((doc) => {
        render(doc);
        if (!doc.finished) window.setTimeout(poll, EVERY_MS);
      })
      .catch(() => window.setTimeout(poll, EVERY_MS * 3));
  }

  if (page.dataset.finished !== "true") window.setTimeout(poll, EVERY_MS);
})();

// The lease on the case: a heartbeat renews it while the adjuster is active (each decision
// renews it too, on the server); an idle adjuster lets it run out.
import { post } from "./api.js";
import { app, config, panel, say } from "./state.js";

export function initLease() {
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
    if (panel.querySelector("[data-case-reviewed]")) return; // finished: nothing to hold
    lastBeat = Date.now();
    // The answer (the lease fragment) is not shown: only a refusal matters here.
    const result = await post(config.urls.heartbeat, { source: app, swap: "none" });
    if (result.status === 0) return; // no answer (offline): the next beat tries again
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
}

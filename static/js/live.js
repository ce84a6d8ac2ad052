// Case page: when the server has a shared channel layer, a WebSocket push triggers the same
// htmx refresh that polling does, and polling pauses while the socket is open
// (window.casePushOpen, read by the hx-trigger filter). Pushes that arrive during a refresh
// are not lost: one more refresh follows it.
(function () {
  "use strict";
  let inFlight = false;
  let pending = false;

  function refresh() {
    const current = document.getElementById("case-body");
    if (!current || !window.htmx) return;
    if (inFlight) {
      pending = true;
      return;
    }
    window.htmx.trigger(current, "case-updated");
  }

  document.addEventListener("htmx:beforeRequest", (event) => {
    if (event.target.id === "case-body") inFlight = true;
  });
  document.addEventListener("htmx:afterSettle", () => {
    inFlight = false;
    if (pending) {
      pending = false;
      refresh();
    }
  });
  document.addEventListener("htmx:responseError", () => {
    inFlight = false;
  });
  document.addEventListener("htmx:sendError", () => {
    inFlight = false;
  });

  function connect() {
    const body = document.getElementById("case-body");
    if (!body || !body.dataset.ws || !("WebSocket" in window)) return;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + body.dataset.ws);
    socket.onopen = () => {
      window.casePushOpen = true;
      refresh(); // catch up on anything that changed before the socket opened
    };
    socket.onmessage = refresh;
    socket.onclose = () => {
      window.casePushOpen = false; // polling takes over until the socket is back
      setTimeout(connect, 5000);
    };
  }
  document.addEventListener("DOMContentLoaded", connect);
})();

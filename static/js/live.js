// Case page: a WebSocket push (when the server has a shared channel layer) triggers the same
// htmx refresh that polling does; polling stays the fallback.
(function () {
  "use strict";
  function connect() {
    const body = document.getElementById("case-body");
    if (!body || !body.dataset.ws || !("WebSocket" in window)) return;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + body.dataset.ws);
    socket.onmessage = () => {
      const current = document.getElementById("case-body");
      if (current && window.htmx) window.htmx.trigger(current, "case-updated");
    };
    socket.onclose = () => setTimeout(connect, 5000);
  }
  document.addEventListener("DOMContentLoaded", connect);
})();

// Photos over the size limit are refused in the browser before the form is sent: a 183 MB
// photo took over 10 s to upload only for the server to refuse it. Every file input with
// data-max-bytes is checked when its form is submitted; a file over the limit stops the
// submission and says so beside the input (role="alert"), naming the file, its size and
// the limit. The server checks again (claims.uploads); this only saves the wait.
(function () {
  "use strict";

  function mb(bytes) {
    const value = bytes / (1024 * 1024);
    return value >= 10 || Number.isInteger(value) ? String(Math.round(value)) : value.toFixed(1);
  }

  function clear(input) {
    const next = input.closest("label, .dropzone, p") || input;
    const old = next.parentElement && next.parentElement.querySelector("[data-upload-refused]");
    if (old) old.remove();
  }

  function refuse(input, files, limit) {
    clear(input);
    const message = document.createElement("p");
    message.className = "error upload-refused";
    message.dataset.uploadRefused = "";
    message.setAttribute("role", "alert");
    const names = files.map((f) => f.name + " is " + mb(f.size) + " MB").join("; ");
    message.textContent =
      names + "; a photo can be at most " + mb(limit) + " MB. Nothing was sent: choose a " +
      "smaller photo and send again.";
    const after = input.closest("label, .dropzone, p") || input;
    after.insertAdjacentElement("afterend", message);
    input.focus();
  }

  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target;
      for (const input of form.querySelectorAll("input[type=file][data-max-bytes]")) {
        const limit = Number(input.dataset.maxBytes);
        const over = Array.from(input.files || []).filter((f) => f.size > limit);
        if (over.length) {
          event.preventDefault();
          event.stopImmediatePropagation();
          refuse(input, over, limit);
          return;
        }
      }
    },
    true,
  );
  document.addEventListener("change", (event) => {
    if (event.target.matches && event.target.matches("input[type=file][data-max-bytes]")) clear(event.target);
  });
})();

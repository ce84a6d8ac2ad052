// Requests of the review screen, made by htmx (loaded on every page by base.html).
//
// Every request comes from an element inside #review-app, whose hx-sync="this:queue all"
// makes htmx send them one at a time, in the order they were made: a heartbeat never
// races a decision. A decision, a correction or an added damage answers with the
// re-rendered findings fragment (`_findings.html`), which htmx swaps into the panel; an
// error answer (a 409 when the decision changed meanwhile, a lost lease, a refused mask)
// is not swapped, and its message is shown instead.
const htmx = window.htmx;

// Corrections and added damages are JSON (the mask is an object). htmx sends form fields,
// so `post(..., {json: true})` passes each value JSON-encoded and this extension, on the
// element that sends them (hx-ext="review-json"), turns the fields back into one object.
htmx.defineExtension("review-json", {
  onEvent(name, evt) {
    if (name === "htmx:configRequest") evt.detail.headers["Content-Type"] = "application/json";
    return true;
  },
  encodeParameters(xhr, parameters) {
    const body = {};
    parameters.forEach((value, key) => {
      body[key] = JSON.parse(value);
    });
    return JSON.stringify(body);
  },
});

function csrf() {
  // The cookie, as before; without it htmx sends the page's token (hx-headers on <body>).
  const m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : null;
}

/**
 * POST `values` to `url` from `source`, swapping a success answer into `target`.
 *
 * Resolves, once the answer is handled (swapped or not), to {ok, status, text}; a request
 * htmx holds back behind another one resolves when it has been sent and answered.
 */
export function post(url, { source, target, swap = "innerHTML", values = {}, json = false }) {
  const fields = {};
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined) fields[key] = json ? JSON.stringify(value) : value;
  }
  const headers = {};
  const token = csrf();
  if (token) headers["X-CSRFToken"] = token;
  // The event names this request, so that its answer is told from the others' answers.
  const request = new CustomEvent("review:request");
  return new Promise((resolve) => {
    function answered(evt) {
      if (evt.detail.requestConfig?.triggeringEvent !== request) return;
      document.removeEventListener("htmx:afterRequest", answered);
      const xhr = evt.detail.xhr;
      resolve({ ok: xhr.status >= 200 && xhr.status < 300, status: xhr.status, text: xhr.responseText });
    }
    document.addEventListener("htmx:afterRequest", answered);
    // htmx's own promise settles early for a queued request and rejects on a network
    // error, which the answer above already reports.
    htmx.ajax("POST", url, { source, target, swap, values: fields, headers, event: request }).catch(() => {});
  });
}

/** The message of an error answer: JSON's `error`, or the `_error.html` fragment's text. */
export function errorMessage(result) {
  if (result.status === 0) return "The server did not answer; check the connection and try again.";
  let message = result.text;
  try {
    message = JSON.parse(result.text).error || message;
  } catch (_) {
    const doc = new DOMParser().parseFromString(result.text, "text/html");
    const err = doc.querySelector("[data-error]");
    if (err) message = err.textContent.trim();
  }
  return message || "The server refused the request (" + result.status + ").";
}

// Forms that create things carry a submission key (claims.submissions). When the person
// sends one, its key is marked as theirs (assigned by script, which a browser treats as
// typed), so that Back, which may load the form again from the server with a new key,
// gets the sent key back with the other fields and files: sent again, the form then
// answers with the claim it already filed instead of filing a second one.
(function () {
  "use strict";
  document.addEventListener(
    "submit",
    (event) => {
      const key = event.target.querySelector("input[name=submission_key]");
      if (!key) return;
      const sent = key.value;
      key.defaultValue = ""; // a browser keeps a field's value only when it differs
      key.value = sent;
    },
    true,
  );
})();

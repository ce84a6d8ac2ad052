// Claim form: drag and drop, thumbnails and early checks of the chosen photos.
(function () {
  "use strict";
  const script = document.currentScript;
  const maxPhotos = Number(script.dataset.max || 30);
  const maxBytes = Number(script.dataset.maxMb || 25) * 1024 * 1024;
  const input = document.getElementById("photos");
  const zone = document.getElementById("dropzone");
  const list = document.getElementById("thumbs");
  if (!input || !zone || !list) return;
  const accepted = ["image/jpeg", "image/png", "image/webp", "image/heic", "image/heif"];

  function render() {
    list.replaceChildren();
    const files = Array.from(input.files);
    files.forEach((file, i) => {
      const li = document.createElement("li");
      const problems = [];
      if (file.type && !accepted.includes(file.type)) problems.push("not a JPEG, PNG, WebP or HEIC photo");
      if (file.size > maxBytes) problems.push("larger than the limit");
      if (i >= maxPhotos) problems.push(`more than ${maxPhotos} photos`);
      if (file.type && file.type.startsWith("image/") && file.type !== "image/heic") {
        const img = document.createElement("img");
        img.alt = file.name;
        img.src = URL.createObjectURL(file);
        img.onload = () => URL.revokeObjectURL(img.src);
        li.append(img);
      }
      const caption = document.createElement("span");
      caption.textContent = file.name + (problems.length ? " - " + problems.join(", ") : "");
      if (problems.length) li.classList.add("error");
      li.append(caption);
      list.append(li);
    });
  }

  input.addEventListener("change", render);
  ["dragenter", "dragover"].forEach((name) =>
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    }),
  );
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    const merged = new DataTransfer();
    Array.from(input.files).forEach((f) => merged.items.add(f));
    Array.from(event.dataTransfer.files).forEach((f) => merged.items.add(f));
    input.files = merged.files;
    render();
  });
  // Enter or Space on the drop zone opens the file chooser. Space on the file input itself
  // is the browser's own; Enter there is ours too (the browser does nothing with it).
  zone.addEventListener("keydown", (event) => {
    const onInput = event.target === input;
    if (event.key === "Enter" || (event.key === " " && !onInput)) {
      event.preventDefault(); // else Enter goes on to the form, and Space scrolls the page
      input.click();
    }
  });
})();

// Case page: hovering, focusing or tapping a report row outlines its damage on the photos
// it names. A row carries data-regions (JSON: [{photo, number, box: [x0, y0, x1, y1]}], the
// box as fractions of the photo); a photo's <li> carries data-photo (its number) and
// data-photo-width/-height (the photo's size: an annotated photo has a legend strip under
// the photo, so the photo part's height comes from the photo's proportions, not the image).
// The page part holding this script is swapped by htmx: listeners are added once, on the
// document, and find the current rows and photos when they fire.
(function () {
  "use strict";
  if (window.reportHighlightReady) return;
  window.reportHighlightReady = true;

  let current = null;

  function clear() {
    document.querySelectorAll(".report-highlight").forEach((el) => el.remove());
    document.querySelectorAll("tr.is-highlighted").forEach((tr) => tr.classList.remove("is-highlighted"));
    current = null;
  }

  function regionsOf(row) {
    try {
      const regions = JSON.parse(row.dataset.regions || "[]");
      return Array.isArray(regions) ? regions : [];
    } catch (error) {
      return [];
    }
  }

  const SVG = "http://www.w3.org/2000/svg";

  function svg(tag, attributes) {
    const el = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) el.setAttribute(name, String(value));
    return el;
  }

  // One frame over the photo part of a figure (not its legend strip): the photo dimmed
  // outside the regions (an SVG mask, so overlapping regions stay clear), then each
  // region's outline and number.
  function frameOver(figure, img, width, height, regions, key) {
    const shown = img.getBoundingClientRect();
    const box = figure.getBoundingClientRect();
    const w = shown.width;
    const h = (shown.width * height) / width; // the photo part, above any legend strip
    const frame = document.createElement("div");
    frame.className = "report-highlight";
    frame.setAttribute("aria-hidden", "true");
    frame.style.left = `${shown.left - box.left - figure.clientLeft}px`;
    frame.style.top = `${shown.top - box.top - figure.clientTop}px`;
    frame.style.width = `${w}px`;
    frame.style.height = `${h}px`;
    const dim = svg("svg", { class: "report-highlight-dim", width: w, height: h });
    const mask = svg("mask", { id: `report-highlight-mask-${key}` });
    mask.appendChild(svg("rect", { x: 0, y: 0, width: w, height: h, fill: "white" }));
    const marks = [];
    for (const region of regions) {
      const [x0, y0, x1, y1] = region.box.map(Number);
      const rect = {
        x: x0 * w,
        y: y0 * h,
        width: Math.max(0, x1 - x0) * w,
        height: Math.max(0, y1 - y0) * h,
      };
      mask.appendChild(svg("rect", { ...rect, fill: "black" }));
      const mark = document.createElement("div");
      mark.className = "report-highlight-region";
      mark.dataset.photo = String(region.photo);
      if (region.number) mark.dataset.number = String(region.number);
      mark.style.left = `${rect.x}px`;
      mark.style.top = `${rect.y}px`;
      mark.style.width = `${rect.width}px`;
      mark.style.height = `${rect.height}px`;
      marks.push(mark);
    }
    const defs = svg("defs", {});
    defs.appendChild(mask);
    dim.appendChild(defs);
    dim.appendChild(
      svg("rect", { x: 0, y: 0, width: w, height: h, mask: `url(#${mask.id})`, class: "shade" }),
    );
    frame.appendChild(dim);
    marks.forEach((mark) => frame.appendChild(mark));
    figure.appendChild(frame);
  }

  function show(row) {
    clear();
    current = row;
    row.classList.add("is-highlighted");
    const byPhoto = new Map();
    for (const region of regionsOf(row)) {
      if (!region || !Array.isArray(region.box) || region.box.length !== 4) continue;
      const number = Number(region.photo);
      if (!byPhoto.has(number)) byPhoto.set(number, []);
      byPhoto.get(number).push(region);
    }
    for (const [number, regions] of byPhoto) {
      const figure = document.querySelector(`.photo-grid [data-photo="${number}"]`);
      const img = figure && figure.querySelector("img");
      const width = figure ? Number(figure.dataset.photoWidth) : 0;
      const height = figure ? Number(figure.dataset.photoHeight) : 0;
      if (img && width && height) frameOver(figure, img, width, height, regions, number);
    }
  }

  function rowOf(target) {
    return target instanceof Element ? target.closest("tr[data-regions]") : null;
  }

  document.addEventListener("mouseover", (event) => {
    const row = rowOf(event.target);
    if (row && row !== current) show(row);
  });
  document.addEventListener("mouseout", (event) => {
    const row = rowOf(event.target);
    if (!row || row.contains(event.relatedTarget)) return;
    if (document.activeElement && row.contains(document.activeElement)) return;
    if (row === current) clear();
  });
  // Keyboard focus, and a tap on a touch screen (which focuses the row: tabindex="0").
  document.addEventListener("focusin", (event) => {
    const row = rowOf(event.target);
    if (row && row !== current) show(row);
  });
  document.addEventListener("focusout", (event) => {
    const row = rowOf(event.target);
    if (row && row === current && !row.contains(event.relatedTarget)) clear();
  });
  window.addEventListener("resize", () => {
    if (current && current.isConnected) show(current);
    else clear();
  });
})();

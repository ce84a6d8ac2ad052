// Compact mask encoding shared with review/rle.py: COCO compressed RLE.
// A mask is a row-major Uint8Array (1 = inside) of width x height, as canvas pixels are;
// the runs are taken in column-major order, as COCO and pycocotools expect.
(function (root) {
  "use strict";

  function runsFromMask(mask, width, height) {
    const runs = [];
    let current = 0;
    let run = 0;
    for (let x = 0; x < width; x++) {
      for (let i = x; i < width * height; i += width) {
        const v = mask[i] ? 1 : 0;
        if (v === current) {
          run++;
        } else {
          runs.push(run);
          current = v;
          run = 1;
        }
      }
    }
    runs.push(run);
    return runs;
  }

  function countsToString(runs) {
    const out = [];
    for (let i = 0; i < runs.length; i++) {
      // Numbers stay below 2^53, so plain arithmetic replaces 32-bit shifts.
      let x = i > 2 ? runs[i] - runs[i - 2] : runs[i];
      let more = true;
      while (more) {
        let c = ((x % 32) + 32) % 32;
        x = Math.floor(x / 32);
        more = c & 0x10 ? x !== -1 : x !== 0;
        if (more) c |= 0x20;
        out.push(String.fromCharCode(c + 48));
      }
    }
    return out.join("");
  }

  function stringToCounts(s) {
    const runs = [];
    let p = 0;
    while (p < s.length) {
      let x = 0;
      let k = 0;
      let more = true;
      while (more) {
        if (p >= s.length) throw new Error("RLE counts end in the middle of a number");
        const c = s.charCodeAt(p) - 48;
        if (c < 0 || c > 63) throw new Error("unexpected character in RLE counts");
        x += (c & 0x1f) * Math.pow(32, k);
        more = (c & 0x20) !== 0;
        p++;
        k++;
        if (!more && c & 0x10) x -= Math.pow(32, k);
      }
      if (runs.length > 2) x += runs[runs.length - 2];
      runs.push(x);
    }
    return runs;
  }

  function encode(mask, width, height) {
    return { size: [height, width], counts: countsToString(runsFromMask(mask, width, height)) };
  }

  function decode(rle) {
    const height = rle.size[0];
    const width = rle.size[1];
    const runs = stringToCounts(rle.counts);
    let total = 0;
    for (const r of runs) total += r;
    if (total !== width * height) {
      throw new Error("RLE covers " + total + " pixels, expected " + width * height);
    }
    const mask = new Uint8Array(width * height);
    let pos = 0; // column-major position
    for (let j = 0; j < runs.length; j++) {
      const end = pos + runs[j];
      if (j % 2 === 1) {
        for (let q = pos; q < end; q++) {
          const x = Math.floor(q / height);
          const y = q - x * height;
          mask[y * width + x] = 1;
        }
      }
      pos = end;
    }
    return { mask: mask, width: width, height: height };
  }

  // [x0, y0, x1, y1] (exclusive ends) of a row-major mask, or null when it is empty; as
  // review/rle.py `bbox`.
  function bbox(mask, width, height) {
    let x0 = width;
    let y0 = height;
    let x1 = -1;
    let y1 = -1;
    for (let y = 0; y < height; y++) {
      const row = y * width;
      for (let x = 0; x < width; x++) {
        if (!mask[row + x]) continue;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
    return x1 < 0 ? null : [x0, y0, x1 + 1, y1 + 1];
  }

  const api = { encode, decode, bbox, runsFromMask, countsToString, stringToCounts };
  if (typeof module !== "undefined" && module.exports) {
    module.exports = api;
  } else {
    root.ReviewRle = api;
  }
})(typeof self !== "undefined" ? self : this);

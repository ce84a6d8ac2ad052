"""Compact mask encoding shared by the browser editor (`static/review/rle.js`) and Python.

The format is COCO's compressed run-length encoding, so an exported annotation is the
stored value itself: a mask of `height` x `width` is read in column-major order, the
counts alternate runs of 0 and 1 starting with 0, and the counts are written as the
LEB128-like ASCII string of pycocotools' `rleToString`. It never imports Django.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BoolMask = npt.NDArray[np.bool_]


class RleError(ValueError):
    """The encoded mask is malformed; the message says what is wrong."""


@dataclass(frozen=True)
class Rle:
    """A mask as COCO compressed RLE: `size` is (height, width), as in COCO."""

    height: int
    width: int
    counts: str

    def as_coco(self) -> dict[str, object]:
        return {"size": [self.height, self.width], "counts": self.counts}

    @classmethod
    def from_coco(cls, value: object) -> Rle:
        if not isinstance(value, dict):
            raise RleError("expected an object with 'size' and 'counts'")
        size = value.get("size")
        counts = value.get("counts")
        if (
            not isinstance(size, list | tuple)
            or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
        ):
            raise RleError("'size' must be [height, width] with two positive integers")
        if not isinstance(counts, str):
            raise RleError("'counts' must be the compressed COCO RLE string")
        return cls(height=int(size[0]), width=int(size[1]), counts=counts)


def runs_from_mask(mask: BoolMask) -> list[int]:
    """Run lengths of a mask in column-major order, starting with a (possibly empty) 0 run."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return [0]
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs.insert(0, 0)
    return [int(r) for r in runs]


def counts_to_string(runs: list[int]) -> str:
    """pycocotools' `rleToString`: delta against the run two back, 5 bits a character."""
    out: list[str] = []
    for i, run in enumerate(runs):
        x = run - runs[i - 2] if i > 2 else run
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift: negative deltas end on -1
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def string_to_counts(counts: str) -> list[int]:
    """pycocotools' `rleFrString`."""
    runs: list[int] = []
    p = 0
    n = len(counts)
    while p < n:
        x = 0
        k = 0
        more = True
        while more:
            if p >= n:
                raise RleError("the counts string ends in the middle of a number")
            c = ord(counts[p]) - 48
            if c < 0 or c > 63:
                raise RleError(f"unexpected character {counts[p]!r} in the counts string")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    return runs


def encode(mask: BoolMask) -> Rle:
    array = np.asarray(mask, dtype=bool)
    if array.ndim != 2:
        raise RleError(f"expected a 2-D mask, got {array.ndim} dimensions")
    height, width = array.shape
    return Rle(height=height, width=width, counts=counts_to_string(runs_from_mask(array)))


def decode(rle: Rle) -> BoolMask:
    runs = string_to_counts(rle.counts)
    total = rle.height * rle.width
    if any(r < 0 for r in runs) or sum(runs) != total:
        raise RleError(
            f"the runs cover {sum(runs)} pixels but the mask has {rle.height}x{rle.width}"
            f" = {total}; encode the mask at the size you declare"
        )
    values = np.zeros(len(runs), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, runs)
    return flat.reshape((rle.height, rle.width), order="F")


def area(rle: Rle) -> int:
    return int(sum(string_to_counts(rle.counts)[1::2]))


def bbox(mask: BoolMask) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) with exclusive x1 / y1, or None for an empty mask."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def resize_nearest(mask: BoolMask, height: int, width: int) -> BoolMask:
    """Nearest-neighbour resize, used to bring a processed-grid mask to the photo's size."""
    src_h, src_w = mask.shape
    if (src_h, src_w) == (height, width):
        return np.asarray(mask, dtype=bool)
    rows = np.minimum((np.arange(height) + 0.5) * src_h / height, src_h - 1).astype(np.intp)
    cols = np.minimum((np.arange(width) + 0.5) * src_w / width, src_w - 1).astype(np.intp)
    return np.asarray(mask, dtype=bool)[rows[:, None], cols[None, :]]

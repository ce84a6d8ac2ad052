"""Compact mask encoding shared by the browser editor (`static/review/rle.js`) and Python.

The format is COCO's compressed run-length encoding, so an exported annotation is the
stored value itself: a mask of `height` x `width` is read in column-major order, the
counts alternate runs of 0 and 1 starting with 0, and the counts are written as the
ASCII string of pycocotools' `rleToString`. pycocotools encodes and decodes; this module
checks what it is given first, because pycocotools trusts its input (a short counts
string decodes to uninitialised memory). It never imports Django.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from damage_vision.pipeline.masks import mask_to_rle, resize_mask, rle_to_mask
from damage_vision.pipeline.types import BoolMask

# pycocotools keeps counts in 32-bit integers: 7 characters of 5 bits hold any of them.
_MAX_CHARS_PER_NUMBER = 7


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


def string_to_counts(counts: str) -> npt.NDArray[np.int64]:
    """The runs of a counts string, as pycocotools' `rleFrString` reads them; RleError for
    what its `rleToString` never writes (a character outside '0'..'o', a number cut short
    or longer than 32 bits), which pycocotools itself would read past or misread."""
    if not counts.isascii():
        bad = next(ch for ch in counts if not "0" <= ch <= "o")
        raise RleError(f"unexpected character {bad!r} in the counts string")
    c = np.frombuffer(counts.encode("ascii"), dtype=np.uint8).astype(np.int64) - 48
    outside = np.flatnonzero((c < 0) | (c > 63))
    if outside.size:
        raise RleError(f"unexpected character {counts[outside[0]]!r} in the counts string")
    if c.size == 0:
        return np.zeros(0, dtype=np.int64)
    last = (c & 0x20) == 0  # a character without the continuation bit ends a number
    if not last[-1]:
        raise RleError("the counts string ends in the middle of a number")
    ends = np.flatnonzero(last)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > _MAX_CHARS_PER_NUMBER:
        raise RleError("a number in the counts string is longer than any mask's run")
    digit = np.arange(c.size) - np.repeat(starts, lengths)  # 5-bit digit, least first
    values = np.add.reduceat((c & 0x1F) << (5 * digit), starts)
    negative = (c[ends] & 0x10) != 0  # sign-extend, as the arithmetic shift in encoding did
    values[negative] -= np.int64(1) << (5 * lengths[negative])
    # From the fourth number on, each is a delta against the run two back.
    runs = values.copy()
    runs[1::2] = np.cumsum(values[1::2])
    runs[2::2] = np.cumsum(values[2::2])
    return runs


def _checked_runs(rle: Rle) -> npt.NDArray[np.int64]:
    runs = string_to_counts(rle.counts)
    total = rle.height * rle.width
    covered = int(runs.sum())
    if (runs < 0).any() or covered != total:
        raise RleError(
            f"the runs cover {covered} pixels but the mask has {rle.height}x{rle.width}"
            f" = {total}; encode the mask at the size you declare"
        )
    return runs


def encode(mask: BoolMask) -> Rle:
    array = np.asarray(mask, dtype=bool)
    if array.ndim != 2:
        raise RleError(f"expected a 2-D mask, got {array.ndim} dimensions")
    height, width = array.shape
    coco = mask_to_rle(array)
    return Rle(height=height, width=width, counts=str(coco["counts"]))


def decode(rle: Rle) -> BoolMask:
    _checked_runs(rle)
    return rle_to_mask(rle.as_coco())


def area(rle: Rle) -> int:
    return int(_checked_runs(rle)[1::2].sum())


def bbox(mask: BoolMask) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) with exclusive x1 / y1, or None for an empty mask."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def resize_nearest(mask: BoolMask, height: int, width: int) -> BoolMask:
    """Nearest-neighbour resize, used to bring a processed-grid mask to the photo's size."""
    return resize_mask(mask, (width, height))

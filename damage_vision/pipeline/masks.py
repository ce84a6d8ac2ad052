"""Masks as COCO compressed RLE, and masks carried from the processed grid to the photo.

Findings live in the processed grid (long side = the model's input size). Integrators
want them on the photo they sent (after EXIF orientation): `resize_mask` scales a mask
with nearest-neighbour sampling, so a pixel of the photo is in the mask when the
processed-grid pixel it falls in is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as coco_mask

from damage_vision.pipeline.types import BoolMask


def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO compressed RLE `{"size": [h, w], "counts": str}` of a 2-D mask."""
    if mask.ndim != 2:
        raise ValueError(f"a mask must be 2-D, got shape {mask.shape}")
    encoded = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    counts = encoded["counts"]
    return {
        "size": [int(v) for v in encoded["size"]],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
    }


def rle_to_mask(rle: dict[str, Any]) -> BoolMask:
    """The boolean (h, w) mask of a COCO compressed RLE (`counts` as str or bytes)."""
    counts = rle["counts"]
    value = {
        "size": [int(v) for v in rle["size"]],
        "counts": counts.encode("ascii") if isinstance(counts, str) else counts,
    }
    decoded: BoolMask = coco_mask.decode(value).astype(bool)
    return decoded


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> BoolMask:
    """`mask` (h, w) resampled to `size` = (width, height) by nearest neighbour."""
    width, height = size
    if width < 1 or height < 1:
        raise ValueError(f"target size must be positive, got {size}")
    h, w = mask.shape
    if (w, h) == (width, height):
        return mask.astype(bool)
    # Pixel centres of the target grid mapped into the source grid.
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.intp), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.intp), w - 1)
    resized: BoolMask = mask.astype(bool)[rows[:, None], cols[None, :]]
    return resized


def rle_at_size(mask: np.ndarray, size: tuple[int, int]) -> dict[str, Any]:
    """COCO RLE of `mask` resampled to `size` = (width, height), e.g. the photo's own."""
    return mask_to_rle(resize_mask(mask, size))

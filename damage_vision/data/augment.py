"""Paper-1 training augmentations (Ma et al. 2023, section II-C) with albumentations.

Horizontal flips swap left and right labels when a taxonomy still separates them
(`left_right_swap_lut`); for merged taxonomies (parts_reduced_dsmlr) the swap is the
identity. Areas moved in from outside the photo are filled with 0 in the image and the
label maps, as in the paper; the dataset puts the ignore label back on heads it has no
labels for.
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import cv2
import numpy as np
import numpy.typing as npt

from damage_vision.data.coco import IGNORE_INDEX

Lut = npt.NDArray[np.uint8]


def left_right_swap_lut(classes: Sequence[str]) -> Lut:
    """A 256-entry label LUT exchanging each `...left...` class with its `...right...` twin
    (identity for every other label, `IGNORE_INDEX` included)."""
    lut = np.arange(256, dtype=np.uint8)
    index = {name: i for i, name in enumerate(classes)}
    for name, i in index.items():
        for a, b in (("left", "right"), ("right", "left")):
            if a in name:
                twin = name.replace(a, b)
                if twin in index:
                    lut[i] = index[twin]
    return lut


def hflip(
    image: npt.NDArray[np.uint8], masks: Sequence[npt.NDArray[np.uint8]], luts: Sequence[Lut]
) -> tuple[npt.NDArray[np.uint8], list[npt.NDArray[np.uint8]]]:
    """Mirror an image and its label maps, relabelling each map through its swap LUT."""
    flipped = np.ascontiguousarray(image[:, ::-1])
    out = [np.ascontiguousarray(lut[m[:, ::-1]]) for m, lut in zip(masks, luts, strict=True)]
    return flipped, out


def paper_augmentations(crop: int, seed: int | None = None) -> A.Compose:
    """Everything of the paper's list except the flip (done with label swapping by the
    dataset): shift/scale, crop to `crop` (512 in the paper), Gaussian noise, perspective
    and the three one-of groups, each group applied with probability 0.9."""
    return A.Compose(
        [
            A.Affine(
                translate_percent=(-0.1, 0.1),
                scale=(0.5, 1.5),
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=0,
                p=0.5,
            ),
            A.PadIfNeeded(
                min_height=crop,
                min_width=crop,
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=0,
            ),
            A.RandomCrop(height=crop, width=crop),
            # std 2.55-12.75 on 0-255 images = 0.01-0.05 of the maximum
            A.GaussNoise(std_range=(0.01, 0.05), p=0.2),
            A.Perspective(
                scale=(0.05, 0.1), border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0, p=0.6
            ),
            A.OneOf(
                [
                    A.CLAHE(clip_limit=4.0, tile_grid_size=(8, 8), p=1.0),
                    A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.0, p=1.0),
                    A.RandomGamma(gamma_limit=(80, 120), p=1.0),
                ],
                p=0.9,
            ),
            A.OneOf(
                [
                    A.Sharpen(alpha=(0.2, 0.5), lightness=(0.5, 1.0), p=1.0),
                    A.Blur(blur_limit=(3, 7), p=1.0),
                    A.MotionBlur(blur_limit=(3, 7), p=1.0),
                ],
                p=0.9,
            ),
            A.OneOf(
                [
                    A.RandomBrightnessContrast(brightness_limit=0.0, contrast_limit=0.2, p=1.0),
                    A.HueSaturationValue(
                        hue_shift_limit=20, sat_shift_limit=30, val_shift_limit=20, p=1.0
                    ),
                ],
                p=0.9,
            ),
        ],
        seed=seed,
    )


def closeup_crop(
    image: npt.NDArray[np.uint8],
    masks: Sequence[npt.NDArray[np.uint8]],
    extent: npt.NDArray[np.uint8],
    area: tuple[float, float],
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.uint8], list[npt.NDArray[np.uint8]]]:
    """A close-up view of a whole-car photo, as customers photograph damage: a window
    covering `area` (low, high) of the car's bounding box, with the photo's aspect ratio,
    placed at random inside the box; the label maps are cropped with it (the caller resizes
    it to the input size). The car is every pixel of `extent` (a part label map) that is
    neither background (0) nor `IGNORE_INDEX`; a photo without one is returned unchanged."""
    ys, xs = np.nonzero((extent != 0) & (extent != IGNORE_INDEX))
    if len(xs) == 0:
        return image, list(masks)
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    box_w, box_h = x1 - x0, y1 - y0
    h, w = image.shape[:2]
    share = float(rng.uniform(*area))
    # the photo's aspect ratio, scaled to cover `share` of the car's box
    cw = int(np.clip(round(np.sqrt(share * box_w * box_h * w / h)), 16, w))
    ch = int(np.clip(round(cw * h / w), 16, h))
    cx = int(rng.integers(x0, max(x0 + 1, x1 - cw + 1))) if box_w > cw else x0 + (box_w - cw) // 2
    cy = int(rng.integers(y0, max(y0 + 1, y1 - ch + 1))) if box_h > ch else y0 + (box_h - ch) // 2
    cx, cy = int(np.clip(cx, 0, w - cw)), int(np.clip(cy, 0, h - ch))
    window = (slice(cy, cy + ch), slice(cx, cx + cw))
    return (
        np.ascontiguousarray(image[window]),
        [np.ascontiguousarray(m[window]) for m in masks],
    )


def resize_long_side(
    image: npt.NDArray[np.uint8], masks: Sequence[npt.NDArray[np.uint8]], size: int
) -> tuple[npt.NDArray[np.uint8], list[npt.NDArray[np.uint8]]]:
    """Resize so the long side is `size` (bilinear image, nearest labels), like the predictor."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    target = (max(1, round(w * scale)), max(1, round(h * scale)))
    if target == (w, h):
        return image, list(masks)
    resized = np.asarray(cv2.resize(image, target, interpolation=cv2.INTER_LINEAR), dtype=np.uint8)
    labels = [
        np.asarray(cv2.resize(m, target, interpolation=cv2.INTER_NEAREST), dtype=np.uint8)
        for m in masks
    ]
    return resized, labels


__all__ = [
    "IGNORE_INDEX",
    "closeup_crop",
    "hflip",
    "left_right_swap_lut",
    "paper_augmentations",
    "resize_long_side",
]

"""Annotated photos: part overlay, damage overlay with outlines, and labelled boxes (a
detector's box findings as outlines only)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from inference.core.taxonomy import Taxonomy
from inference.core.types import PhotoResult

MAX_LABELS = 12


def _overlay(base: np.ndarray, labels: np.ndarray, taxonomy: Taxonomy, alpha: float) -> None:
    colours = np.array(taxonomy.colours, dtype=np.float32)
    painted = labels > 0
    if painted.any():
        base[painted] = (1 - alpha) * base[painted] + alpha * colours[labels[painted]]


def _without_boxes(result: PhotoResult) -> np.ndarray:
    """The damage map without the pixels only box findings cover: a detector box says where
    the damage is, not which pixels are damaged, so it is drawn as an outline, not filled."""
    boxes = [f.mask for f in result.findings if f.shape == "box"]
    if not boxes:
        return result.damage_map
    clear = np.logical_or.reduce(boxes)
    masks = [f.mask for f in result.findings if f.shape != "box"]
    if masks:
        clear &= ~np.logical_or.reduce(masks)
    labels = result.damage_map.copy()
    labels[clear] = 0
    return labels


def render_annotated(
    image: Image.Image, result: PhotoResult, parts: Taxonomy, damage: Taxonomy
) -> Image.Image:
    """The photo at the processed size with parts (faint), damage (strong) and findings."""
    width, height = result.processed_size
    base = np.asarray(image.convert("RGB").resize((width, height)), dtype=np.float32).copy()
    _overlay(base, result.part_map, parts, 0.30)
    _overlay(base, _without_boxes(result), damage, 0.55)
    out = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(out)
    # Boxes and labels for the largest findings only: beyond a dozen they hide the photo.
    # Numbers follow the order of the findings list shown beside the photo.
    numbered = sorted(
        enumerate(result.findings, start=1), key=lambda item: item[1].area_px, reverse=True
    )[:MAX_LABELS]
    for number, finding in sorted(numbered, key=lambda item: item[0]):
        x0, y0, x1, y1 = finding.box
        colour = damage.colour(finding.damage)
        # A detector box is not filled above, so its outline carries it: drawn thicker.
        width = 3 if finding.shape == "box" else 2
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=colour, width=width)
        # The calibrated confidence (C_base for an uncalibrated version): what a person reads.
        label = f"{number} {finding.damage} / {finding.part} {finding.confidence:.0%}"
        text_y = max(0, y0 - 12)
        draw.rectangle((x0, text_y, x0 + 6 * len(label) + 4, text_y + 12), fill=(0, 0, 0))
        draw.text((x0 + 2, text_y), label, fill=colour)
    return out


def label_map_png(labels: np.ndarray) -> Image.Image:
    return Image.fromarray(labels.astype(np.uint8), mode="L")

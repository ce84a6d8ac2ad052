"""Damage Severity Index (paper 2, Algorithm 2), for segmentation masks and detector boxes.

For each of the N damages of a photo:

    A_i = damage area / image area x 100      (mask pixels, or box width x height)
    C_i = confidence x 100                    (C_base of a region, or the box confidence)
    D_i = type weight of the damage class     (from the damage taxonomy's YAML)
    S_i = 0.4 A_i + 0.2 C_i + 0.4 D_i
    DSI = mean(S_i), and 0 when nothing is found.

With A_i, C_i and D_i each in [0, 100], every S_i and the DSI lie in [0, 100].
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from damage_vision.pipeline.types import BoxDamage, SeverityTerms
from damage_vision.taxonomy import Taxonomy, resolve_taxonomy

AREA_WEIGHT = 0.4
CONFIDENCE_WEIGHT = 0.2
TYPE_WEIGHT = 0.4


def severity_terms(area_fraction: float, confidence: float, type_weight: float) -> SeverityTerms:
    """S_i from the damage's share of the image (0..1), its confidence (0..1) and D_i."""
    if not 0.0 <= area_fraction <= 1.0:
        raise ValueError(f"area fraction must be in [0, 1], got {area_fraction}")
    if not 0.0 <= confidence <= 1.0:
        raise ValueError(f"confidence must be in [0, 1], got {confidence}")
    if not 0.0 <= type_weight <= 100.0:
        raise ValueError(f"type weight must be in [0, 100], got {type_weight}")
    a = area_fraction * 100.0
    c = confidence * 100.0
    score = AREA_WEIGHT * a + CONFIDENCE_WEIGHT * c + TYPE_WEIGHT * type_weight
    return SeverityTerms(area=a, confidence=c, type_weight=type_weight, score=score)


def dsi(scores: Iterable[float]) -> float:
    """Mean of the S_i; 0 when there are none."""
    values = list(scores)
    return sum(values) / len(values) if values else 0.0


def case_dsi(rows: Iterable[Iterable[float]]) -> float:
    """A case's DSI: each damaged (part, damage type) counts once, as the mean S_i of the
    regions showing it in the case's photos, and the case is the mean over those rows (0
    with none). The synthesis, the reviewed report and the customer's page all use it."""
    return dsi(dsi(row) for row in rows)


def box_area_fraction(box: tuple[float, float, float, float], image_size: tuple[int, int]) -> float:
    """Area of a box clipped to the image, as a share of the image (`image_size` = w, h)."""
    width, height = image_size
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {image_size}")
    x0, y0, x1, y1 = box
    w = max(0.0, min(x1, width) - max(x0, 0.0))
    h = max(0.0, min(y1, height) - max(y0, 0.0))
    return (w * h) / (width * height)


def severity_from_boxes(
    boxes: Sequence[BoxDamage], image_size: tuple[int, int], taxonomy: str | Taxonomy
) -> list[SeverityTerms]:
    """S_i terms of detector boxes on an image of `image_size` (width, height)."""
    tax = resolve_taxonomy(taxonomy)
    return [
        severity_terms(box_area_fraction(b.box, image_size), b.confidence, tax.dsi_weight(b.damage))
        for b in boxes
    ]


def dsi_from_boxes(
    boxes: Sequence[BoxDamage], image_size: tuple[int, int], taxonomy: str | Taxonomy
) -> float:
    """DSI of one photo from detector boxes (paper 2, Algorithm 2 verbatim).

    Boxes are clipped to the image; overlapping boxes each count, as in the paper.
    """
    return dsi(t.score for t in severity_from_boxes(boxes, image_size, taxonomy))


def case_dsi_from_boxes(
    photos: Sequence[tuple[Sequence[BoxDamage], tuple[int, int]]], taxonomy: str | Taxonomy
) -> float:
    """Case DSI from detector boxes: the mean S_i over every box of every photo, each box's
    area taken relative to its own photo. `photos`: (boxes, (width, height)) per photo.

    Boxes cannot be assigned to parts, so unlike the segmentation ledger (one row per
    part and damage type) a damage seen in two photos counts twice here.
    """
    return dsi(
        t.score for boxes, size in photos for t in severity_from_boxes(boxes, size, taxonomy)
    )

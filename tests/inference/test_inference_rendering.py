"""The annotated photo: a detector's box findings are outlines, mask findings are filled."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from PIL import Image

from inference.core.masks import mask_to_rle
from inference.core.taxonomy import load_taxonomy
from inference.records import photo_from_record
from inference.rendering import render_annotated

WIDTH, HEIGHT = 200, 120
GREY = (90, 90, 90)


def _finding(x0: int, x1: int, shape: str) -> dict[str, Any]:
    mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
    mask[60:100, x0:x1] = True
    return {
        "part": "hood",
        "damage": "deformity",
        "shape": shape,
        "mask_rle": mask_to_rle(mask),
        "box": [x0, 60, x1, 100],
        "area_px": int(mask.sum()),
        "part_area_px": 4000,
        "share_of_part": 0.4,
        "size_class": "medium",
        "area_cm2": None,
        "area_cm2_uncertainty": None,
        "c_base": 0.8,
        "confidence": 0.8,
        "severity": {"area": 6.7, "confidence": 80.0, "type_weight": 70.0, "score": 47.0},
    }


def test_box_findings_are_outlined_and_mask_findings_filled() -> None:
    record = {
        "image_size": [WIDTH, HEIGHT],
        "processed_size": [WIDTH, HEIGHT],
        "vehicle_probability": 0.99,
        "usable": True,
        "quality": {"reasons": [], "blur_score": 300.0, "brightness": 0.5},
        "set_aside_reason": None,
        "visible_parts": ["hood"],
        "perspective": "partial_view",
        "findings": [_finding(20, 60, "mask"), _finding(120, 180, "box")],
        "dsi": 47.0,
        "timings_ms": {
            "preprocess_ms": 1.0,
            "vehicle_ms": 1.0,
            "segmentation_ms": 1.0,
            "postprocess_ms": 1.0,
            "total_ms": 4.0,
        },
        "model": {
            "name": "seed",
            "version": "1",
            "weights_sha256": "0" * 64,
            "part_taxonomy": "parts_reduced_dsmlr",
            "damage_taxonomy": "damage_categorical",
            "backend": "torch",
            "calibrated": True,
            "damage_backend": "detection",
        },
    }
    damage = load_taxonomy("damage_categorical")
    result = photo_from_record(record)
    # The damage map paints both regions, as the core's map would.
    damage_map = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    for finding in result.findings:
        damage_map[finding.mask] = damage.index("deformity")
    result = dataclasses.replace(result, damage_map=damage_map)

    out = np.asarray(
        render_annotated(
            Image.new("RGB", (WIDTH, HEIGHT), GREY),
            result,
            load_taxonomy("parts_reduced_dsmlr"),
            damage,
        )
    )
    colour = damage.colour("deformity")
    # Inside the mask finding: tinted towards the damage colour.
    assert tuple(out[80, 40]) != GREY
    # Inside the box: the photo as it is; on its outline: the damage colour, 3 px thick.
    assert tuple(out[80, 150]) == GREY
    assert tuple(out[80, 120]) == tuple(colour)
    assert tuple(out[80, 122]) == tuple(colour)
    assert tuple(out[80, 123]) == GREY
    assert tuple(out[99, 150]) == tuple(colour)

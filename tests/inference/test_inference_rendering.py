"""The annotated photo: outlines and plain-word labels at the photo's own resolution,
labels that neither overlap nor leave the photo, and a legend strip."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from PIL import Image

from claims.wording import damage_words
from damage_vision.pipeline.masks import mask_to_rle
from damage_vision.taxonomy import load_taxonomy
from inference.services.records import photo_from_record
from inference.services.rendering import (
    OUTPUT_LONG_SIDE,
    layout_labels,
    output_size,
    render_annotated,
)

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


def _record(
    findings: list[dict[str, Any]], image_size: tuple[int, int] = (WIDTH, HEIGHT)
) -> dict[str, Any]:
    return {
        "image_size": list(image_size),
        "processed_size": [WIDTH, HEIGHT],
        "vehicle_probability": 0.99,
        "usable": True,
        "quality": {"reasons": [], "blur_score": 300.0, "brightness": 0.5},
        "set_aside_reason": None,
        "visible_parts": ["hood"],
        "perspective": "partial_view",
        "findings": findings,
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


def _result(record: dict[str, Any]) -> Any:
    damage = load_taxonomy("damage_categorical")
    result = photo_from_record(record)
    # The damage map paints every region, as the core's map would.
    damage_map = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    for finding in result.findings:
        damage_map[finding.mask] = damage.index(finding.damage)
    return dataclasses.replace(result, damage_map=damage_map)


def test_box_findings_are_outlined_and_mask_findings_filled() -> None:
    damage = load_taxonomy("damage_categorical")
    result = _result(_record([_finding(20, 60, "mask"), _finding(120, 180, "box")]))
    drawn = render_annotated(
        Image.new("RGB", (WIDTH, HEIGHT), GREY), result, damage, words=damage_words
    )
    assert drawn.photo_size == (WIDTH, HEIGHT)
    out = np.asarray(drawn.image)
    colour = damage.colour("deformity")
    # Inside the mask finding: tinted towards the damage colour.
    assert tuple(out[80, 45]) != GREY
    # Inside the box: the photo as it is; on its outline: the damage colour.
    assert tuple(out[80, 150]) == GREY
    assert tuple(out[80, 120]) == tuple(colour)
    assert tuple(out[99, 150]) == tuple(colour)


def test_a_large_photo_is_drawn_at_1600_px_with_a_legend_in_plain_words() -> None:
    damage = load_taxonomy("damage_categorical")
    surface = {**_finding(20, 60, "mask"), "damage": "surface_damage"}
    result = _result(
        _record([_finding(120, 180, "mask"), surface, _finding(150, 190, "box")], (3000, 2000))
    )
    # The display copy the worker passes: the oriented photo at up to 1600 px.
    drawn = render_annotated(
        Image.new("RGB", (1600, 1067), GREY), result, damage, words=damage_words
    )
    assert drawn.photo_size == (1600, 1067)
    width, height = drawn.image.size
    assert width == 1600
    assert height > 1067
    assert [label.text for label in drawn.labels] == [
        "1 dent or deformation",
        "2 scratch or paint damage",
        "3 dent or deformation",
    ]
    assert drawn.legend == (
        "dent or deformation",
        "scratch or paint damage",
        "outline = where the damage is",
    )
    for text in [label.text for label in drawn.labels] + list(drawn.legend):
        assert "_" not in text, text
        assert "%" not in text, text
    for label in drawn.labels:
        assert label.rect is not None
        x0, y0, x1, y1 = label.rect
        assert 0 <= x0 < x1 <= 1600
        assert 0 <= y0 < y1 <= 1067
    # The outline of finding 1 at the output scale (8x): its left edge at x = 120 * 8.
    colour = tuple(damage.colour("deformity"))
    assert tuple(np.asarray(drawn.image)[90 * 1067 // 120, 960]) == colour


def test_output_size_keeps_the_photo_size_up_to_1600_px() -> None:
    assert OUTPUT_LONG_SIDE == 1600
    assert output_size((3000, 2000)) == (1600, 1067)
    assert output_size((2000, 3000)) == (1067, 1600)
    assert output_size((1280, 960)) == (1280, 960)
    assert output_size((640, 480)) == (640, 480)  # never upscaled


def test_a_photo_without_findings_has_no_legend() -> None:
    result = _result(_record([]))
    drawn = render_annotated(
        Image.new("RGB", (WIDTH, HEIGHT), GREY),
        result,
        load_taxonomy("damage_categorical"),
        words=damage_words,
    )
    assert drawn.image.size == (WIDTH, HEIGHT)
    assert drawn.labels == ()
    assert drawn.legend == ()


def _check_layout(
    rects: list[tuple[int, int, int, int] | None], size: tuple[int, int]
) -> list[tuple[int, int, int, int]]:
    placed = [r for r in rects if r is not None]
    for x0, y0, x1, y1 in placed:
        assert 0 <= x0 < x1 <= size[0]
        assert 0 <= y0 < y1 <= size[1]
    for i, a in enumerate(placed):
        for b in placed[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
    return placed


def test_labels_of_crowded_findings_neither_overlap_nor_leave_the_photo() -> None:
    size = (1600, 1067)
    # Twelve findings piled into the top-left corner, labels 420 x 52 px.
    boxes = [(i * 10, i * 8, i * 10 + 60, i * 8 + 50) for i in range(12)]
    rects = layout_labels(boxes, [(420, 52)] * 12, size)
    assert len(_check_layout(rects, size)) == 12
    # The same in each of the other corners.
    for flip_x, flip_y in ((True, False), (False, True), (True, True)):
        flipped = [
            (
                size[0] - x1 if flip_x else x0,
                size[1] - y1 if flip_y else y0,
                size[0] - x0 if flip_x else x1,
                size[1] - y0 if flip_y else y1,
            )
            for x0, y0, x1, y1 in boxes
        ]
        assert len(_check_layout(layout_labels(flipped, [(420, 52)] * 12, size), size)) == 12


def test_labels_of_findings_at_every_edge_stay_on_the_photo() -> None:
    size = (800, 600)
    boxes = [
        (0, 0, 800, 600),  # the whole photo
        (0, 250, 30, 350),  # left edge
        (770, 250, 800, 350),  # right edge
        (300, 0, 500, 10),  # top edge
        (300, 590, 500, 600),  # bottom edge
        (0, 0, 5, 5),
        (795, 595, 800, 600),
        (790, 0, 800, 10),
        (0, 590, 10, 600),
    ]
    rects = layout_labels(boxes, [(300, 30)] * len(boxes), size)
    assert len(_check_layout(rects, size)) == len(boxes)


def test_a_label_that_fits_nowhere_is_left_out_not_overlapped() -> None:
    size = (200, 100)
    rects = layout_labels([(10, 10, 50, 50)] * 5, [(190, 40)] * 5, size)
    placed = _check_layout(rects, size)
    assert len(placed) == 2
    assert rects[2:] == [None, None, None]
    assert layout_labels([(0, 0, 10, 10)], [(300, 20)], size) == [None]  # wider than the photo

"""The predictor asks its version's damage finder, one strategy per back end; it does not
branch on the back end itself."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from damage_vision.pipeline.damage_finders import BoxFinder, MaskFinder, damage_finder
from damage_vision.pipeline.settings import PipelineSettings
from damage_vision.taxonomy import load_taxonomy
from damage_vision.versions.registry import default_version

PREDICTOR = Path(__file__).resolve().parents[3] / "damage_vision" / "pipeline" / "predictor.py"


def _finder(backend: str):  # type: ignore[no-untyped-def]
    manifest = dataclasses.replace(
        default_version(), damage_backend=backend, detector={"input_size": 320, "conf": 0.1}
    )
    return damage_finder(
        manifest,
        load_taxonomy(manifest.part_taxonomy),
        load_taxonomy(manifest.damage_taxonomy),
        PipelineSettings(),
        None,
    )


def test_each_back_end_has_its_finder() -> None:
    assert isinstance(_finder("segmentation"), MaskFinder)
    boxes = _finder("detection")
    assert isinstance(boxes, BoxFinder)
    assert (boxes.input_size, boxes.conf, boxes.iou) == (320, 0.1, 0.7)
    with pytest.raises(ValueError, match="damage_backend must be segmentation or detection"):
        _finder("ellipses")


def test_the_predictor_names_no_back_end() -> None:
    tree = ast.parse(PREDICTOR.read_text(encoding="utf-8"))
    compared = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and any(
            isinstance(c, ast.Constant) and c.value in ("detection", "segmentation")
            for c in node.comparators
        )
    ]
    assert compared == []

"""Label-export writers: COCO with RLE, PNG label maps, Ultralytics YOLO segmentation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from learning.labels import (
    LabelExportError,
    LabelledImage,
    LabelledObject,
    category_ids,
    coco_document,
    png_label_map,
    write_snapshot,
    yolo_segmentation_lines,
)
from review import rle

CATEGORIES = ["surface_damage", "deformity", "body_damage"]


def _image(tmp_path: Path, name: str = "a.jpg", width: int = 40, height: int = 20) -> Path:
    path = tmp_path / name
    Image.new("RGB", (width, height), (10, 20, 30)).save(path)
    return path


def _rect(height: int, width: int, x0: int, y0: int, x1: int, y1: int) -> rle.Rle:
    mask = np.zeros((height, width), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return rle.encode(mask)


def _labelled(tmp_path: Path) -> LabelledImage:
    return LabelledImage(
        file_name="case1-photo1.jpg",
        source_path=_image(tmp_path),
        width=40,
        height=20,
        objects=(
            LabelledObject("deformity", _rect(20, 40, 4, 2, 14, 8), part="door_shell"),
            LabelledObject("surface_damage", _rect(20, 40, 10, 5, 30, 15), part="bumper"),
        ),
    )


def test_coco_document_has_exact_annotations(tmp_path: Path) -> None:
    doc = coco_document([_labelled(tmp_path)], CATEGORIES, description="t")
    assert doc["categories"] == [
        {"id": 1, "name": "surface_damage", "supercategory": "damage"},
        {"id": 2, "name": "deformity", "supercategory": "damage"},
        {"id": 3, "name": "body_damage", "supercategory": "damage"},
    ]
    anns = doc["annotations"]
    assert isinstance(anns, list)
    assert [(a["category_id"], a["bbox"], a["area"]) for a in anns] == [
        (2, [4, 2, 10, 6], 60),
        (1, [10, 5, 20, 10], 200),
    ]
    assert anns[0]["attributes"] == {"part": "door_shell", "source": "", "shape": "mask"}


def test_unknown_category_and_wrong_size_are_refused(tmp_path: Path) -> None:
    image = _labelled(tmp_path)
    bad = LabelledImage(
        image.file_name,
        image.source_path,
        40,
        20,
        (LabelledObject("dent", _rect(20, 40, 0, 0, 1, 1)),),
    )
    with pytest.raises(LabelExportError, match="category 'dent' is not in the taxonomy"):
        coco_document([bad], CATEGORIES, description="t")
    wrong = LabelledImage(
        image.file_name,
        image.source_path,
        40,
        20,
        (LabelledObject("deformity", _rect(10, 10, 0, 0, 1, 1)),),
    )
    with pytest.raises(LabelExportError, match="mask of 10x10 does not match the photo's 40x20"):
        coco_document([wrong], CATEGORIES, description="t")


def test_png_label_map_later_object_wins(tmp_path: Path) -> None:
    image = _labelled(tmp_path)
    out = png_label_map(image, category_ids(CATEGORIES))
    assert out.dtype == np.uint8
    assert out[3, 5] == 2
    assert out[6, 12] == 1  # overlap: surface_damage was written second
    assert out[0, 0] == 0
    assert int((out == 2).sum()) == 60 - 12  # 12 pixels overlapped
    assert int((out == 1).sum()) == 200


def test_yolo_rows_are_normalised_polygons(tmp_path: Path) -> None:
    image = _labelled(tmp_path)
    lines = yolo_segmentation_lines(image, category_ids(CATEGORIES))
    assert lines == [
        "1 0.100000 0.100000 0.100000 0.350000 0.325000 0.350000 0.325000 0.100000",
        "0 0.250000 0.250000 0.250000 0.700000 0.725000 0.700000 0.725000 0.250000",
    ]


def test_write_snapshot_loads_with_pycocotools(tmp_path: Path) -> None:
    target = tmp_path / "exports" / "v1"
    manifest = write_snapshot(
        target, [_labelled(tmp_path)], CATEGORIES, version="v1", provenance={"cases": [1]}
    )
    assert manifest["images"] == 1
    assert manifest["annotations"] == 2
    assert sorted(p.name for p in target.iterdir()) == [
        "annotations.json",
        "data.yaml",
        "images",
        "labels",
        "manifest.json",
        "masks",
    ]
    coco = COCO(str(target / "annotations.json"))
    mask = coco.annToMask(coco.loadAnns(coco.getAnnIds(imgIds=[1]))[0])
    assert mask.shape == (20, 40)
    assert int(mask.sum()) == 60
    assert (target / "images" / "case1-photo1.jpg").exists()
    png = np.array(Image.open(target / "masks" / "case1-photo1.png"))
    assert png.shape == (20, 40)
    assert int((png == 1).sum()) == 200
    assert (target / "labels" / "case1-photo1.txt").read_text().count("\n") == 2
    data_yaml = (target / "data.yaml").read_text()
    assert "  0: surface_damage\n  1: deformity\n  2: body_damage\n" in data_yaml
    assert json.loads((target / "manifest.json").read_text())["cases"] == [1]
    assert not (tmp_path / "exports" / "v1.partial").exists()


def test_snapshot_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "v1"
    target.mkdir()
    (target / "keep").write_text("x")
    with pytest.raises(LabelExportError, match="already exists"):
        write_snapshot(target, [_labelled(tmp_path)], CATEGORIES, version="v1", provenance={})
    assert [p.name for p in target.iterdir()] == ["keep"]


def test_exif_orientation_is_applied_to_the_exported_photo(tmp_path: Path) -> None:
    source = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.new("RGB", (40, 20)).save(source, exif=exif)
    image = LabelledImage("rotated.jpg", source, width=20, height=40, objects=())
    write_snapshot(tmp_path / "v2", [image], CATEGORIES, version="v2", provenance={})
    with Image.open(tmp_path / "v2" / "images" / "rotated.jpg") as out:
        assert out.size == (20, 40)

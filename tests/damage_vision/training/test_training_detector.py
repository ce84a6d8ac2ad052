"""COCO -> Ultralytics conversion, and a one-epoch YOLOv9-CS training + evaluation smoke test."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from damage_vision.evaluation.detector import evaluate_detector
from damage_vision.taxonomy import load_taxonomy
from damage_vision.training.config import load_config
from damage_vision.training.detector import coco_to_yolo, train_detector, yolo_dataset

BILGI = load_taxonomy("damage_bilgi")


def test_coco_boxes_become_normalised_yolo_lines(tmp_path: Path, damage_coco: Path) -> None:
    boxes = coco_to_yolo(damage_coco, BILGI, tmp_path / "y")
    assert boxes == 2
    # cizik is class 4 of damage_bilgi -> YOLO class 3; box (0, 0, 32, 32) on 64x64
    assert (
        tmp_path / "y" / "labels" / "dmg0.txt"
    ).read_text() == "3 0.250000 0.250000 0.500000 0.500000\n"
    assert (
        tmp_path / "y" / "labels" / "dmg1.txt"
    ).read_text() == "5 0.750000 0.750000 0.500000 0.500000\n"
    assert (tmp_path / "y" / "labels" / "dmg2.txt").read_text() == ""
    assert (tmp_path / "y" / "images" / "dmg0.jpg").is_symlink()


def test_yolo_dataset_names_follow_the_taxonomy(tmp_path: Path, damage_coco: Path) -> None:
    data = yolo_dataset(damage_coco, damage_coco, BILGI, root=tmp_path / "yolo")
    names = yaml.safe_load(data.read_text())["names"]
    assert names == dict(enumerate(BILGI.classes[1:]))


@pytest.mark.slow
def test_detector_trains_and_evaluates(tmp_path: Path, damage_coco: Path) -> None:
    cfg_path = tmp_path / "det.yaml"
    cfg_path.write_text(
        yaml.safe_dump(
            {
                "task": "detector",
                "out": str(tmp_path / "run"),
                "model": {"cfg": "yolov9t-cs", "box_loss": "siou"},
                "taxonomies": {"damage": "damage_bilgi"},
                "data": {
                    "imgsz": 64,
                    "train": {"coco": str(damage_coco)},
                    "val": {"coco": str(damage_coco)},
                },
                "train": {"epochs": 1, "batch_size": 2, "workers": 0},
            }
        )
    )
    best = train_detector(load_config(cfg_path))
    assert best.is_file()
    report = evaluate_detector(
        tmp_path / "run" / "ultralytics" / "weights" / "best.pt", coco=damage_coco, imgsz=64
    )
    assert set(report) >= {"precision", "recall", "map50", "map50_95"}
    assert 0.0 <= report["map50_95"] <= report["map50"] <= 1.0

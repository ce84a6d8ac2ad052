"""End to end on 64x64 fixtures: train 1 step, resume, package a model version, evaluate it,
compare two reports; and the CLI wiring."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from damage_vision.cli import build_parser
from damage_vision.data.paths import CONFIGS_DIR
from damage_vision.evaluation.compare import compare_reports
from damage_vision.evaluation.evaluate import evaluate_segmentation, evaluate_vehicle
from damage_vision.training.config import ConfigError, load_config
from damage_vision.training.package import package_version
from damage_vision.training.segmentation import train_segmentation
from damage_vision.versions.registry import load_manifest


def _config(tmp_path: Path, parts_coco: Path, damage_coco: Path, **train: object) -> Path:
    (tmp_path / "val.txt").write_text("train0.jpg\ntrain1.jpg\n")
    cfg = {
        "task": "segmentation",
        "name": "tiny",
        "out": str(tmp_path / "run"),
        "model": {
            "arch": "deeplabv3plus",
            "encoder": "timm-efficientnet-lite0",
            "joint": True,
            "pretrained_encoder": False,
        },
        "taxonomies": {"parts": "parts_reduced_dsmlr", "damage": "damage_categorical"},
        "data": {
            "resize": 64,
            "crop": 64,
            "train": [
                {"head": "parts", "coco": str(parts_coco), "exclude": "val.txt"},
                {"head": "damage", "coco": str(damage_coco)},
            ],
            "val": [{"head": "parts", "coco": str(parts_coco), "include": "val.txt"}],
        },
        "train": {
            "epochs": 1,
            "batch_size": 2,
            "warmup_epochs": 1,
            "workers": 0,
            "threads": 1,
            "max_steps_per_epoch": 1,
        }
        | train,
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_train_resume_package_evaluate(tmp_path: Path, parts_coco: Path, damage_coco: Path) -> None:
    cfg = load_config(_config(tmp_path, parts_coco, damage_coco))
    best = train_segmentation(cfg, progress=False)
    run = tmp_path / "run"
    assert best == run / "best.pt"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1]
    assert rows[0]["steps"] == 1
    assert 0.0 <= rows[0]["parts_miou"] <= 1.0
    assert "damage_miou" not in rows[0]  # no damage validation images
    assert (run / "metrics.csv").read_text().splitlines()[0].startswith("epoch,train_loss")

    # resume: one more epoch continues from last.pt instead of starting over
    cfg2 = load_config(_config(tmp_path, parts_coco, damage_coco, epochs=2))
    train_segmentation(cfg2, resume=True, progress=False)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]

    version = tmp_path / "weights" / "9.9.9-test"
    manifest = package_version(
        segmentation=best, vehicle=None, directory=version, version="9.9.9-test", onnx=False
    )
    assert manifest.input_size == 64
    assert load_manifest(version).metrics["segmentation_validation"]["epoch"] in (1, 2)
    files = sorted(p.name for p in version.iterdir())
    assert len(files) == 3
    assert files[0] == "manifest.json"
    assert files[1].startswith("segmentation-")
    assert files[2].startswith("vehicle-")

    report = evaluate_segmentation(
        "parts", parts_coco, None, weights=version, out=tmp_path / "a.json"
    )
    assert report["images"] == 4
    assert set(report["per_class_iou"]) == set(report["classes"])
    assert 0.0 <= report["miou"] <= 1.0
    assert np.array(report["confusion_matrix"]).sum() == 4 * 64 * 64
    assert report["parts_count_accuracy"]["exact"] >= 0.0
    assert set(report["iou_by_visible_parts"]) == {"0", "1", "2"}
    assert Path(report["confusion_png"]).stat().st_size > 0
    (tmp_path / "a.json").write_text(json.dumps(report))

    other = evaluate_segmentation("parts", parts_coco, None, weights=best, out=tmp_path / "b.json")
    (tmp_path / "b.json").write_text(json.dumps(other))
    same = compare_reports(tmp_path / "a.json", tmp_path / "a.json", replicates=100)
    assert (same["miou_difference"], same["ci_low"], same["ci_high"]) == (0.0, 0.0, 0.0)
    result = compare_reports(tmp_path / "a.json", tmp_path / "b.json", replicates=100)
    assert result["images"] == 4
    assert result["ci_low"] <= result["miou_difference"] <= result["ci_high"]

    vehicle = evaluate_vehicle(
        [(p, 1) for p in sorted((parts_coco.parent / "JPEGImages").iterdir())], version
    )
    assert vehicle["images"] == 4
    assert 0.0 <= vehicle["accuracy"] <= 1.0


def test_bad_configs_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("task: segmentation\ntrain: {epochz: 3}\n")
    with pytest.raises(ConfigError, match="train"):
        load_config(path)
    path.write_text("task: painting\n")
    with pytest.raises(ConfigError, match="task must be"):
        load_config(path)
    with pytest.raises(ConfigError, match="no training config"):
        load_config(tmp_path / "missing.yaml")
    path.write_text("task: segmentation\ntrain: {batch_size: 1}\n")
    with pytest.raises(ConfigError, match="batch_size must be at least 2"):
        load_config(path)


def test_overrides_use_dotted_keys(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("task: segmentation\ntrain: {epochs: 3}\n")
    assert load_config(path, {"train.epochs": 1, "data.resize": 96}).train.epochs == 1


def test_cli_has_train_evaluate_compare_package() -> None:
    parser = build_parser()
    args = parser.parse_args(["evaluate", "--task", "parts", "--coco", "a.json", "--out", "r.json"])
    assert (args.task, args.weights, args.coco) == ("parts", None, "a.json")
    args = parser.parse_args(
        ["train", "--config", "damage_vision/configs/joint-deeplabv3plus-lite0.yaml", "--resume"]
    )
    assert args.resume is True
    args = parser.parse_args(["compare", "a.json", "b.json"])
    assert args.replicates == 5000
    args = parser.parse_args(
        ["package", "--segmentation", "s.pt", "--out", "d", "--version", "1.0.0"]
    )
    assert args.vehicle is None


def test_shipped_configs_parse() -> None:
    root = CONFIGS_DIR
    for path in sorted(root.glob("*.yaml")):
        cfg = load_config(path)
        assert cfg.task in ("segmentation", "vehicle", "detector"), path

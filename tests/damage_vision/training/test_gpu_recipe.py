"""`pack-data` on a generated data root, the training options the GPU recipe uses
(`train.device`, `train.time_limit_s`), and bin/gpu-recipe end to end in its tiny CPU mode."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

from damage_vision.cli import main
from damage_vision.data.coco import load_coco
from damage_vision.data.paths import CONFIGS_DIR, REPO_ROOT
from damage_vision.networks.detector import YoloDamageDetector
from damage_vision.networks.segmentation import build_segmentation_model
from damage_vision.taxonomy import load_taxonomy
from damage_vision.training.config import ConfigError, load_config, parse_device, select_device
from damage_vision.training.gpu_recipe import collect
from damage_vision.training.pack import PARTS, PackError, plan_part
from damage_vision.training.segmentation import train_segmentation
from tests.damage_vision.training.conftest import annotator_parts, roboflow_damage

SPLITS = {
    "carparts-dsmlr-val.txt": ["train3.jpg"],
    "damage-bilgi-valid-fit.txt": ["dmg0.jpg"],
    "damage-bilgi-valid-threshold.txt": ["dmg1.jpg"],
    "damage-bilgi-valid-evaluation.txt": ["dmg2.jpg"],
}


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """The real data root's layout with 64x64 photos: 4 part photos, 3 damage photos in
    train and in valid (valid: one each for fit, threshold and evaluation)."""
    root = tmp_path / "data"
    annotator_parts(root / "carparts-dsmlr" / "train")
    roboflow_damage(root / "damage-bilgi" / "train")
    roboflow_damage(root / "damage-bilgi" / "valid")
    return root


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    """The GPU configs, verbatim, beside split lists that name the generated photos."""
    folder = tmp_path / "configs"
    (folder / "splits").mkdir(parents=True)
    for name, names in SPLITS.items():
        (folder / "splits" / name).write_text("# generated\n" + "\n".join(names) + "\n")
    for name in ("gpu-joint-512.yaml", "gpu-detector-640.yaml"):
        shutil.copy(CONFIGS_DIR / name, folder / name)
    return folder


def pack(data_root: Path, configs: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "pack-data",
            "--out",
            str(out),
            "--data",
            str(data_root),
            "--splits",
            str(configs / "splits"),
            *extra,
        ]
    )


def test_pack_scales_photos_and_labels_and_leaves_the_evaluation_half_out(
    tmp_path: Path, data_root: Path, configs: Path
) -> None:
    out = tmp_path / "pack"
    assert pack(data_root, configs, out, "--budget-mib", "1", "--max-side", "32") == 0

    manifest = json.loads((out / "pack.json").read_text())
    assert (manifest["side"], manifest["quality"], manifest["format"]) == (32, 85, "jpeg")
    assert manifest["images"] == 4 + 3 + 2
    assert {k: v["images"] for k, v in manifest["parts"].items()} == {
        "carparts-dsmlr/train": 4,
        "damage-bilgi/train": 3,
        "damage-bilgi/valid": 2,
    }
    valid = load_coco(out / "damage-bilgi" / "valid" / "_annotations.coco.json")
    assert [im.file_name for im in valid.images] == ["dmg0.jpg", "dmg1.jpg"]
    assert sorted(p.name for p in (out / "damage-bilgi" / "valid").iterdir()) == [
        "_annotations.coco.json",
        "dmg0.jpg",
        "dmg1.jpg",
    ]
    parts = load_coco(out / "carparts-dsmlr" / "train" / "annotations.json")
    first = parts.images[0]
    assert (first.width, first.height, first.path.parent.name) == (32, 32, "train")
    with Image.open(first.path) as photo:
        assert (photo.format, photo.size) == ("JPEG", (32, 32))
    door, lamp = parts.annotations[1]
    assert door.segmentation == [[0, 0, 20, 0, 20, 20, 0, 20]]
    assert (door.bbox, door.area) == ((0.0, 0.0, 20.0, 20.0), 400.0)
    assert (lamp.bbox, lamp.area) == ((4.0, 4.0, 4.0, 4.0), 16.0)


def test_pack_that_does_not_fit_says_what_it_needs_and_writes_nothing(
    tmp_path: Path, data_root: Path, configs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pack"
    assert pack(data_root, configs, out, "--budget-mib", "0.001", "--max-side", "64") == 2
    error = capsys.readouterr().err
    assert "the pack does not fit: at the smallest setting (long side 64, JPEG quality 55)" in error
    assert "--budget-mib" in error
    assert not out.exists()
    assert not (tmp_path / "pack.tmp").exists()


def test_pack_refuses_to_pack_the_evaluation_half(data_root: Path, configs: Path) -> None:
    (configs / "splits" / "damage-bilgi-valid-evaluation.txt").write_text("dmg1.jpg\ndmg2.jpg\n")
    with pytest.raises(PackError, match=r"1 images of damage-bilgi-valid-evaluation\.txt"):
        plan_part(PARTS[2], data_root, configs / "splits")


def test_train_device_names() -> None:
    assert parse_device("auto") == ("auto", None)
    assert parse_device(0) == ("cuda", 0)
    assert parse_device("cuda:1") == ("cuda", 1)
    assert parse_device("CPU") == ("cpu", None)
    with pytest.raises(ConfigError, match=r"train\.device must be auto, cpu, cuda"):
        parse_device("gpu")
    assert select_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert select_device("auto") == torch.device("cpu")
        with pytest.raises(ConfigError, match=r"sees no CUDA device; use train\.device=auto"):
            select_device(0)


def test_time_limit_ends_the_run_after_the_epochs_that_fit(
    tmp_path: Path, parts_coco: Path, damage_coco: Path
) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "task": "segmentation",
                "out": str(tmp_path / "run"),
                "model": {"encoder": "timm-efficientnet-lite0", "pretrained_encoder": False},
                "data": {
                    "resize": 64,
                    "train": [{"head": "parts", "coco": str(parts_coco)}],
                    "val": [{"head": "damage", "coco": str(damage_coco)}],
                },
                "train": {
                    "epochs": 5,
                    "batch_size": 2,
                    "max_steps_per_epoch": 1,
                    "workers": 0,
                    "threads": 1,
                    "device": "cpu",
                    "time_limit_s": 0.001,
                },
            }
        )
    )
    train_segmentation(load_config(config), progress=False)
    rows = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == [1]
    assert (tmp_path / "run" / "best.pt").is_file()
    assert not list((tmp_path / "run").glob(".*.tmp"))


def test_collect_keeps_one_jobs_results_when_the_other_left_nothing(tmp_path: Path) -> None:
    work, out = tmp_path / "work", tmp_path / "out"
    (work / "segmentation").mkdir(parents=True)
    torch.save(
        {
            "model": {"w": torch.ones(2, dtype=torch.float32), "n": torch.tensor(3)},
            "spec": {"input_size": 512},
            "epoch": 4,
            "metrics": {"parts_miou": 0.75, "damage_miou": 0.5, "total_miou": 0.625},
            "confusion": {"parts": [[1]]},
        },
        work / "segmentation" / "best.pt",
    )
    (work / "segmentation" / "metrics.jsonl").write_text(
        '{"epoch": 3, "total_miou": 0.5}\n{"epoch": 4, "total_miou": 0.625}\n'
    )
    (work / "detector.log").write_text("Killed\n")

    summary = collect(work, out, [("segmentation", 0, 12.0), ("detector", 124, 480.0)])

    seg, det = summary["jobs"]["segmentation"], summary["jobs"]["detector"]
    assert (seg["status"], seg["epochs_run"], seg["best"]) == (
        "ok",
        2,
        {"epoch": 4, "total_miou": 0.625},
    )
    assert (det["status"], det["epochs_run"], det["best"]) == ("stopped at its time limit", 0, None)
    assert det["error"].startswith("RecipeError: no detector weights in")
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["epoch"] for r in metrics["segmentation"]["epochs"]] == [3, 4]
    assert metrics["detector"] == {"best": None, "epochs": []}
    state = torch.load(out / "segmentation.pt", weights_only=True)
    assert state["model"]["w"].dtype == torch.float16
    assert state["model"]["n"].dtype == torch.int64
    assert (out / "detector.log").read_text() == "Killed\n"
    assert (out / "segmentation.log").read_text().startswith("(no log at")
    assert json.loads((out / "summary.json").read_text())["jobs"]["detector"]["exit_code"] == 124


@pytest.mark.slow
def test_gpu_recipe_tiny_mode_brings_back_fp16_weights_and_metrics(
    tmp_path: Path, data_root: Path, configs: Path
) -> None:
    assert pack(data_root, configs, tmp_path / "pack", "--budget-mib", "1") == 0
    out = tmp_path / "out"
    env = os.environ | {
        "OUT": str(out),
        "GPU_RECIPE_TINY": "1",
        "GPU_RECIPE_PYTHON": sys.executable,
        "GPU_RECIPE_WORK": str(tmp_path / "work"),
        "GPU_RECIPE_DATA": str(tmp_path / "pack"),
        "GPU_RECIPE_SEG_CONFIG": str(configs / "gpu-joint-512.yaml"),
        "GPU_RECIPE_DET_CONFIG": str(configs / "gpu-detector-640.yaml"),
        "GPU_RECIPE_BUDGET_S": "240",
    }
    done = subprocess.run(
        [str(REPO_ROOT / "bin" / "gpu-recipe")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    files = sorted(p.name for p in out.iterdir())
    assert files == [
        "detector-results.csv",
        "detector-ultralytics.pt",
        "detector.log",
        "detector.pt",
        "metrics.json",
        "segmentation.log",
        "segmentation.pt",
        "summary.json",
    ]
    assert len(files) <= 8  # what the device tool brings back
    assert all((out / f).stat().st_size < 16 * 2**20 for f in files)

    summary = json.loads((out / "summary.json").read_text())
    assert {n: j["status"] for n, j in summary["jobs"].items()} == {
        "segmentation": "ok",
        "detector": "ok",
    }
    assert summary["pack"]["images"] == 9
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["steps"] for r in metrics["segmentation"]["epochs"]] == [1]
    assert [r["epoch"] for r in metrics["detector"]["epochs"]] == [1.0]
    assert summary["jobs"]["detector"]["best"] == metrics["detector"]["epochs"][0]

    seg = torch.load(out / "segmentation.pt", map_location="cpu", weights_only=True)
    floats = [v for v in seg["model"].values() if torch.is_floating_point(v)]
    assert floats
    assert {v.dtype for v in floats} == {torch.float16}
    spec = seg["spec"]
    assert (spec["input_size"], seg["epoch"]) == (64, 1)
    model = build_segmentation_model(
        spec["arch"],
        spec["encoder"],
        load_taxonomy(spec["part_taxonomy"]),
        load_taxonomy(spec["damage_taxonomy"]),
        joint=spec["joint"],
    )
    model.load_state_dict(seg["model"])

    det = torch.load(out / "detector.pt", map_location="cpu", weights_only=True)
    assert {v.dtype for v in det.values() if torch.is_floating_point(v)} == {torch.float16}
    YoloDamageDetector("damage_categorical", weights=out / "detector.pt", input_size=64)

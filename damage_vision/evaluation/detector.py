"""Detector precision, recall, mAP50 and mAP50-95 through Ultralytics' validator."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def evaluate_detector(
    weights: Path,
    coco: Path | None = None,
    images: Path | None = None,
    data: Path | None = None,
    taxonomy: str = "damage_bilgi",
    mapping: Path | None = None,
    imgsz: int = 640,
    include: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Metrics of an Ultralytics checkpoint (`weights/best.pt`) on a COCO file (converted to
    an Ultralytics dataset first; `include`: only those file names) or on an Ultralytics
    `data.yaml`."""
    from ultralytics import YOLO

    from damage_vision.data.coco import load_mapping
    from damage_vision.networks.detector import preserve_torch_threads
    from damage_vision.taxonomy import load_taxonomy
    from damage_vision.training.detector import yolo_dataset

    if data is None:
        if coco is None:
            raise ValueError("detector evaluation needs --coco FILE or --data data.yaml")
        names = load_mapping(mapping) if mapping else None
        data = yolo_dataset(coco, coco, load_taxonomy(taxonomy), names, val_include=include)
    with preserve_torch_threads():
        metrics = YOLO(str(weights)).val(
            data=str(data), imgsz=imgsz, device="cpu", plots=False, verbose=False
        )
    box = metrics.box
    return {
        "task": "detector",
        "model": str(weights),
        "data": str(data),
        "imgsz": imgsz,
        "images": None if include is None else len(include),
        "precision": round(float(box.mp), 6),
        "recall": round(float(box.mr), 6),
        "map50": round(float(box.map50), 6),
        "map50_95": round(float(box.map), 6),
    }


def plot_training_curve(rows: Sequence[dict[str, float]], path: Path, title: str) -> None:
    """mAP50 / mAP50-95 on the validation photos and the training losses, per epoch, from
    Ultralytics' results.csv rows (`package_detector.training_curve`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("metrics/mAP50(B)", "mAP50"), ("metrics/mAP50-95(B)", "mAP50-95")):
        left.plot(epochs, [r.get(key, float("nan")) for r in rows], marker="o", label=label)
    left.set(xlabel="epoch", ylabel="validation (calibration half)", title="box metrics")
    left.set_ylim(bottom=0)
    left.legend()
    left.grid(alpha=0.3)
    for key, label in (
        ("train/box_loss", "box (SIoU)"),
        ("train/cls_loss", "class"),
        ("train/dfl_loss", "DFL"),
    ):
        right.plot(epochs, [r.get(key, float("nan")) for r in rows], marker="o", label=label)
    right.set(xlabel="epoch", ylabel="training loss", title="losses")
    right.legend()
    right.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)

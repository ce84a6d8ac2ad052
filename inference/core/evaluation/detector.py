"""Detector precision, recall, mAP50 and mAP50-95 through Ultralytics' validator."""

from __future__ import annotations

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
) -> dict[str, Any]:
    """Metrics of an Ultralytics checkpoint (`weights/best.pt`) on a COCO file (converted to
    an Ultralytics dataset first) or on an Ultralytics `data.yaml`."""
    from ultralytics import YOLO

    from inference.core.data.coco import load_mapping
    from inference.core.models.detector import preserve_torch_threads
    from inference.core.taxonomy import load_taxonomy
    from inference.core.training.detector import yolo_dataset

    if data is None:
        if coco is None:
            raise ValueError("detector evaluation needs --coco FILE or --data data.yaml")
        names = load_mapping(mapping) if mapping else None
        data = yolo_dataset(coco, coco, load_taxonomy(taxonomy), names)
    with preserve_torch_threads():
        metrics = YOLO(str(weights)).val(
            data=str(data), imgsz=imgsz, device="cpu", plots=False, verbose=False
        )
    box = metrics.box
    return {
        "task": "detector",
        "model": str(weights),
        "data": str(data),
        "precision": round(float(box.mp), 6),
        "recall": round(float(box.mr), 6),
        "map50": round(float(box.map50), 6),
        "map50_95": round(float(box.map), 6),
    }

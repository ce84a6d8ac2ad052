"""A trained YOLOv9-CS detector -> a detection model version (paper 2's damage back end).

The version holds the detector as ONNX (fp16 initialisers, input `image` (1, 3, S, S) RGB
in [0, 1], output `detections` (1, 4 + C, A)), and takes its vehicle classifier and its
joint network (for the part map that names the damaged part) from a segmentation version
by reference: the manifest lists those ONNX files by a path relative to its own directory
and by sha256, so the repository does not hold them twice. Repackage (or ship with the
new files) when that version leaves the tree: loading checks every file and its hash.

    python -m damage_vision package-detector --detector runs/yolov9t-cs-categorical/best_state.pt \\
        --parts-from 0.3.0 --out inference/weights/0.3.0-yolo --version 0.3.0-yolo
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from damage_vision.pipeline.backends import DET_INPUT, DET_OUTPUT
from damage_vision.taxonomy import load_taxonomy
from damage_vision.training.detector import checkpoint_state
from damage_vision.versions.export import onnx_bytes, write_hashed
from damage_vision.versions.registry import (
    FORMAT,
    Manifest,
    load_manifest,
    resolve_model,
    write_manifest,
)


def detector_onnx_bytes(state: dict[str, torch.Tensor], num_classes: int, size: int) -> bytes:
    """ONNX bytes of a YOLOv9-CS state dict: fused, decoded boxes, fixed square input."""
    from ultralytics.nn.modules import Detect

    from damage_vision.networks.detector import build_detector, preserve_torch_threads

    model = build_detector(nc=num_classes, box_loss="ciou")
    model.load_state_dict({k: v.float() for k, v in state.items()})
    with preserve_torch_threads():
        model = model.fuse(verbose=False).eval()
    for module in model.modules():
        if isinstance(module, Detect):
            module.export = True  # return the decoded (N, 4 + C, A) tensor alone
            module.format = "onnx"  # type: ignore[assignment]
    example = torch.zeros(1, 3, size, size)
    return onnx_bytes(
        model, example, DET_INPUT, (DET_OUTPUT,), dynamic_spatial=False, dynamic_batch=False
    )


def training_curve(results_csv: Path) -> list[dict[str, float]]:
    """Ultralytics' per-epoch results.csv as a list of {column: value} (names trimmed)."""
    if not results_csv.is_file():
        return []
    with results_csv.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [{k.strip(): round(float(v), 5) for k, v in row.items() if v.strip()} for row in rows]


def package_detection_version(
    *,
    detector: Path,
    parts_from: str | Path,
    directory: Path,
    version: str,
    name: str = "yolov9t-cs-categorical",
    status: str = "candidate",
    description: str = "",
    input_size: int = 320,
    conf: float = 0.05,
    iou: float = 0.6,
    threshold: float = 0.5,
    curve: Path | None = None,
) -> Manifest:
    """Write `directory` as detection version `version`. `detector`: a plain state dict
    (`train` writes `best_state.pt`) or Ultralytics' `best.pt`; `parts_from`: the
    segmentation version whose vehicle classifier and part map it uses; `conf`: the
    lowest detector score kept (the threshold on the calibrated confidence is the
    calibrator's to choose); `curve`: Ultralytics' results.csv for the manifest."""
    base = resolve_model(parts_from)
    if base.damage_backend != "segmentation":
        raise ValueError(f"--parts-from must be a segmentation version, {base.version} is not")
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise FileExistsError(f"{directory} is not empty; choose a new version directory")
    damage = load_taxonomy(base.damage_taxonomy)
    payload = detector_onnx_bytes(checkpoint_state(detector), damage.num_classes - 1, input_size)
    directory.mkdir(parents=True, exist_ok=True)
    weights: dict[str, dict[str, dict[str, str]]] = {}
    for role in ("segmentation", "vehicle"):
        entry = base.weight_file(role, "onnx")
        target = (base.directory / entry.file).resolve()
        weights[role] = {
            "onnx": {
                "file": os.path.relpath(target, directory.resolve()),
                "sha256": entry.sha256,
            }
        }
    with tempfile.TemporaryDirectory(dir=directory.parent) as tmp:
        staging = Path(tmp)
        weights["detector"] = {"onnx": write_hashed(payload, staging, "detector", ".onnx")}
        raw = base.raw
        data: dict[str, Any] = {
            "format": FORMAT,
            "name": name,
            "version": version,
            "status": status,
            "description": description,
            "damage_backend": "detection",
            "detector": {
                "cfg": "yolov9t-cs",
                "box_loss": "siou",
                "input_size": input_size,
                "conf": conf,
                "iou": iou,
            },
            "architecture": raw["architecture"],
            "encoder": raw["encoder"],
            "joint": raw["joint"],
            "model_kwargs": raw.get("model_kwargs", {}),
            "part_taxonomy": base.part_taxonomy,
            "damage_taxonomy": base.damage_taxonomy,
            "input_size": base.input_size,
            "pad_multiple": base.pad_multiple,
            "normalisation": raw["normalisation"],
            "threshold": threshold,
            "metrics": {"detector_training": training_curve(curve) if curve else []},
            "vehicle": raw["vehicle"],
            "weights": weights,
            # the same photo gates (blur, exposure, vehicle) as the version it builds on
            "settings": dict(raw.get("settings", {})),
            "provenance": {
                "detector_checkpoint": str(detector),
                "parts_and_vehicle_from": base.version,
                "trained": True,
            },
        }
        # the referenced files are checked from the final directory, not the staging one
        shutil.move(str(staging / weights["detector"]["onnx"]["file"]), directory)
    write_manifest(data, directory)
    manifest = load_manifest(directory)
    for role in manifest.weights:
        manifest.weight_path(role, "onnx")  # exists and matches its sha256
    return manifest

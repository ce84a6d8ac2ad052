"""Trained checkpoints -> a registered model version, through the core's `save_model_version`
(manifest + fp16 weights named by sha256, ONNX exported)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from damage_vision.networks.classifier import (
    VehicleClassifier,
    VehiclePresence,
    build_vehicle_classifier,
)
from damage_vision.networks.segmentation import build_segmentation_model
from damage_vision.taxonomy import load_taxonomy
from damage_vision.versions.export import save_model_version
from damage_vision.versions.registry import Manifest


def package_version(
    *,
    segmentation: Path,
    vehicle: Path | None,
    directory: Path,
    version: str,
    name: str = "deeplabv3plus-lite0-joint",
    status: str = "candidate",
    description: str = "",
    threshold: float = 0.5,
    onnx: bool = True,
    extra_metrics: dict[str, Any] | None = None,
    vehicle_from: Manifest | None = None,
    input_size: int | None = None,
) -> Manifest:
    """Write `directory` as model version `version` from a segmentation `best.pt` and a
    vehicle `best.pt` (None: the ImageNet-head Lite0 classifier, downloaded by timm).
    `vehicle_from`: reuse that version's vehicle classifier (weights, input size and
    threshold) instead; nothing is downloaded. The validation metrics saved in the
    checkpoints go into the manifest. `input_size`: the long side photos are resized to
    before the networks (default: the training's resize)."""
    if vehicle is not None and vehicle_from is not None:
        raise ValueError("give a vehicle checkpoint or a version to take it from, not both")
    seg_state = torch.load(segmentation, map_location="cpu", weights_only=False)
    spec = seg_state["spec"]
    parts = load_taxonomy(spec["part_taxonomy"])
    damage = load_taxonomy(spec["damage_taxonomy"])
    model = build_segmentation_model(
        spec["arch"], spec["encoder"], parts, damage, joint=spec["joint"]
    )
    model.load_state_dict(seg_state["model"])
    metrics: dict[str, Any] = {
        "segmentation_validation": {
            "epoch": seg_state.get("epoch"),
            **{k: v for k, v in seg_state.get("metrics", {}).items()},
        }
    }
    vehicle_size = 224
    vehicle_threshold = 0.5
    if vehicle_from is not None:
        from damage_vision.pipeline.torch_backend import load_models

        _, presence = load_models(vehicle_from)
        vehicle_size = vehicle_from.vehicle.input_size
        vehicle_threshold = vehicle_from.vehicle.threshold
        metrics["vehicle_validation"] = dict(vehicle_from.metrics.get("vehicle_validation") or {})
    elif vehicle is not None:
        v_state = torch.load(vehicle, map_location="cpu", weights_only=False)
        v_spec = v_state["spec"]
        classifier = VehicleClassifier(v_spec["arch"], v_spec["head"])
        classifier.load_state_dict(v_state["model"])
        vehicle_size = int(v_spec["input_size"])
        vm = v_state.get("metrics", {})
        metrics["vehicle_validation"] = {
            k: vm.get(k) for k in ("epoch", "accuracy", "roc_auc", "accuracy_by_source")
        }
        presence = VehiclePresence(classifier)
    else:
        presence = VehiclePresence(build_vehicle_classifier("lite0", "imagenet", pretrained=True))
    metrics.update(extra_metrics or {})
    return save_model_version(
        directory,
        name=name,
        version=version,
        segmentation=model.eval(),
        vehicle=presence.eval(),
        part_taxonomy=parts.name,
        damage_taxonomy=damage.name,
        threshold=threshold,
        status=status,
        description=description,
        input_size=int(input_size or spec["input_size"]),
        vehicle_input_size=vehicle_size,
        vehicle_threshold=vehicle_threshold,
        metrics=metrics,
        provenance={
            "segmentation_checkpoint": str(segmentation),
            "vehicle_checkpoint": str(vehicle) if vehicle else None,
            **({"vehicle_from": vehicle_from.version} if vehicle_from is not None else {}),
            "segmentation_spec": spec,
            "trained": True,
        },
        onnx_export=onnx,
    )

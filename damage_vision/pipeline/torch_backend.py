"""PyTorch eager back end and model construction from a manifest (imports torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from damage_vision.networks.classifier import VehicleClassifier, VehiclePresence
from damage_vision.networks.segmentation import (
    SegmentationModel,
    build_segmentation_model,
    count_head_classes,
)
from damage_vision.pipeline.backends import FloatArray, check_class_counts, default_threads
from damage_vision.pipeline.types import WeightsMismatchError
from damage_vision.taxonomy import load_taxonomy
from damage_vision.versions.registry import Manifest, ManifestError


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict saved with `torch.save`, loaded with `weights_only=True`, as fp32."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt zip, pickle refused by weights_only, ...
        raise WeightsMismatchError(
            f"{path.name} is not a loadable state dict ({exc}); restore the file"
        ) from None
    if not isinstance(state, dict):
        raise WeightsMismatchError(f"{path.name} holds {type(state).__name__}, not a state dict")
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def build_segmentation_from_manifest(manifest: Manifest) -> SegmentationModel:
    """The segmentation model the manifest describes, with untouched (random) weights."""
    return build_segmentation_model(
        manifest.architecture,
        manifest.encoder,
        load_taxonomy(manifest.part_taxonomy),
        load_taxonomy(manifest.damage_taxonomy),
        joint=manifest.joint,
        **manifest.model_kwargs,
    )


def build_vehicle_from_manifest(manifest: Manifest) -> VehiclePresence:
    head = manifest.vehicle.head
    if head == "imagenet":
        return VehiclePresence(VehicleClassifier(manifest.vehicle.arch, "imagenet"))
    if head == "binary":
        return VehiclePresence(VehicleClassifier(manifest.vehicle.arch, "binary"))
    raise WeightsMismatchError(f"vehicle head must be imagenet or binary, got {head!r}")


def _load_into(model: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise WeightsMismatchError(
            f"{what} weights do not fit the architecture in the manifest: {' '.join(first)}"
        ) from None


def load_models(manifest: Manifest) -> tuple[SegmentationModel, VehiclePresence]:
    """Both models of a version, weights loaded and checked, in eval mode."""
    seg_state = load_state_dict(manifest.weight_path("segmentation", "torch"))
    try:
        parts, damage = count_head_classes(seg_state)
    except KeyError as exc:
        raise WeightsMismatchError(f"segmentation weights: {exc.args[0]}") from None
    check_class_counts(manifest, parts, damage, "the segmentation weights")
    segmentation = build_segmentation_from_manifest(manifest)
    _load_into(segmentation, seg_state, "segmentation")
    vehicle = build_vehicle_from_manifest(manifest)
    vehicle_state = load_state_dict(manifest.weight_path("vehicle", "torch"))
    _load_into(vehicle.classifier, vehicle_state, "vehicle classifier")
    return segmentation.eval(), vehicle.eval()


class TorchBackend:
    """PyTorch eager inference on the CPU."""

    name = "torch"

    def __init__(self, manifest: Manifest, threads: int | None = None) -> None:
        self.threads = threads or default_threads()
        torch.set_num_threads(self.threads)
        if manifest.damage_backend == "detection":
            raise ManifestError(
                f"model {manifest.version} finds damage with a detector, which runs in ONNX "
                "Runtime only; use backend='onnx'"
            )
        self.segmentation, self.vehicle_model = load_models(manifest)

    @torch.inference_mode()
    def vehicle(self, x: FloatArray) -> FloatArray:
        out: FloatArray = self.vehicle_model(torch.from_numpy(x)).numpy().astype(np.float32)
        return out

    @torch.inference_mode()
    def segment(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        logits = self.segmentation(torch.from_numpy(x))
        return logits.parts.numpy(), logits.damage.numpy()

    def detect(self, x: FloatArray) -> FloatArray:
        raise RuntimeError("the PyTorch back end runs segmentation versions only")

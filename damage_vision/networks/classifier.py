"""Vehicle-presence classifier (module 1 of Ma et al. 2023).

An EfficientNet-Lite (timm `tf_efficientnet_liteN`, TensorFlow "same" padding, the
layout the Lite ImageNet weights were trained in) with either

- `head="imagenet"`: the 1000-class ImageNet head; the presence probability is the sum of
  the softmax probabilities of the ImageNet vehicle classes listed in
  `imagenet_vehicles.yaml` (usable before any training), or
- `head="binary"`: one logit, presence probability = sigmoid (the trained head).

`VehiclePresence` wraps either into a module whose output is the probability, shape (N,);
that is what the predictor runs and what is exported to ONNX.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import timm
import torch
import yaml
from torch import nn

from damage_vision.networks.pretrained import (
    LITE_PACKAGES,
    PretrainedWeightsError,
    load_lite_imagenet_into,
    set_batchnorm_eps,
)

Head = Literal["imagenet", "binary"]

VEHICLE_CLASSES_FILE = Path(__file__).resolve().parent / "imagenet_vehicles.yaml"


@functools.cache
def imagenet_vehicle_classes() -> tuple[int, ...]:
    """Indices of the ImageNet classes that count as a vehicle (see the YAML file)."""
    data = yaml.safe_load(VEHICLE_CLASSES_FILE.read_text(encoding="utf-8"))
    return tuple(sorted(int(i) for i in data["classes"]))


class VehicleClassifier(nn.Module):
    """Backbone + head returning logits: (N, 1000) for `imagenet`, (N, 1) for `binary`."""

    def __init__(self, arch: str = "lite0", head: Head = "imagenet") -> None:
        super().__init__()
        if head not in ("imagenet", "binary"):
            raise ValueError(f"head must be 'imagenet' or 'binary', got {head!r}")
        self.arch = arch
        self.head = head
        num_classes = 1000 if head == "imagenet" else 1
        self.backbone: nn.Module = timm.create_model(
            _timm_name(arch), pretrained=False, num_classes=num_classes
        )
        if arch in LITE_PACKAGES:
            set_batchnorm_eps(self.backbone)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.backbone(x)
        return out


class VehiclePresence(nn.Module):
    """Probability that a vehicle is in each image, shape (N,)."""

    vehicle_classes: torch.Tensor

    def __init__(self, classifier: VehicleClassifier) -> None:
        super().__init__()
        self.classifier = classifier
        self.register_buffer(
            "vehicle_classes", torch.tensor(imagenet_vehicle_classes(), dtype=torch.long)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(x)
        if self.classifier.head == "binary":
            return torch.sigmoid(logits[:, 0])
        probabilities = torch.softmax(logits, dim=1)
        return probabilities.index_select(1, self.vehicle_classes).sum(dim=1)


def _timm_name(arch: str) -> str:
    if arch in LITE_PACKAGES or arch in ("lite3", "lite4"):
        return f"tf_efficientnet_{arch}"
    return arch


def build_vehicle_classifier(
    arch: str = "lite0", head: Head = "imagenet", pretrained: bool = True
) -> VehicleClassifier:
    """An EfficientNet-Lite (`lite0`/`lite1`/`lite2`) or any timm model name (e.g.
    `mobilenetv2_100`, random weights only). `pretrained=True` loads the offline ImageNet
    weights (backbone, and the ImageNet head when `head="imagenet"`); the binary head
    starts untrained.
    """
    model = VehicleClassifier(arch, head)
    if pretrained:
        if arch not in LITE_PACKAGES:
            raise PretrainedWeightsError(
                f"no offline ImageNet weights for classifier {arch!r}; use lite0, lite1 or "
                "lite2, or pretrained=False"
            )
        load_lite_imagenet_into(model.backbone, arch)
    return model

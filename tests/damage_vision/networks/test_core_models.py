"""Model builders: smp segmentation (joint, independent), ImageNet remap, vehicle classifier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from damage_vision.networks import (
    IndependentSegmentationModels,
    JointSegmentationModel,
    PretrainedWeightsError,
    SegLogits,
    VehiclePresence,
    build_segmentation_model,
    build_vehicle_classifier,
    count_head_classes,
    imagenet_vehicle_classes,
    load_lite_imagenet_state_dict,
    remap_lukemelas_to_timm,
)
from damage_vision.networks.pretrained import LITE_MEAN, LITE_STD, load_lite_imagenet_into

# ImageNet-1k indices (torchvision's category list): the bus classes and a few others.
MINIBUS, SCHOOL_BUS, TROLLEYBUS, SPORTS_CAR, TENCH = 654, 779, 874, 817, 0


@pytest.mark.parametrize("arch", ["deeplabv3plus", "unetplusplus", "pspnet"])
@pytest.mark.parametrize("joint", [True, False])
def test_both_heads_at_input_resolution(arch: str, joint: bool) -> None:
    model = build_segmentation_model(arch, "timm-efficientnet-lite0", 10, 4, joint=joint).eval()
    with torch.inference_mode():
        out = model(torch.zeros(2, 3, 64, 96))
    assert isinstance(out, SegLogits)
    assert tuple(out.parts.shape) == (2, 10, 64, 96)
    assert tuple(out.damage.shape) == (2, 4, 64, 96)
    assert isinstance(model, JointSegmentationModel if joint else IndependentSegmentationModels)
    assert count_head_classes(model.state_dict()) == (10, 4)


def test_joint_model_shares_one_encoder_and_decoder() -> None:
    joint = build_segmentation_model("deeplabv3plus", "mobilenet_v2", 10, 4)
    independent = build_segmentation_model("deeplabv3plus", "mobilenet_v2", 10, 4, joint=False)
    n_joint = sum(p.numel() for p in joint.parameters())
    n_independent = sum(p.numel() for p in independent.parameters())
    head_difference = 256 * 4 + 4  # the joint model's extra 1x1 damage head
    single = sum(p.numel() for p in independent.parts_model.parameters())
    assert n_joint == single + head_difference
    assert n_independent > 1.9 * single


def test_taxonomy_names_set_the_class_counts() -> None:
    model = build_segmentation_model(
        "deeplabv3plus", "mobilenet_v2", "parts_reduced", "damage_original"
    )
    assert (model.part_classes, model.damage_classes) == (14, 8)


def test_unknown_architecture_or_encoder_says_what_exists() -> None:
    with pytest.raises(ValueError, match="deeplabv3plus, unetplusplus, pspnet"):
        build_segmentation_model("segformer", "mobilenet_v2", 2, 2)
    with pytest.raises(ValueError, match="get_encoder_names"):
        build_segmentation_model("deeplabv3plus", "resnet9000", 2, 2)
    with pytest.raises(PretrainedWeightsError, match="no offline ImageNet weights"):
        build_segmentation_model("deeplabv3plus", "mobilenet_v2", 2, 2, pretrained_encoder=True)


@pytest.mark.parametrize("variant", ["lite0", "lite1", "lite2"])
def test_remap_assigns_every_encoder_tensor(variant: str) -> None:
    source = load_lite_imagenet_state_dict(variant)
    model = build_segmentation_model(
        "deeplabv3plus", f"timm-efficientnet-{variant}", 10, 4, pretrained_encoder=True
    )
    encoder_state = model.encoder.state_dict()
    remapped = remap_lukemelas_to_timm(source, encoder_state)
    assert list(remapped) == list(encoder_state)  # every encoder tensor, in order
    source_values = [v for k, v in source.items() if not k.startswith("_fc.")]
    assert len(source_values) == len(encoder_state)
    for (key, loaded), original in zip(encoder_state.items(), source_values, strict=True):
        assert torch.equal(loaded, original), key


def test_remap_refuses_a_different_variant() -> None:
    source = load_lite_imagenet_state_dict("lite0")
    target = build_segmentation_model("deeplabv3plus", "timm-efficientnet-lite2", 2, 2).encoder
    with pytest.raises(PretrainedWeightsError):
        load_lite_imagenet_into(target, "lite0")
    with pytest.raises(PretrainedWeightsError, match="tensors"):
        remap_lukemelas_to_timm(source, {"a": torch.zeros(1)})


def _classifier_input(path: Path) -> torch.Tensor:
    image = Image.open(path).convert("RGB").resize((224, 224), Image.Resampling.BILINEAR)
    x = (np.asarray(image, dtype=np.float32) / 255.0 - LITE_MEAN) / LITE_STD
    return torch.from_numpy(x.transpose(2, 0, 1)[None].astype(np.float32))


def test_remapped_classifier_recognises_the_bus(bus_jpg: Path) -> None:
    classifier = build_vehicle_classifier("lite0", "imagenet", pretrained=True).eval()
    with torch.inference_mode():
        probabilities = torch.softmax(classifier(_classifier_input(bus_jpg)), dim=1)[0]
    top = int(probabilities.argmax())
    assert top in imagenet_vehicle_classes()
    assert top in (MINIBUS, SCHOOL_BUS, TROLLEYBUS)
    presence = VehiclePresence(classifier).eval()
    with torch.inference_mode():
        p_vehicle = float(presence(_classifier_input(bus_jpg))[0])
    expected = float(probabilities[list(imagenet_vehicle_classes())].sum())
    assert p_vehicle == pytest.approx(expected, abs=1e-6)
    assert p_vehicle > 0.8


def test_random_classifier_does_not_recognise_the_bus(bus_jpg: Path) -> None:
    """The test above can fail: without the remapped weights the same check fails."""
    torch.manual_seed(0)
    classifier = build_vehicle_classifier("lite0", "imagenet", pretrained=False).eval()
    with torch.inference_mode():
        probabilities = torch.softmax(classifier(_classifier_input(bus_jpg)), dim=1)[0]
    assert float(probabilities[list(imagenet_vehicle_classes())].sum()) < 0.5


def test_binary_head_is_a_sigmoid_over_one_logit() -> None:
    classifier = build_vehicle_classifier("lite0", "binary", pretrained=True).eval()
    x = torch.zeros(2, 3, 64, 64)
    with torch.inference_mode():
        logits = classifier(x)
        probability = VehiclePresence(classifier).eval()(x)
    assert tuple(logits.shape) == (2, 1)
    assert torch.allclose(probability, torch.sigmoid(logits[:, 0]))


def test_vehicle_class_list() -> None:
    classes = imagenet_vehicle_classes()
    assert len(classes) == 26
    assert {MINIBUS, SCHOOL_BUS, TROLLEYBUS, SPORTS_CAR} <= set(classes)
    assert TENCH not in classes

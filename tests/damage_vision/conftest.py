"""Fixtures of the inference core tests: a tiny model version (64 px, random weights),
built once per session with both back ends, and the real vehicle photo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")
# Tiny inputs gain nothing from a second thread, and on a shared 2-core machine idle
# OpenMP threads spinning against other processes make runs 10x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BUS_JPG = FIXTURES / "bus.jpg"  # Ultralytics' bus.jpg (a real photo), downscaled to 360x480


@pytest.fixture(scope="session")
def bus_jpg() -> Path:
    return BUS_JPG


@pytest.fixture(scope="session")
def tiny_version(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model version whose networks are the default architecture at random weights,
    working at 64 px, with every photo-quality gate opened so that any image gets through."""
    import torch

    from damage_vision.networks import VehiclePresence, build_segmentation_model
    from damage_vision.networks.classifier import VehicleClassifier
    from damage_vision.versions.export import save_model_version

    torch.manual_seed(1)
    segmentation = build_segmentation_model(
        "deeplabv3plus", "timm-tf_efficientnet_lite0", "parts_reduced_dsmlr", "damage_categorical"
    ).eval()
    vehicle = VehiclePresence(VehicleClassifier("lite0", "imagenet")).eval()
    directory = tmp_path_factory.mktemp("versions") / "9.9.9-tiny"
    save_model_version(
        directory,
        name="tiny",
        version="9.9.9-tiny",
        segmentation=segmentation,
        vehicle=vehicle,
        part_taxonomy="parts_reduced_dsmlr",
        damage_taxonomy="damage_categorical",
        threshold=0.5,
        input_size=64,
        vehicle_input_size=64,
        vehicle_threshold=0.0,
        settings={
            "blur_threshold": 0.0,
            "dark_threshold": 0.0,
            "bright_threshold": 1.0,
            "min_region_px": 1,
            "min_part_share": 0.0,
        },
    )
    return directory


@pytest.fixture(scope="session")
def detection_version(tiny_version: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A detection version on the tiny segmentation version, its detector at random
    weights with every box kept (conf 0.0001)."""
    import torch

    from damage_vision.networks.detector import build_detector
    from damage_vision.training.package_detector import package_detection_version

    torch.manual_seed(0)
    state = tmp_path_factory.mktemp("detector") / "best_state.pt"
    torch.save(build_detector(nc=3, box_loss="siou").state_dict(), state)
    directory = tiny_version.parent / "9.9.9-tiny-yolo"
    package_detection_version(
        detector=state,
        parts_from=tiny_version,
        directory=directory,
        version="9.9.9-tiny-yolo",
        input_size=64,
        conf=0.0001,
    )
    return directory

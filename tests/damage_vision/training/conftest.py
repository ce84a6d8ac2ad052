"""Small generated COCO datasets (64x64 photos) in the layouts of the real sources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

SIZE = 64


def write_photo(path: Path, seed: int, size: int = SIZE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path)


def rect(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    """A COCO polygon of the rectangle [x0, x1) x [y0, y1) in pixel-corner coordinates."""
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def roboflow_damage(root: Path) -> Path:
    """Roboflow layout: JSON beside the photos, unused supercategory id 0 (`car`)."""
    root.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(3):
        name = f"dmg{i}.jpg"
        write_photo(root / name, i)
        images.append({"id": i, "file_name": name, "width": SIZE, "height": SIZE})
    anns.append(
        {
            "id": 1,
            "image_id": 0,
            "category_id": 4,
            "segmentation": rect(0, 0, 32, 32),
            "area": 1024,
            "bbox": [0, 0, 32, 32],
            "iscrowd": 0,
        }
    )
    anns.append(
        {
            "id": 2,
            "image_id": 1,
            "category_id": 6,
            "segmentation": rect(32, 32, 64, 64),
            "area": 1024,
            "bbox": [32, 32, 32, 32],
            "iscrowd": 0,
        }
    )
    doc = {
        "images": images,
        "annotations": anns,
        "categories": [
            {"id": 0, "name": "car"},
            {"id": 4, "name": "cizik"},
            {"id": 6, "name": "gocuk"},
            {"id": 8, "name": "kirik-kayip"},
        ],
    }
    path = root / "_annotations.coco.json"
    path.write_text(json.dumps(doc))
    return path


def annotator_parts(root: Path) -> Path:
    """COCO-Annotator layout (carparts-dsmlr): `path` JPEGImages/..., `_background_` id 1."""
    images, anns = [], []
    for i in range(4):
        name = f"train{i}.jpg"
        write_photo(root / "JPEGImages" / name, 10 + i)
        images.append(
            {
                "id": i + 1,
                "file_name": name,
                "path": f"JPEGImages/{name}",
                "width": SIZE,
                "height": SIZE,
            }
        )
    # image 1: a door (big) with a lamp on top of it (small)
    anns.append(
        {
            "id": 1,
            "image_id": 1,
            "category_id": 3,
            "segmentation": rect(0, 0, 40, 40),
            "area": 1600,
            "bbox": [0, 0, 40, 40],
            "iscrowd": False,
        }
    )
    anns.append(
        {
            "id": 2,
            "image_id": 1,
            "category_id": 4,
            "segmentation": rect(8, 8, 16, 16),
            "area": 64,
            "bbox": [8, 8, 8, 8],
            "iscrowd": False,
        }
    )
    anns.append(
        {
            "id": 3,
            "image_id": 2,
            "category_id": 5,
            "segmentation": rect(32, 0, 64, 16),
            "area": 512,
            "bbox": [32, 0, 32, 16],
            "iscrowd": False,
        }
    )
    doc: dict[str, Any] = {
        "images": images,
        "annotations": anns,
        "categories": [
            {"id": 1, "name": "_background_"},
            {"id": 3, "name": "front_left_door"},
            {"id": 4, "name": "front_left_light"},
            {"id": 5, "name": "wheel"},
        ],
    }
    path = root / "annotations.json"
    path.write_text(json.dumps(doc))
    return path


def snapshot_rle(root: Path) -> Path:
    """The review app's snapshot layout: compressed RLE at full size, photos in images/."""
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8, order="F")
    mask[10:20, 30:50] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    write_photo(root / "images" / "p1.jpg", 99)
    doc = {
        "images": [{"id": 7, "file_name": "p1.jpg", "width": SIZE, "height": SIZE}],
        "annotations": [
            {
                "id": 1,
                "image_id": 7,
                "category_id": 2,
                "segmentation": {"size": [SIZE, SIZE], "counts": rle["counts"].decode()},
                "area": 200,
                "bbox": [30, 10, 20, 10],
                "iscrowd": 0,
            }
        ],
        "categories": [{"id": 1, "name": "surface_damage"}, {"id": 2, "name": "deformity"}],
    }
    path = root / "annotations.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def damage_coco(tmp_path: Path) -> Path:
    return roboflow_damage(tmp_path / "bilgi")


@pytest.fixture
def parts_coco(tmp_path: Path) -> Path:
    return annotator_parts(tmp_path / "dsmlr")


@pytest.fixture
def rle_coco(tmp_path: Path) -> Path:
    return snapshot_rle(tmp_path / "snapshot")


@pytest.fixture(autouse=True)
def _mask_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAMAGE_CACHE_DIR", str(tmp_path / "cache"))

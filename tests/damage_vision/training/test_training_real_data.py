"""The public datasets load and map onto the shipped taxonomies without flags."""

from __future__ import annotations

import pytest

from damage_vision.data.coco import find_source, load_coco, load_mapping
from damage_vision.data.paths import CONFIGS_DIR, data_available, data_root
from damage_vision.taxonomy import load_taxonomy
from damage_vision.training.config import read_list
from damage_vision.training.vehicle import uiuc_label

CONFIGS = CONFIGS_DIR

pytestmark = [
    pytest.mark.dataset,
    pytest.mark.skipif(
        not data_available(),
        reason="real datasets absent: set $DAMAGE_DATA_DIR or place them in ../shared/data",
    ),
]


def test_carparts_dsmlr_maps_to_the_reduced_parts() -> None:
    dataset = load_coco(data_root() / "carparts-dsmlr/train/annotations.json")
    assert len(dataset.images) == 400
    assert all(im.path.is_file() for im in dataset.images)
    parts = load_taxonomy("parts_reduced_dsmlr")
    assert find_source(parts, dataset.used_categories()) == "carparts-dsmlr"
    held_out = read_list(CONFIGS / "splits" / "carparts-dsmlr-val.txt")
    assert len(held_out) == 60
    assert len(dataset.subset(held_out).images) == 60


@pytest.mark.parametrize(("split", "count"), [("train", 1491), ("valid", 492)])
def test_damage_bilgi_maps_to_the_categorical_damage(split: str, count: int) -> None:
    dataset = load_coco(data_root() / f"damage-bilgi/{split}/_annotations.coco.json")
    assert len(dataset.images) == count
    assert "car" not in dataset.used_categories()
    assert (
        find_source(load_taxonomy("damage_categorical"), dataset.used_categories())
        == "damage-bilgi"
    )


def test_cardiag_mapping_names_every_category() -> None:
    dataset = load_coco(data_root() / "damaged-parts-cardiag/valid/_annotations.coco.json")
    mapping = load_mapping(CONFIGS / "mappings" / "damaged-parts-cardiag.yaml")
    assert set(dataset.used_categories()) <= set(mapping)
    parts = load_taxonomy("parts_reduced_dsmlr")
    assert all(v is None or v in parts.classes for v in mapping.values())


def test_uiuc_names_carry_the_label() -> None:
    labels = [uiuc_label(p) for p in (data_root() / "vehicle-uiuc/TrainImages").iterdir()]
    assert labels.count(1) == 550
    assert labels.count(0) == 500

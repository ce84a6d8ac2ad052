"""Taxonomies are data: counts, order, merge maps and severity weights."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from damage_vision.taxonomy import (
    TaxonomyError,
    available_taxonomies,
    load_taxonomy,
    taxonomy_from_dict,
)

DATA = Path(
    os.environ.get("DAMAGE_DATA_DIR", Path(__file__).resolve().parents[3] / "shared" / "data")
)

DSMLR_CATEGORIES = [
    "_background_",
    "back_bumper",
    "back_glass",
    "back_left_door",
    "back_left_light",
    "back_right_door",
    "back_right_light",
    "front_bumper",
    "front_glass",
    "front_left_door",
    "front_left_light",
    "front_right_door",
    "front_right_light",
    "hood",
    "left_mirror",
    "right_mirror",
    "tailgate",
    "trunk",
    "wheel",
]
BILGI_CATEGORIES = [
    "airbag",
    "astar",
    "cam_catlagi",
    "cizik",
    "far_hasar",
    "gocuk",
    "kaput_hasar",
    "kirik-kayip",
]


def test_shipped_taxonomies_and_their_sizes() -> None:
    sizes = {name: load_taxonomy(name).num_classes - 1 for name in available_taxonomies()}
    assert sizes == {
        "parts_original": 22,
        "parts_reduced": 13,
        "parts_reduced_dsmlr": 9,
        "parts_dsmlr": 18,
        "damage_original": 7,
        "damage_reduced": 5,
        "damage_categorical": 3,
        "damage_binary": 1,
        "damage_cardd": 6,
        "damage_bilgi": 8,
    }
    assert available_taxonomies("parts") == [
        "parts_dsmlr",
        "parts_original",
        "parts_reduced",
        "parts_reduced_dsmlr",
    ]


def test_index_zero_is_background_or_no_damage() -> None:
    for name in available_taxonomies("parts"):
        assert load_taxonomy(name).classes[0] == "background"
    for name in available_taxonomies("damage"):
        taxonomy = load_taxonomy(name)
        assert taxonomy.classes[0] == "no_damage"
        assert taxonomy.dsi_weight("no_damage") == 0.0


def test_reduced_dsmlr_classes_in_order() -> None:
    assert load_taxonomy("parts_reduced_dsmlr").classes == (
        "background",
        "bumper",
        "lamps",
        "windshield",
        "window",
        "door_shell",
        "hood",
        "wheel",
        "mirror",
        "trunk",
    )


def test_dsmlr_merge_joins_left_right_and_front_back() -> None:
    parts = load_taxonomy("parts_reduced_dsmlr")
    merged = [parts.classes[i] for i in parts.lookup_from("carparts-dsmlr", DSMLR_CATEGORIES)]
    assert dict(zip(DSMLR_CATEGORIES, merged, strict=True)) == {
        "_background_": "background",
        "back_bumper": "bumper",
        "back_glass": "window",
        "back_left_door": "door_shell",
        "back_left_light": "lamps",
        "back_right_door": "door_shell",
        "back_right_light": "lamps",
        "front_bumper": "bumper",
        "front_glass": "windshield",
        "front_left_door": "door_shell",
        "front_left_light": "lamps",
        "front_right_door": "door_shell",
        "front_right_light": "lamps",
        "hood": "hood",
        "left_mirror": "mirror",
        "right_mirror": "mirror",
        "tailgate": "trunk",
        "trunk": "trunk",
        "wheel": "wheel",
    }


@pytest.mark.dataset
def test_dsmlr_map_covers_every_category_of_the_real_data() -> None:
    annotations = DATA / "carparts-dsmlr" / "train" / "annotations.json"
    if not annotations.is_file():
        pytest.skip(f"{annotations} absent (set DAMAGE_DATA_DIR)")
    names = [c["name"] for c in json.loads(annotations.read_text())["categories"]]
    assert sorted(names) == sorted(DSMLR_CATEGORIES)


def test_bilgi_map_to_categorical() -> None:
    categorical = load_taxonomy("damage_categorical")
    merged = [
        categorical.classes[i] for i in categorical.lookup_from("damage-bilgi", BILGI_CATEGORIES)
    ]
    assert merged == [
        "body_damage",
        "surface_damage",
        "body_damage",
        "surface_damage",
        "body_damage",
        "deformity",
        "deformity",
        "body_damage",
    ]


def test_original_parts_merge_to_reduced_covers_all_22() -> None:
    original = load_taxonomy("parts_original")
    reduced = load_taxonomy("parts_reduced")
    lut = reduced.lookup_from("parts_original", original.classes)
    assert sorted({reduced.classes[i] for i in lut}) == sorted(reduced.classes)
    assert reduced.classes[lut[original.index("rocker_panel")]] == "panel"
    assert reduced.classes[lut[original.index("quarter_glass")]] == "window"


def test_label_map_conversion_between_taxonomies() -> None:
    original = load_taxonomy("damage_original")
    categorical = load_taxonomy("damage_categorical")
    label_map = np.array([[0, 1, 2], [3, 4, 5]], dtype=np.uint8)  # none, chip, scratch, dent...
    assert categorical.convert(original, label_map).tolist() == [[0, 1, 1], [2, 2, 3]]


def test_dsi_weights_of_cardd_are_paper_2_verbatim() -> None:
    cardd = load_taxonomy("damage_cardd")
    assert {c: cardd.dsi_weight(c) for c in cardd.classes[1:]} == {
        "crack": 100.0,
        "glass_shatter": 85.0,
        "dent": 70.0,
        "scratch": 55.0,
        "lamp_broken": 40.0,
        "tire_flat": 25.0,
    }


def test_every_damage_weight_comes_from_its_nearest_cardd_class() -> None:
    cardd = load_taxonomy("damage_cardd")
    for name in available_taxonomies("damage"):
        taxonomy = load_taxonomy(name)
        for cls in taxonomy.classes[1:]:
            nearest = taxonomy.nearest_cardd[cls]
            assert taxonomy.dsi_weight(cls) == cardd.dsi_weight(nearest), (name, cls)


def test_categorical_weights() -> None:
    categorical = load_taxonomy("damage_categorical")
    assert dict(categorical.nearest_cardd) == {
        "surface_damage": "scratch",
        "deformity": "dent",
        "body_damage": "crack",
    }


def test_unknown_names_raise_with_what_exists() -> None:
    with pytest.raises(TaxonomyError, match="shipped taxonomies"):
        load_taxonomy("parts_nonexistent")
    parts = load_taxonomy("parts_reduced")
    with pytest.raises(TaxonomyError, match="classes"):
        parts.index("spoiler")
    with pytest.raises(TaxonomyError, match="does not say where"):
        parts.lookup_from("parts_original", ["front_bumper", "spoiler"])
    with pytest.raises(TaxonomyError, match="no DSI weights"):
        parts.dsi_weight("bumper")


def test_malformed_taxonomy_is_rejected() -> None:
    with pytest.raises(TaxonomyError, match="dsi_weight"):
        taxonomy_from_dict(
            {"name": "x", "kind": "damage", "classes": [{"name": "no_damage"}, {"name": "dent"}]}
        )
    with pytest.raises(TaxonomyError, match="unknown classes"):
        taxonomy_from_dict(
            {
                "name": "x",
                "kind": "parts",
                "classes": [{"name": "background"}, {"name": "door"}],
                "merge_maps": {"src": {"a": "roof"}},
            }
        )


def test_colours_are_rgb_triples() -> None:
    palette = load_taxonomy("parts_reduced_dsmlr").palette()
    assert palette.shape == (10, 3)
    assert palette.dtype == np.uint8
    assert palette[0].tolist() == [0, 0, 0]

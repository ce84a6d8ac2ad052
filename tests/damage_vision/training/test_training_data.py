"""COCO loading, taxonomy mapping, rasterisation, caching, joint dataset, augmentation, sampling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from damage_vision.data.augment import hflip, left_right_swap_lut
from damage_vision.data.coco import (
    IGNORE_INDEX,
    cached_label_maps,
    category_lookup,
    decode_segmentation,
    find_source,
    load_coco,
    load_mapping,
    rasterise,
    read_label_map,
)
from damage_vision.data.datasets import (
    JointSegmentationDataset,
    SegSample,
    load_coco_samples,
    pad_collate,
    sampling_plan,
    split_names,
    take_fraction,
)
from damage_vision.taxonomy import TaxonomyError, load_taxonomy

PARTS = load_taxonomy("parts_reduced_dsmlr")
DAMAGE = load_taxonomy("damage_categorical")


def test_polygon_is_rasterised_on_pixel_corners() -> None:
    mask = decode_segmentation([[1, 1, 4, 1, 4, 4, 1, 4]], 6, 6)
    expected = np.zeros((6, 6), dtype=bool)
    expected[1:4, 1:4] = True
    assert np.array_equal(mask, expected)


def test_uncompressed_rle_is_column_major() -> None:
    mask = decode_segmentation({"size": [3, 3], "counts": [1, 2, 6]}, 3, 3)
    # column-major: pixel 0 off, pixels 1-2 on (rows 1-2 of column 0), the rest off
    assert mask.astype(int).tolist() == [[0, 0, 0], [1, 0, 0], [1, 0, 0]]


def test_compressed_rle_string_decodes(rle_coco: Path) -> None:
    dataset = load_coco(rle_coco)
    seg = dataset.annotations[7][0].segmentation
    mask = decode_segmentation(seg, 64, 64)
    assert mask.sum() == 200
    assert mask[10:20, 30:50].all()


def test_rle_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError, match="full size"):
        decode_segmentation({"size": [2, 2], "counts": [4]}, 3, 3)


def test_degenerate_and_empty_segmentations_give_empty_masks() -> None:
    assert decode_segmentation([[1, 1, 2, 2]], 4, 4).sum() == 0
    assert decode_segmentation([], 4, 4).sum() == 0


def test_roboflow_layout_and_auto_mapping(damage_coco: Path) -> None:
    dataset = load_coco(damage_coco)
    assert [im.path.name for im in dataset.images] == ["dmg0.jpg", "dmg1.jpg", "dmg2.jpg"]
    assert all(im.path.is_file() for im in dataset.images)
    assert dataset.used_categories() == ["cizik", "gocuk"]  # `car` (id 0) is unused
    assert find_source(DAMAGE, dataset.used_categories()) == "damage-bilgi"
    lut = category_lookup(dataset, DAMAGE)
    assert lut == {4: DAMAGE.index("surface_damage"), 6: DAMAGE.index("deformity")}


def test_annotator_layout_and_small_regions_painted_last(parts_coco: Path) -> None:
    dataset = load_coco(parts_coco)
    assert all(im.path.is_file() and im.path.parent.name == "JPEGImages" for im in dataset.images)
    lut = category_lookup(dataset, PARTS)
    label = rasterise(dataset.images[0], dataset.annotations[1], lut)
    door, lamps = PARTS.index("door_shell"), PARTS.index("lamps")
    expected = np.zeros((64, 64), dtype=np.uint8)
    expected[0:40, 0:40] = door
    expected[8:16, 8:16] = lamps  # the lamp lies on the door and keeps its label
    assert np.array_equal(label, expected)


def test_unknown_categories_ask_for_a_mapping_file(tmp_path: Path, damage_coco: Path) -> None:
    doc = json.loads(damage_coco.read_text())
    doc["categories"][1]["name"] = "rayure"  # French for scratch: no merge map knows it
    path = damage_coco.with_name("other.json")
    path.write_text(json.dumps(doc))
    dataset = load_coco(path)
    with pytest.raises(TaxonomyError, match="--mapping FILE"):
        category_lookup(dataset, DAMAGE)
    mapping_file = tmp_path / "map.yaml"
    mapping_file.write_text("mapping:\n  rayure: surface_damage\n  gocuk: null\n")
    lut = category_lookup(dataset, DAMAGE, load_mapping(mapping_file))
    assert lut == {4: DAMAGE.index("surface_damage"), 6: IGNORE_INDEX}


def test_taxonomy_class_names_map_to_themselves(rle_coco: Path) -> None:
    dataset = load_coco(rle_coco)
    assert category_lookup(dataset, DAMAGE) == {2: DAMAGE.index("deformity")}


def test_label_maps_are_cached_once(tmp_path: Path, parts_coco: Path) -> None:
    dataset = load_coco(parts_coco)
    lut = category_lookup(dataset, PARTS)
    first = cached_label_maps(dataset, PARTS, lut, tmp_path / "c")
    stamps = {k: p.stat().st_mtime_ns for k, p in first.items()}
    second = cached_label_maps(dataset, PARTS, lut, tmp_path / "c")
    assert first == second
    assert {k: p.stat().st_mtime_ns for k, p in second.items()} == stamps
    wheel = read_label_map(first[2])
    assert int((wheel == PARTS.index("wheel")).sum()) == 32 * 16
    assert set(np.unique(read_label_map(first[4])).tolist()) == {0}


def test_subset_keeps_listed_images_and_rejects_unknown(parts_coco: Path) -> None:
    dataset = load_coco(parts_coco)
    assert [im.file_name for im in dataset.subset(["train2.jpg", "train0.jpg"]).images] == [
        "train0.jpg",
        "train2.jpg",
    ]
    with pytest.raises(ValueError, match="not in"):
        dataset.subset(["nope.jpg"])


def test_swap_lut_exchanges_left_and_right() -> None:
    classes = [
        "background",
        "front_left_door",
        "front_right_door",
        "hood",
        "left_mirror",
        "right_mirror",
    ]
    lut = left_right_swap_lut(classes)
    assert lut[:6].tolist() == [0, 2, 1, 3, 5, 4]
    assert lut[IGNORE_INDEX] == IGNORE_INDEX
    assert np.array_equal(left_right_swap_lut(PARTS.classes)[:10], np.arange(10))


def test_hflip_mirrors_and_relabels() -> None:
    image = np.zeros((2, 3, 3), dtype=np.uint8)
    image[:, 0] = 255
    mask = np.array([[1, 0, 2], [1, 0, 0]], dtype=np.uint8)
    lut = left_right_swap_lut(["bg", "left_x", "right_x"])
    flipped, (m,) = hflip(image, [mask], [lut])
    assert flipped[:, 2].min() == 255
    assert flipped[:, 0].max() == 0
    assert m.tolist() == [[1, 0, 2], [0, 0, 2]]


def test_joint_dataset_ignores_the_head_without_labels(damage_coco: Path, parts_coco: Path) -> None:
    samples = load_coco_samples(damage_coco, "damage", DAMAGE) + load_coco_samples(
        parts_coco, "parts", PARTS
    )
    ds = JointSegmentationDataset(samples, resize=48, train=False)
    item = ds[0]  # damage image: a scratch in the top-left quarter
    assert item["image"].shape == (3, 64, 64)  # 48 padded to 64
    assert torch.all(item["parts"] == IGNORE_INDEX)
    assert torch.all(item["damage"][48:, :] == IGNORE_INDEX)  # padding
    assert torch.all(item["damage"][:24, :24] == DAMAGE.index("surface_damage"))
    assert int((item["damage"] == DAMAGE.index("surface_damage")).sum()) == 24 * 24
    parts_item = ds[3]
    assert torch.all(parts_item["damage"] == IGNORE_INDEX)
    assert int((parts_item["parts"] != IGNORE_INDEX).sum()) == 48 * 48
    # padding is the mean colour: zero after normalisation
    assert float(item["image"][:, 48:, :].abs().max()) == 0.0


def test_training_items_are_cropped_and_keep_ignore_on_absent_heads(damage_coco: Path) -> None:
    samples = load_coco_samples(damage_coco, "damage", DAMAGE)
    ds = JointSegmentationDataset(samples, resize=64, crop=32, train=True, seed=0)
    for i in range(len(ds)):
        item = ds[i]
        assert item["image"].shape == (3, 32, 32)
        assert torch.all(item["parts"] == IGNORE_INDEX)
        assert set(torch.unique(item["damage"]).tolist()) <= {0, 1, 2, 3}


def test_pad_collate_pads_labels_with_ignore() -> None:
    a = {
        "image": torch.ones(3, 2, 2),
        "parts": torch.zeros(2, 2, dtype=torch.long),
        "damage": torch.zeros(2, 2, dtype=torch.long),
    }
    b = {
        "image": torch.ones(3, 4, 3),
        "parts": torch.ones(4, 3, dtype=torch.long),
        "damage": torch.ones(4, 3, dtype=torch.long),
    }
    batch = pad_collate([a, b])
    assert batch["image"].shape == (2, 3, 4, 3)
    assert batch["parts"][0].tolist() == [
        [0, 0, 255],
        [0, 0, 255],
        [255, 255, 255],
        [255, 255, 255],
    ]
    assert float(batch["image"][0, :, 2:, :].abs().sum()) == 0.0


def test_sampling_plans() -> None:
    # 4 images, 3 classes; class 2 is in one image only
    presence = np.array([[1, 1, 0], [1, 1, 0], [1, 1, 0], [1, 0, 1]], dtype=bool)
    assert sampling_plan(presence, "none", 0) == [0, 1, 2, 3]
    over = sampling_plan(presence, "over", 0)
    assert len(over) == 4
    assert sampling_plan(presence, "over", 0) == over  # seeded
    under = sampling_plan(presence, "under", 0)
    assert len(under) == 3  # 3 classes present x 1 image of the rarest class
    assert len(set(under)) == 3
    with pytest.raises(ValueError, match="none, under or over"):
        sampling_plan(presence, "bogus", 0)  # type: ignore[arg-type]


def test_over_sampling_weights_the_rare_class_most() -> None:
    presence = np.array([[1, 1, 0]] * 9 + [[1, 0, 1]], dtype=bool)
    draws = [i for seed in range(50) for i in sampling_plan(presence, "over", seed)]
    # weight of the rare image: 1/1, of each other: 1/9 -> expected share 0.5
    share = draws.count(9) / len(draws)
    assert 0.4 < share < 0.6


def test_split_names_is_seeded_and_disjoint() -> None:
    names = [f"im{i}.jpg" for i in range(20)]
    keep, held = split_names(names, 0.25, seed=3)
    assert len(held) == 5
    assert len(keep) == 15
    assert not set(keep) & set(held)
    assert split_names(list(reversed(names)), 0.25, seed=3) == (keep, held)


def test_take_fraction_per_source() -> None:
    samples = [SegSample(Path(f"{s}{i}"), None, None, s) for s in ("a", "b") for i in range(10)]
    half = take_fraction(samples, 0.5, seed=0)
    assert [s.source for s in half].count("a") == 5
    assert [s.source for s in half].count("b") == 5
    assert take_fraction(samples, 1.0, 0) == samples
    with pytest.raises(ValueError, match="fraction"):
        take_fraction(samples, 0.0, 0)

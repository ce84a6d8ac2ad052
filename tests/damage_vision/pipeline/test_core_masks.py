"""COCO RLE of finding masks, and masks carried from the processed grid to the photo."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from damage_vision.pipeline.masks import mask_to_rle, resize_mask, rle_at_size, rle_to_mask


def test_a_known_mask_has_the_known_rle() -> None:
    mask = np.array([[0, 1, 1], [0, 0, 1]], dtype=bool)
    # Column-major runs: 2 off, 1 on, 1 off, 2 on.
    rle = mask_to_rle(mask)
    assert rle == {"size": [2, 3], "counts": "2111"}
    decoded = coco_mask.decode({"size": [2, 3], "counts": b"2111"})
    assert decoded.tolist() == [[0, 1, 1], [0, 0, 1]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_round_trip_through_json(seed: int) -> None:
    mask = np.random.default_rng(seed).random((37, 53)) > 0.6
    rle = json.loads(json.dumps(mask_to_rle(mask)))  # plain str counts survive JSON
    assert rle["size"] == [37, 53]
    assert isinstance(rle["counts"], str)
    back = rle_to_mask(rle)
    assert back.dtype == np.bool_
    assert np.array_equal(back, mask)
    as_bytes = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
    assert np.array_equal(rle_to_mask(as_bytes), mask)


def test_empty_and_full_masks_round_trip() -> None:
    for mask in (np.zeros((4, 5), dtype=bool), np.ones((4, 5), dtype=bool)):
        assert np.array_equal(rle_to_mask(mask_to_rle(mask)), mask)
    assert mask_to_rle(np.zeros((4, 5), dtype=bool)) == {"size": [4, 5], "counts": "d0"}
    assert mask_to_rle(np.ones((4, 5), dtype=bool)) == {"size": [4, 5], "counts": "0d0"}


def test_resize_to_a_whole_multiple_repeats_each_pixel() -> None:
    mask = np.array([[1, 0, 0], [0, 1, 1]], dtype=bool)
    resized = resize_mask(mask, (6, 4))  # (width, height): 2x in both directions
    assert resized.shape == (4, 6)
    assert resized.tolist() == [
        [True, True, False, False, False, False],
        [True, True, False, False, False, False],
        [False, False, True, True, True, True],
        [False, False, True, True, True, True],
    ]


def test_resize_by_a_fraction_takes_the_pixel_each_centre_falls_in() -> None:
    # Target centres 0.5, 1.5, 2.5 map to 0.33, 1.0, 1.67 in the source: rows 0, 1, 1.
    resized = resize_mask(np.array([[1, 0], [0, 1]], dtype=bool), (3, 3))
    assert resized.astype(int).tolist() == [[1, 0, 0], [0, 1, 1], [0, 1, 1]]
    same = np.array([[1, 0], [0, 1]], dtype=np.uint8)
    assert resize_mask(same, (2, 2)).tolist() == [[True, False], [False, True]]


def test_rle_at_size_is_the_rle_of_the_resized_mask() -> None:
    mask = np.zeros((3, 4), dtype=bool)
    mask[1, 1:3] = True
    rle = rle_at_size(mask, (8, 6))
    assert rle["size"] == [6, 8]  # COCO order: height, width
    expected = np.zeros((6, 8), dtype=bool)
    expected[2:4, 2:6] = True
    assert np.array_equal(coco_mask.decode({**rle, "counts": rle["counts"].encode()}), expected)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="must be 2-D, got shape"):
        mask_to_rle(np.zeros((2, 3, 1), dtype=bool))
    with pytest.raises(ValueError, match="must be 2-D, got shape"):
        mask_to_rle(np.zeros(5, dtype=bool))
    with pytest.raises(ValueError, match="target size must be positive"):
        resize_mask(np.ones((2, 2), dtype=bool), (0, 4))
    with pytest.raises(ValueError, match="target size must be positive"):
        rle_at_size(np.ones((2, 2), dtype=bool), (4, -1))

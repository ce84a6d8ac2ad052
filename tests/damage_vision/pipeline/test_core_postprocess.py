"""Damaged parts, sizes, C_base and the photo DSI on maps whose answers are worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from damage_vision.pipeline.postprocess import (
    analyse_photo,
    find_damaged_parts,
    perspective_class,
    reference_scale,
    size_class,
    softmax_maps,
    visible_parts,
)
from damage_vision.pipeline.settings import PipelineSettings
from damage_vision.taxonomy import load_taxonomy, taxonomy_from_dict

PARTS = load_taxonomy("parts_reduced_dsmlr")  # 1 bumper, 2 lamps, ..., 7 wheel
DAMAGE = load_taxonomy("damage_categorical")  # 1 surface_damage (55), 2 deformity (70)
EXACT = PipelineSettings(min_region_px=1, grouping="paper")  # the paper's D_k rule


def two_blobs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """10x10: bumper on columns 0-4, lamps on 5-9; a 3x3 scratch blob on the bumper and a
    2x4 dent blob on the lamps, each with its own planted probabilities."""
    parts = np.zeros((10, 10), dtype=np.uint8)
    parts[:, :5] = 1
    parts[:, 5:] = 2
    damage = np.zeros((10, 10), dtype=np.uint8)
    prob = np.full((10, 10), 0.99, dtype=np.float32)
    damage[1:4, 1:4] = 1
    prob[1:4, 1:4] = np.array([[0.5, 0.6, 0.7], [0.8, 0.9, 0.5], [0.6, 0.7, 0.8]])
    damage[6:8, 5:9] = 2
    prob[6:8, 5:9] = np.array([[0.25, 0.5, 0.75, 1.0], [0.5, 0.5, 0.5, 0.5]])
    return parts, damage, prob


def test_two_planted_blobs_give_two_exact_findings() -> None:
    parts, damage, prob = two_blobs()
    findings = find_damaged_parts(parts, damage, prob, PARTS, DAMAGE, EXACT)
    assert [(f.part, f.damage, f.area_px, f.part_area_px, f.box) for f in findings] == [
        ("bumper", "surface_damage", 9, 50, (1, 1, 4, 4)),
        ("lamps", "deformity", 8, 50, (5, 6, 9, 8)),
    ]
    scratch, dent = findings
    assert scratch.c_base == pytest.approx(
        (0.5 + 0.6 + 0.7 + 0.8 + 0.9 + 0.5 + 0.6 + 0.7 + 0.8) / 9
    )
    assert dent.c_base == pytest.approx((0.25 + 0.5 + 0.75 + 1.0 + 0.5 * 4) / 8)
    assert scratch.share_of_part == 9 / 50
    assert dent.share_of_part == 8 / 50
    assert scratch.size_class == "medium"  # 0.18: 0.10 <= share < 0.30
    assert int(scratch.mask.sum()) == 9
    assert bool(scratch.mask[1:4, 1:4].all())
    # S_i = 0.4 A + 0.2 C + 0.4 D with A = 9 / 100 x 100 = 9
    assert scratch.severity.area == pytest.approx(9.0)
    assert scratch.severity.score == pytest.approx(0.4 * 9 + 0.2 * scratch.c_base * 100 + 0.4 * 55)
    assert dent.c_base == 0.5625
    assert dent.severity.score == pytest.approx(0.4 * 8 + 0.2 * 56.25 + 0.4 * 70)


def test_full_probability_volume_gives_the_same_c_base() -> None:
    parts, damage, prob = two_blobs()
    volume = np.zeros((4, 10, 10), dtype=np.float32)
    volume[damage, np.arange(10)[:, None], np.arange(10)[None, :]] = prob
    from_volume = find_damaged_parts(parts, damage, volume, PARTS, DAMAGE, EXACT)
    from_map = find_damaged_parts(parts, damage, prob, PARTS, DAMAGE, EXACT)
    assert [f.c_base for f in from_volume] == pytest.approx([f.c_base for f in from_map])


def test_a_blob_across_two_parts_is_two_damaged_parts() -> None:
    parts, damage, prob = two_blobs()
    damage[:] = 0
    damage[0:2, 3:7] = 1  # 2 rows x columns 3,4 on the bumper and 5,6 on the lamps
    findings = find_damaged_parts(parts, damage, prob, PARTS, DAMAGE, EXACT)
    assert [(f.part, f.area_px) for f in findings] == [("bumper", 4), ("lamps", 4)]


def test_connectivity_and_minimum_area() -> None:
    parts = np.ones((6, 6), dtype=np.uint8)
    damage = np.zeros((6, 6), dtype=np.uint8)
    damage[0, 0] = damage[1, 1] = damage[2, 2] = 1  # a diagonal: one region at 8, three at 4
    damage[4:6, 4:6] = 1  # 4 pixels
    prob = np.ones((6, 6), dtype=np.float32)
    eight = find_damaged_parts(parts, damage, prob, PARTS, DAMAGE, EXACT)
    four = find_damaged_parts(
        parts,
        damage,
        prob,
        PARTS,
        DAMAGE,
        PipelineSettings(min_region_px=1, connectivity=4, grouping="paper"),
    )
    assert [f.area_px for f in eight] == [3, 4]
    assert [f.area_px for f in four] == [1, 1, 1, 4]
    filtered = find_damaged_parts(
        parts, damage, prob, PARTS, DAMAGE, PipelineSettings(min_region_px=4, grouping="paper")
    )
    assert [f.area_px for f in filtered] == [4]


def test_damage_off_every_part_is_on_other_panel_never_background() -> None:
    parts = np.zeros((4, 4), dtype=np.uint8)
    damage = np.zeros((4, 4), dtype=np.uint8)
    damage[0:2, 0:2] = 3
    for settings_ in (EXACT, PipelineSettings(min_damage_share=0.0, speck_share=0.0)):
        findings = find_damaged_parts(
            parts, damage, np.ones((4, 4), np.float32), PARTS, DAMAGE, settings_
        )
        # No part pixel anywhere: the part map is no evidence, so the damage is kept on a
        # panel the part model does not label; its "part" is the unlabelled area.
        assert [(f.part, f.damage, f.area_px, f.part_area_px) for f in findings] == [
            ("other_panel", "body_damage", 4, 16)
        ]


def test_softmax_maps_by_hand() -> None:
    parts = np.array([[[1.0, 0.0]], [[0.0, 2.0]]], dtype=np.float32)  # 2 classes, 1x2
    damage = np.array([[[0.0, 0.0]], [[math.log(3.0), 0.0]]], dtype=np.float32)
    part_map, damage_map, damage_prob = softmax_maps(parts, damage)
    assert part_map.tolist() == [[0, 1]]
    assert damage_map.tolist() == [[1, 0]]
    assert damage_prob[0].tolist() == pytest.approx([0.75, 0.5])


def test_visible_parts_and_perspective() -> None:
    settings_ = PipelineSettings(min_part_share=0.1)
    parts = np.zeros((10, 10), dtype=np.uint8)
    parts[0, :] = 1  # 10 px = 0.10: visible
    parts[1, :9] = 2  # 9 px: not visible
    assert visible_parts(parts, PARTS, settings_) == frozenset({"bumper"})
    s = PipelineSettings()
    assert [perspective_class(n, s) for n in (0, 1, 2, 3, 4, 5, 9)] == [
        "none",
        "close_up",
        "close_up",
        "partial_view",
        "partial_view",
        "full_view",
        "full_view",
    ]


def test_a_known_physical_size_decides_the_size_class() -> None:
    s = PipelineSettings(small_below_cm2=400.0, large_from_cm2=2500.0)
    # A 2 m² damage on a huge unlabelled area is not "small" whatever its share.
    assert [size_class(0.01, s, a) for a in (0.0, 399.9, 400.0, 2499.9, 2500.0, 20000.0)] == [
        "small",
        "small",
        "medium",
        "medium",
        "large",
        "large",
    ]
    assert size_class(0.5, s, None) == "large"  # no scale: the share decides
    with pytest.raises(ValueError, match="small_below_cm2"):
        PipelineSettings(small_below_cm2=3000.0, large_from_cm2=2500.0)


def test_size_classes_at_their_edges() -> None:
    s = PipelineSettings(small_below=0.1, large_from=0.3)
    assert [size_class(v, s) for v in (0.0, 0.0999, 0.1, 0.2999, 0.3, 1.0)] == [
        "small",
        "small",
        "medium",
        "medium",
        "large",
        "large",
    ]


def test_physical_size_from_a_reference_part() -> None:
    parts_tax = taxonomy_from_dict(
        {
            "name": "t",
            "kind": "parts",
            "classes": [{"name": "background"}, {"name": "door"}, {"name": "wheel"}],
            "reference_parts": {"wheel": {"area_cm2": 100.0, "sd_cm2": 10.0}},
        }
    )
    s = PipelineSettings(min_region_px=1, min_reference_px=4, depth_rel_sd=0.2)
    parts = np.ones((12, 12), dtype=np.uint8)
    parts[2:6, 2:7] = 2  # a wheel of 20 px inside the photo: 5 cm^2 per pixel
    parts[9:12, 9:12] = 2  # a wheel cut by the border: ignored
    scale = reference_scale(parts, parts_tax, s)
    assert scale is not None
    assert scale.cm2_per_px == pytest.approx(5.0)
    assert scale.rel_sd == pytest.approx(math.hypot(0.1, 0.2))
    damage = np.zeros((12, 12), dtype=np.uint8)
    damage[8:10, 0:3] = 2  # 6 px of deformity on the door
    analysis = analyse_photo(parts, damage, np.ones((12, 12), np.float32), parts_tax, DAMAGE, s)
    (finding,) = analysis.findings
    assert finding.area_cm2 == pytest.approx(30.0)
    assert finding.area_cm2_uncertainty == pytest.approx(30.0 * math.hypot(0.1, 0.2))


def test_no_reference_part_no_physical_size() -> None:
    parts, damage, prob = two_blobs()
    analysis = analyse_photo(parts, damage, prob, PARTS, DAMAGE, EXACT)
    assert analysis.scale is None
    assert all(f.area_cm2 is None and f.area_cm2_uncertainty is None for f in analysis.findings)


def test_photo_dsi_is_the_mean_of_s_i() -> None:
    parts, damage, prob = two_blobs()
    analysis = analyse_photo(parts, damage, prob, PARTS, DAMAGE, EXACT)
    scratch, dent = analysis.findings
    assert analysis.dsi == pytest.approx((scratch.severity.score + dent.severity.score) / 2)
    empty = analyse_photo(parts, np.zeros_like(damage), prob, PARTS, DAMAGE, EXACT)
    assert empty.findings == ()
    assert empty.dsi == 0.0


def test_maps_of_different_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in size"):
        find_damaged_parts(
            np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8), np.zeros((4, 4)), PARTS, DAMAGE
        )


maps = st.integers(min_value=2, max_value=14).flatmap(
    lambda h: st.integers(min_value=2, max_value=14).flatmap(
        lambda w: st.tuples(
            arrays(np.uint8, (h, w), elements=st.integers(0, 3)),
            arrays(np.uint8, (h, w), elements=st.integers(0, 3)),
            arrays(np.float32, (h, w), elements=st.floats(0.0, 1.0, width=32)),
            st.integers(min_value=1, max_value=5),
        )
    )
)


@settings(max_examples=60, deadline=None)
@given(maps)
def test_findings_never_overlap_nor_exceed_their_part(
    case: tuple[np.ndarray, np.ndarray, np.ndarray, int],
) -> None:
    parts, damage, prob, min_px = case
    paper = PipelineSettings(min_region_px=min_px, grouping="paper")
    findings = find_damaged_parts(parts, damage, prob, PARTS, DAMAGE, paper)
    cover = np.zeros(parts.shape, dtype=np.int32)
    for f in findings:
        cover += f.mask
        assert f.area_px == int(f.mask.sum()) >= min_px
        index = 0 if f.part == "other_panel" else PARTS.index(f.part)
        assert f.area_px <= f.part_area_px == int((parts == index).sum())
        assert 0.0 <= f.share_of_part <= 1.0
        assert 0.0 <= f.c_base <= 1.0
        assert f.confidence == f.c_base  # no calibrator
        assert 0.0 <= f.severity.score <= 100.0
        assert bool((parts[f.mask] == index).all())
        assert bool((damage[f.mask] == DAMAGE.index(f.damage)).all())
    assert int(cover.max(initial=0)) <= 1
    # every damaged pixel not in a finding belongs to a region below the minimum area
    if min_px == 1:
        assert int(cover.sum()) == int((damage > 0).sum())
    analysis = analyse_photo(parts, damage, prob, PARTS, DAMAGE, paper)
    assert 0.0 <= analysis.dsi <= 100.0
    # Whole findings on the same maps: never overlapping, each inside the damage.
    whole = find_damaged_parts(parts, damage, prob, PARTS, DAMAGE, PipelineSettings())
    cover = np.zeros(parts.shape, dtype=np.int32)
    for f in whole:
        cover += f.mask
        assert f.area_px == int(f.mask.sum()) <= f.part_area_px
        assert bool((damage[f.mask] == DAMAGE.index(f.damage)).all())
        assert f.part != "background"
    assert int(cover.max(initial=0)) <= 1


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 12).flatmap(
        lambda c: arrays(np.float32, (c, 5, 7), elements=st.sampled_from([-1.0, 0.0, 0.5, 2.0]))
    )
)
def test_maps_equal_numpy_argmax_including_ties(logits: np.ndarray) -> None:
    part_map, damage_map, damage_prob = softmax_maps(logits, logits)
    assert np.array_equal(part_map, np.argmax(logits, axis=0))
    assert np.array_equal(damage_map, np.argmax(logits, axis=0))
    exp = np.exp(logits - logits.max(axis=0))
    expected = (exp / exp.sum(axis=0)).max(axis=0)
    assert np.allclose(damage_prob, expected, atol=1e-6)

"""One capability's tests, sharing its helpers: every grouping rule and its settings checks use the
same hand-worked 100 x 100 maps and the `find` and `summary` helpers.

Whole findings (`grouping.whole_regions`) and their use in `find_damaged_parts`, on
100 x 100 maps whose answers are worked by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt
import pytest

from damage_vision.pipeline.grouping import OTHER, OTHER_PANEL, whole_regions
from damage_vision.pipeline.postprocess import argmax_map, damage_probabilities, find_damaged_parts
from damage_vision.pipeline.settings import PipelineSettings
from damage_vision.pipeline.types import DamagedPart
from damage_vision.taxonomy import load_taxonomy

PARTS = load_taxonomy("parts_reduced_dsmlr")  # 1 bumper, 5 door_shell, 6 hood, 7 wheel
DAMAGE = load_taxonomy("damage_categorical")  # 1 surface_damage, 2 deformity, 3 body_damage
BUMPER, DOOR, HOOD, WHEEL = 1, 5, 6, 7
SCRATCH, DENT = 1, 2

# Every "whole" setting spelled out, so that a change of a default moves no test. On a
# 100 x 100 photo: specks below 5 px, gaps up to 3 px bridged, damages below 20 px
# dropped, a part needs 30% of a damage, background damage within 5 px of a part is on
# the car, parts must cover 10% of the frame to be evidence.
WHOLE = PipelineSettings(
    grouping="whole",
    speck_share=0.0005,
    merge_gap_share=0.03,
    min_damage_share=0.002,
    part_cover_min=0.3,
    vehicle_reach_share=0.05,
    close_up_part_share=0.1,
    damage_pixels="argmax",
    merge_classes=False,
    min_region_px=1,
)
PAPER = dataclasses.replace(WHOLE, grouping="paper")


def volume(damage: npt.NDArray[np.uint8], top: float = 0.8) -> npt.NDArray[np.float32]:
    """(4, H, W) probabilities consistent with `damage` as the argmax: a damage pixel gives
    its class `top` and shares the rest evenly; other pixels are 0.91 "no damage"."""
    probs = np.zeros((4, *damage.shape), dtype=np.float32)
    for c in range(4):
        probs[c] = np.where(damage == 0, 0.03, (1.0 - top) / 3)
        probs[c][damage == c] = top if c else 0.91
    return probs


def summary(findings: list[DamagedPart]) -> list[tuple[object, ...]]:
    return [(f.part, f.damage, f.area_px, f.box, f.fragments) for f in findings]


def find(
    parts: npt.NDArray[np.uint8],
    damage: npt.NDArray[np.uint8],
    settings: PipelineSettings = WHOLE,
    probs: npt.NDArray[np.float32] | None = None,
) -> list[DamagedPart]:
    prob = volume(damage) if probs is None else probs
    return find_damaged_parts(parts, damage, prob, PARTS, DAMAGE, settings)


def door_photo() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """A door over rows 20-79, columns 10-89 (48% of the frame), no damage yet."""
    parts = np.zeros((100, 100), dtype=np.uint8)
    parts[20:80, 10:90] = DOOR
    return parts, np.zeros((100, 100), dtype=np.uint8)


# Fragments and specks ---------------------------------------------------------------------


def three_fragments() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Three 6 x 6 dent fragments in a row on the door, 2 px apart."""
    parts, damage = door_photo()
    for x in (30, 38, 46):
        damage[40:46, x : x + 6] = DENT
    return parts, damage


def test_three_fragments_of_one_dent_are_one_finding() -> None:
    parts, damage = three_fragments()
    findings = find(parts, damage)
    assert summary(findings) == [("door_shell", "deformity", 108, (30, 40, 52, 46), 3)]
    (dent,) = findings
    # the finding is the fragments' own pixels, not the bridged gaps
    assert np.array_equal(dent.mask, damage > 0)
    assert dent.part_area_px == 4800
    assert dent.share_of_part == 108 / 4800
    assert dent.c_base == pytest.approx(0.8)
    assert dent.evidence["fragments"] == 2.0  # log2(1 + 3)
    assert dent.evidence["part_cover"] == 1.0


def test_the_paper_grouping_keeps_the_three_fragments_apart() -> None:
    parts, damage = three_fragments()
    assert summary(find(parts, damage, PAPER)) == [
        ("door_shell", "deformity", 36, (30, 40, 36, 46), 1),
        ("door_shell", "deformity", 36, (38, 40, 44, 46), 1),
        ("door_shell", "deformity", 36, (46, 40, 52, 46), 1),
    ]


def test_a_gap_wider_than_the_merge_gap_keeps_two_damages() -> None:
    parts, damage = door_photo()
    damage[40:46, 30:36] = DENT
    damage[40:46, 44:50] = DENT  # 8 px apart; a disc of radius 3 bridges at most 6
    assert summary(find(parts, damage)) == [
        ("door_shell", "deformity", 36, (30, 40, 36, 46), 1),
        ("door_shell", "deformity", 36, (44, 40, 50, 46), 1),
    ]


def test_a_speck_below_speck_share_is_dropped() -> None:
    parts, damage = door_photo()
    damage[40:50, 30:40] = DENT  # 100 px
    damage[70:72, 70:72] = DENT  # 4 px alone, below 5 px
    damage[40:42, 42:44] = DENT  # 4 px, 2 px from the dent: dropped before merging
    findings = find(parts, damage)
    assert summary(findings) == [("door_shell", "deformity", 100, (30, 40, 40, 50), 1)]
    assert int(findings[0].mask[40:42, 42:44].sum()) == 0


def test_a_fragment_of_speck_size_joins_the_damage_it_is_near() -> None:
    parts, damage = door_photo()
    damage[40:50, 30:40] = DENT
    damage[40, 42:47] = DENT  # 5 px: not a speck, merged across the 2 px gap
    assert summary(find(parts, damage)) == [("door_shell", "deformity", 105, (30, 40, 47, 50), 2)]


def test_a_damage_below_min_damage_share_is_dropped() -> None:
    parts, damage = door_photo()
    damage[40:44, 30:35] = DENT  # 20 px: kept
    damage[60:63, 60:66] = SCRATCH  # 18 px: no speck, but below 20 px
    assert summary(find(parts, damage)) == [("door_shell", "deformity", 20, (30, 40, 35, 44), 1)]


@pytest.mark.parametrize(("side", "expected"), [(100, (416, 2)), (200, (400, 1))])
def test_the_speck_size_scales_with_the_photo(side: int, expected: tuple[int, int]) -> None:
    """A 16 px fragment 4 px from a 400 px dent: a fragment on 100 x 100 (specks are
    below 5 px), a speck on 200 x 200 (below 20 px). The gap is bridged in both."""
    parts = np.zeros((side, side), dtype=np.uint8)
    parts[:, :] = DOOR
    damage = np.zeros((side, side), dtype=np.uint8)
    damage[40:60, 30:50] = DENT
    damage[40:44, 54:58] = DENT
    findings = find(parts, damage)
    assert [(f.area_px, f.fragments) for f in findings] == [expected]


# Assigning a damage to the parts it covers ----------------------------------------------


def door_over_bumper() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Door on rows 0-49, bumper on rows 50-99, both the full width."""
    parts = np.zeros((100, 100), dtype=np.uint8)
    parts[:50] = DOOR
    parts[50:] = BUMPER
    return parts, np.zeros((100, 100), dtype=np.uint8)


def test_a_dent_80_percent_on_the_door_is_one_finding_on_the_door() -> None:
    parts, damage = door_over_bumper()
    damage[42:52, 40:50] = DENT  # rows 42-49 on the door (80 px), 50-51 on the bumper (20)
    findings = find(parts, damage)
    assert summary(findings) == [("door_shell", "deformity", 100, (40, 42, 50, 52), 1)]
    (dent,) = findings
    assert np.array_equal(dent.mask, damage > 0)  # the bumper sliver joins the door
    assert dent.evidence["part_cover"] == 0.8
    (region,) = whole_regions(parts, damage, volume(damage), PARTS.num_classes, WHOLE)
    assert (region.part, region.damage, region.part_cover, region.fragments) == (
        DOOR,
        DENT,
        0.8,
        1,
    )


def test_the_paper_grouping_splits_the_80_20_dent_in_two() -> None:
    parts, damage = door_over_bumper()
    damage[42:52, 40:50] = DENT
    assert summary(find(parts, damage, PAPER)) == [
        ("bumper", "deformity", 20, (40, 50, 50, 52), 1),
        ("door_shell", "deformity", 80, (40, 42, 50, 50), 1),
    ]


def test_a_dent_half_on_two_parts_is_two_findings_split_at_the_border() -> None:
    parts, damage = door_over_bumper()
    damage[45:55, 40:50] = DENT
    findings = find(parts, damage)
    assert summary(findings) == [
        ("bumper", "deformity", 50, (40, 50, 50, 55), 1),
        ("door_shell", "deformity", 50, (40, 45, 50, 50), 1),
    ]
    bumper, door = findings
    assert np.array_equal(bumper.mask, (damage > 0) & (parts == BUMPER))
    assert np.array_equal(door.mask, (damage > 0) & (parts == DOOR))
    assert bumper.evidence["part_cover"] == door.evidence["part_cover"] == 0.5


def test_a_sliver_on_a_third_part_joins_the_nearest_kept_part() -> None:
    parts, damage = door_over_bumper()
    parts[45:55, 48:60] = WHEEL  # covers the right end of the dent
    damage[45:55, 40:50] = DENT  # door 40 px, bumper 40 px, wheel 20 px (columns 48-49)
    findings = find(parts, damage)
    assert summary(findings) == [
        ("bumper", "deformity", 50, (40, 50, 50, 55), 1),
        ("door_shell", "deformity", 50, (40, 45, 50, 50), 1),
    ]
    bumper, door = findings
    assert bumper.evidence["part_cover"] == door.evidence["part_cover"] == 0.4
    assert not (bumper.mask & door.mask).any()
    assert np.array_equal(bumper.mask | door.mask, damage > 0)


def hood_door_and_bumper(bumper_px: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Hood on columns 0-29, door on columns 70-99 (full height); a 25 x 10 dent on rows
    40-49, columns 23-47: 70 px on the hood (28%), `bumper_px` on a bumper patch from
    column 40 (under 30%), the rest on background between the hood and the door."""
    parts = np.zeros((100, 100), dtype=np.uint8)
    parts[:, :30] = HOOD
    parts[:, 70:] = DOOR
    flat = parts[40:50, 40:48].T.reshape(-1)  # column by column
    flat[:bumper_px] = BUMPER
    parts[40:50, 40:48] = flat.reshape(8, 10).T
    damage = np.zeros((100, 100), dtype=np.uint8)
    damage[40:50, 23:48] = DENT
    return parts, damage


@pytest.mark.parametrize("bumper_px", [60, 55])  # background 120 (48%), 125 (exactly 50%)
def test_no_part_at_the_share_and_background_at_most_half_picks_the_largest_part(
    bumper_px: int,
) -> None:
    parts, damage = hood_door_and_bumper(bumper_px)
    assert int(((parts == BUMPER) & (damage > 0)).sum()) == bumper_px
    findings = find(parts, damage)
    assert summary(findings) == [("hood", "deformity", 250, (23, 40, 48, 50), 1)]
    assert np.array_equal(findings[0].mask, damage > 0)
    assert findings[0].evidence["part_cover"] == 0.28


def test_no_part_at_the_share_and_background_over_half_is_other_panel() -> None:
    parts, damage = hood_door_and_bumper(50)  # background 130 (52%), between hood and door
    findings = find(parts, damage)
    assert summary(findings) == [(OTHER_PANEL, "deformity", 250, (23, 40, 48, 50), 1)]
    assert findings[0].evidence["part_cover"] == 0.52


# Background: other panel, off the car, close-ups -----------------------------------------


def hood_and_door_with_a_gap() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Hood on columns 0-39, door on columns 60-99, rows 20-79 (48% of the frame); columns
    40-59 between them are background (a fender the part model does not label)."""
    parts = np.zeros((100, 100), dtype=np.uint8)
    parts[20:80, :40] = HOOD
    parts[20:80, 60:] = DOOR
    return parts, np.zeros((100, 100), dtype=np.uint8)


def test_damage_between_two_parts_is_on_other_panel() -> None:
    parts, damage = hood_and_door_with_a_gap()
    damage[45:55, 45:55] = DENT  # 6 to 11 px from a part: beyond a 1 px reach
    settings = dataclasses.replace(WHOLE, vehicle_reach_share=0.01)
    findings = find(parts, damage, settings)
    assert summary(findings) == [(OTHER_PANEL, "deformity", 100, (45, 45, 55, 55), 1)]
    (dent,) = findings
    background = 10000 - 4800
    assert (dent.part_area_px, dent.share_of_part) == (background, 100 / background)
    assert dent.evidence["other_panel"] == 1.0
    assert dent.evidence["part_cover"] == 1.0  # share on background
    (region,) = whole_regions(parts, damage, volume(damage), PARTS.num_classes, settings)
    assert region.part == OTHER


def test_damage_near_a_part_is_on_other_panel() -> None:
    parts = np.zeros((100, 100), dtype=np.uint8)
    parts[:30] = DOOR  # 30% of the frame, nothing below it
    damage = np.zeros((100, 100), dtype=np.uint8)
    damage[31:37, 40:50] = DENT  # 2 to 7 px below the door, median 4.5 <= 5
    assert summary(find(parts, damage)) == [(OTHER_PANEL, "deformity", 60, (40, 31, 50, 37), 1)]
    damage[:] = 0
    damage[33:39, 40:50] = DENT  # median 6.5 > 5, nothing below: off the car
    assert find(parts, damage) == []


def test_damage_far_from_any_part_is_dropped() -> None:
    parts = np.zeros((100, 100), dtype=np.uint8)
    parts[:30] = DOOR
    damage = np.zeros((100, 100), dtype=np.uint8)
    damage[80:90, 45:55] = DENT
    assert find(parts, damage) == []
    assert whole_regions(parts, damage, volume(damage), PARTS.num_classes, WHOLE) == []


def test_in_a_close_up_background_damage_is_kept_on_other_panel() -> None:
    parts = np.zeros((100, 100), dtype=np.uint8)
    parts[:9] = DOOR  # 9% of the frame: below close_up_part_share, no evidence
    damage = np.zeros((100, 100), dtype=np.uint8)
    damage[80:90, 45:55] = DENT  # the same far-away dent
    assert summary(find(parts, damage)) == [(OTHER_PANEL, "deformity", 100, (45, 80, 55, 90), 1)]
    parts[:] = 0  # no part at all
    assert summary(find(parts, damage)) == [(OTHER_PANEL, "deformity", 100, (45, 80, 55, 90), 1)]


def test_at_exactly_close_up_part_share_the_part_map_is_evidence() -> None:
    parts = np.zeros((100, 100), dtype=np.uint8)
    parts[:10] = DOOR  # 10%: the part map counts, the far dent is off the car
    damage = np.zeros((100, 100), dtype=np.uint8)
    damage[80:90, 45:55] = DENT
    assert find(parts, damage) == []


def test_the_paper_grouping_names_background_damage_other_panel_too() -> None:
    parts = np.zeros((100, 100), dtype=np.uint8)
    parts[:30] = DOOR
    damage = np.zeros((100, 100), dtype=np.uint8)
    damage[80:90, 45:55] = DENT
    assert summary(find(parts, damage, PAPER)) == [
        (OTHER_PANEL, "deformity", 100, (45, 80, 55, 90), 1)
    ]


# Classes ---------------------------------------------------------------------------------


def scratch_beside_dent() -> tuple[
    npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.float32]
]:
    """A 200 px scratch touching a 100 px dent on the door. The dent is sure (0.9), the
    scratch is not (0.6, with 0.3 on dent): dent mass 0.3 x 200 + 0.9 x 100 = 150 beats
    scratch mass 0.6 x 200 + 0.05 x 100 = 125."""
    parts, damage = door_photo()
    damage[40:50, 30:50] = SCRATCH
    damage[40:50, 50:60] = DENT
    probs = volume(damage)
    scratch = damage == SCRATCH
    dent = damage == DENT
    probs[:, scratch] = np.array([0.1, 0.6, 0.3, 0.0], dtype=np.float32)[:, None]
    probs[:, dent] = np.array([0.05, 0.05, 0.9, 0.0], dtype=np.float32)[:, None]
    return parts, damage, probs


def test_two_touching_classes_stay_two_findings() -> None:
    parts, damage, probs = scratch_beside_dent()
    findings = find(parts, damage, WHOLE, probs)
    assert summary(findings) == [
        ("door_shell", "surface_damage", 200, (30, 40, 50, 50), 1),
        ("door_shell", "deformity", 100, (50, 40, 60, 50), 1),
    ]
    assert [f.c_base for f in findings] == pytest.approx([0.6, 0.9])


def test_merge_classes_makes_one_finding_named_by_probability_mass() -> None:
    parts, damage, probs = scratch_beside_dent()
    settings = dataclasses.replace(WHOLE, merge_classes=True)
    findings = find(parts, damage, settings, probs)
    assert summary(findings) == [("door_shell", "deformity", 300, (30, 40, 60, 50), 1)]
    (merged,) = findings
    assert np.array_equal(merged.mask, damage > 0)
    assert merged.c_base == pytest.approx((200 * 0.3 + 100 * 0.9) / 300)


def test_any_damage_pixels_include_pixels_where_two_classes_split_the_mass() -> None:
    parts, damage = door_photo()
    probs = volume(damage)
    # 0.45 no damage, 0.3 scratch, 0.25 dent: the argmax is "no damage", yet the damage
    # classes together (0.55) outweigh it; "any_damage" names it by the likeliest class.
    probs[:, 40:50, 30:40] = np.array([0.45, 0.3, 0.25, 0.0], dtype=np.float32)[:, None, None]
    damage_map = probs.argmax(axis=0).astype(np.uint8)
    assert find(parts, damage_map, WHOLE, probs) == []
    settings = dataclasses.replace(WHOLE, damage_pixels="any_damage")
    findings = find(parts, damage_map, settings, probs)
    assert summary(findings) == [("door_shell", "surface_damage", 100, (30, 40, 40, 50), 1)]
    assert findings[0].c_base == pytest.approx(0.3)


# Invariants on random maps ---------------------------------------------------------------


def random_maps(
    seed: int,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """Blobby part and damage maps from smoothed random logits (argmax and probabilities
    agree, as they do in the pipeline)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    part_logits = ndimage.gaussian_filter(rng.normal(size=(10, 100, 100)), (0, 6, 6)) * 30
    damage_logits = ndimage.gaussian_filter(rng.normal(size=(4, 100, 100)), (0, 3, 3)) * 20
    damage_logits[0] += 0.4  # mostly undamaged
    part_map, _ = argmax_map(part_logits)
    damage_map, _ = argmax_map(damage_logits)
    return part_map, damage_map, damage_probabilities(damage_logits)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    "settings",
    [
        WHOLE,
        PAPER,
        dataclasses.replace(WHOLE, merge_classes=True),
        dataclasses.replace(WHOLE, damage_pixels="any_damage"),
        dataclasses.replace(WHOLE, close_up_part_share=1.0),
    ],
    ids=["whole", "paper", "merge_classes", "any_damage", "close_up"],
)
def test_findings_never_on_background_never_overlap_and_lie_on_damage(
    seed: int, settings: PipelineSettings
) -> None:
    part_map, damage_map, probs = random_maps(seed)
    findings = find_damaged_parts(part_map, damage_map, probs, PARTS, DAMAGE, settings)
    assert findings  # the maps are made to hold damage
    damaged = probs[0] < 0.5 if settings.damage_pixels == "any_damage" else damage_map > 0
    cover = np.zeros(part_map.shape, dtype=np.int32)
    for f in findings:
        assert f.part != "background"
        assert f.part in PARTS.classes[1:] or f.part == OTHER_PANEL
        assert f.damage in DAMAGE.classes[1:]
        assert f.area_px == int(f.mask.sum()) > 0
        assert not (f.mask & ~damaged).any()
        x0, y0, x1, y1 = f.box
        assert int(f.mask[y0:y1, x0:x1].sum()) == f.area_px
        cover += f.mask
    assert int(cover.max()) == 1
    if settings.grouping == "whole":
        # a damage of at least 20 px split across parts: each piece holds at least its own
        # part's pixels, part_cover of the damage
        for f in findings:
            assert f.area_px >= f.evidence["part_cover"] * 20 - 1e-9
            assert f.area_px >= 6


# Settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "speck_share",
        "merge_gap_share",
        "min_damage_share",
        "part_cover_min",
        "vehicle_reach_share",
        "close_up_part_share",
        "report_floor",
    ],
)
@pytest.mark.parametrize("value", [-0.01, 1.5])
def test_shares_outside_zero_one_are_refused(name: str, value: float) -> None:
    base = PipelineSettings()
    with pytest.raises(ValueError, match="must lie in") as excinfo:
        base.with_overrides({name: value})
    assert str(excinfo.value) == f"{name} must lie in [0, 1], got {value}"
    assert getattr(base, name) == getattr(PipelineSettings(), name)  # the original stands


@pytest.mark.parametrize("name", ["speck_share", "part_cover_min", "close_up_part_share"])
@pytest.mark.parametrize("value", [0.0, 1.0])
def test_shares_at_zero_and_one_are_accepted(name: str, value: float) -> None:
    assert getattr(PipelineSettings().with_overrides({name: value}), name) == value


def test_an_unknown_grouping_is_refused() -> None:
    with pytest.raises(ValueError, match="grouping must be") as excinfo:
        PipelineSettings(grouping="clusters")  # type: ignore[arg-type]
    assert str(excinfo.value) == "grouping must be 'whole' or 'paper'"


def test_an_unknown_damage_pixels_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="damage_pixels"):
        PipelineSettings().with_overrides({"damage_pixels": "any-damage"})


def test_an_unknown_setting_name_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown pipeline settings") as excinfo:
        PipelineSettings().with_overrides({"merge_gap": 0.1})
    message = str(excinfo.value)
    assert message.startswith("unknown pipeline settings ['merge_gap']; known: [")
    assert "'merge_gap_share'" in message
    assert "'merge_classes'" in message

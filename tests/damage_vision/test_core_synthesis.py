"""Multi-view grouping, K_agree, C_refined, routing and the case DSI, by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from damage_vision.pipeline.types import (
    DamagedPart,
    ModelInfo,
    PhotoQuality,
    PhotoResult,
    SeverityTerms,
    StageTimings,
)
from damage_vision.synthesis import synthesise_case

MODEL = ModelInfo("m", "1", "0" * 64, "parts_reduced_dsmlr", "damage_categorical", "onnx")
PARTS = ["bumper", "lamps", "windshield", "window", "door_shell", "hood", "wheel", "mirror"]


def finding(
    part: str, damage: str, c_base: float, score: float = 50.0, confidence: float | None = None
) -> DamagedPart:
    return DamagedPart(
        part=part,
        damage=damage,
        mask=np.zeros((2, 2), dtype=bool),
        box=(0, 0, 1, 1),
        area_px=1,
        part_area_px=1,
        share_of_part=1.0,
        size_class="large",
        area_cm2=None,
        area_cm2_uncertainty=None,
        c_base=c_base,
        severity=SeverityTerms(area=0.0, confidence=c_base * 100, type_weight=0.0, score=score),
        confidence=c_base if confidence is None else confidence,
    )


def photo(
    visible: set[str], findings: list[DamagedPart], set_aside: str | None = None
) -> PhotoResult:
    return PhotoResult(
        image_size=(2, 2),
        processed_size=(2, 2),
        vehicle_probability=0.9,
        quality=PhotoQuality(set_aside is None, (), 100.0, 0.5),
        set_aside_reason=set_aside,
        part_map=np.zeros((2, 2), dtype=np.uint8),
        damage_map=np.zeros((2, 2), dtype=np.uint8),
        visible_parts=frozenset(visible),
        perspective="partial_view",
        findings=tuple(findings),
        dsi=0.0,
        timings=StageTimings(0, 0, 0, 0, 0),
        model=MODEL,
    )


def a_case() -> list[PhotoResult]:
    wide = {"bumper", "lamps", "hood", "wheel"}
    return [
        photo(wide, [finding("bumper", "deformity", 0.8, 60.0)]),  # 0
        photo(wide, [finding("bumper", "deformity", 0.6, 40.0)]),  # 1: same view as 0
        photo({"bumper", "lamps"}, [finding("lamps", "surface_damage", 0.9, 30.0)]),  # 2
        photo({"bumper"}, [finding("bumper", "deformity", 0.7, 50.0)]),  # 3: close-up
        photo({"door_shell", "wheel"}, []),  # 4: another side, cannot see the bumper
        photo(set(), [], set_aside="no vehicle"),  # 5: set aside, ignored
    ]


def test_c_refined_is_the_calibrated_confidence_times_agreement() -> None:
    wide = {"bumper", "lamps"}
    photos = [
        photo(wide, [finding("bumper", "deformity", 0.9, confidence=0.4)]),
        photo(wide, [finding("bumper", "deformity", 0.95, confidence=0.3)]),
        photo(wide, []),
        photo(wide, []),
    ]
    (row,) = synthesise_case(photos, threshold=0.25).findings
    assert (row.c_base, row.confidence, row.k_agree) == (0.95, 0.4, 0.5)
    assert row.c_refined == 0.2  # confidence x K_agree; C_base x K_agree would be 0.475
    assert row.needs_review


def test_other_panel_agrees_only_with_the_photos_that_show_it() -> None:
    # Which photos could see a panel the part model does not know is unknown: a finding
    # on "other_panel" is not marked down by photos that do not show it.
    photos = [
        photo({"bumper"}, [finding("other_panel", "surface_damage", 0.8)]),
        photo({"bumper", "hood"}, []),
        photo({"door_shell"}, []),
    ]
    (row,) = synthesise_case(photos, threshold=0.5).findings
    assert (row.part, row.photo_indices, row.k_agree, row.c_refined) == (
        "other_panel",
        (0,),
        1.0,
        0.8,
    )
    # Background (versions that named it) is visible from every photo, as before.
    photos[0] = photo({"bumper"}, [finding("background", "surface_damage", 0.8)])
    (row,) = synthesise_case(photos, threshold=0.5).findings
    assert row.k_agree == pytest.approx(1 / 3)


def test_views_and_close_ups() -> None:
    case = synthesise_case(a_case(), threshold=0.5)
    assert case.views == ((0, 1), (2,), (3,), (4,))
    # 2 ({bumper, lamps}) is a close-up of 0; 3 ({bumper}) of 2, the smallest superset.
    assert case.close_ups == {2: 0, 3: 2}
    assert case.usable_photos == (0, 1, 2, 3, 4)


def test_k_agree_over_photos_that_see_the_part() -> None:
    case = synthesise_case(a_case(), threshold=0.5, denominator="visible")
    rows = {(r.part, r.damage): r for r in case.findings}
    dent = rows["bumper", "deformity"]
    # shown in 0, 1, 3; the bumper is visible in 0, 1, 2, 3 -> K = 3/4
    assert dent.photo_indices == (0, 1, 3)
    assert dent.c_base == 0.8
    assert dent.k_agree == 0.75
    assert dent.c_refined == pytest.approx(0.6)
    assert dent.needs_review is False
    assert dent.severity_score == pytest.approx((60.0 + 40.0 + 50.0) / 3)
    scratch = rows["lamps", "surface_damage"]
    # shown in 2; lamps visible in 0, 1, 2 -> K = 1/3, C_refined = 0.3 < 0.5
    assert scratch.k_agree == pytest.approx(1 / 3)
    assert scratch.c_refined == pytest.approx(0.3)
    assert scratch.needs_review is True
    assert case.needs_review is True
    assert case.dsi == pytest.approx((50.0 + 30.0) / 2)
    assert [r.part for r in case.findings] == ["bumper", "lamps"]  # order of first sighting


def test_k_agree_over_all_usable_photos_as_in_the_paper() -> None:
    case = synthesise_case(a_case(), threshold=0.5, denominator="all")
    rows = {(r.part, r.damage): r for r in case.findings}
    assert rows["bumper", "deformity"].k_agree == 3 / 5
    assert rows["bumper", "deformity"].c_refined == pytest.approx(0.48)
    assert rows["lamps", "surface_damage"].k_agree == 1 / 5


def test_routing_threshold_is_strict() -> None:
    photos = [photo({"bumper"}, [finding("bumper", "deformity", 0.5)])]
    assert synthesise_case(photos, threshold=0.5).needs_review is False
    assert synthesise_case(photos, threshold=0.51).needs_review is True


def test_a_case_without_usable_photos_goes_to_a_person() -> None:
    case = synthesise_case([photo(set(), [], set_aside="blurred")], threshold=0.5)
    assert case.findings == ()
    assert case.dsi == 0.0
    assert case.needs_review is True
    clean = synthesise_case([photo({"bumper"}, [])], threshold=0.5)
    assert clean.needs_review is False
    assert clean.dsi == 0.0


def test_a_finding_on_a_part_under_the_visibility_cut_still_has_k_at_most_1() -> None:
    photos = [photo(set(), [finding("mirror", "surface_damage", 0.9)]), photo({"mirror"}, [])]
    (row,) = synthesise_case(photos, threshold=0.5).findings
    assert row.k_agree == 0.5


@st.composite
def cases(draw: st.DrawFn) -> list[PhotoResult]:
    n = draw(st.integers(1, 6))
    result = []
    for _ in range(n):
        visible = draw(st.sets(st.sampled_from(PARTS), max_size=5))
        found = draw(
            st.lists(
                st.builds(
                    finding,
                    st.sampled_from([*PARTS, "background"]),
                    st.sampled_from(["surface_damage", "deformity", "body_damage"]),
                    st.floats(0.0, 1.0),
                    st.floats(0.0, 100.0),
                ),
                max_size=4,
            )
        )
        aside = draw(st.sampled_from([None, None, None, "blurred"]))
        result.append(photo(visible, found, aside))
    return result


@settings(max_examples=80, deadline=None)
@given(cases(), st.sampled_from(["visible", "all"]), st.floats(0.0, 1.0))
def test_agreement_and_confidence_bounds(
    photos: list[PhotoResult], denominator: str, threshold: float
) -> None:
    case = synthesise_case(photos, threshold, denominator)  # type: ignore[arg-type]
    for row in case.findings:
        assert 0.0 < row.k_agree <= 1.0
        assert 0.0 <= row.c_refined <= row.c_base <= 1.0
        assert row.needs_review == (row.c_refined < threshold)
        assert all(photos[i].set_aside_reason is None for i in row.photo_indices)
    assert 0.0 <= case.dsi <= 100.0
    assert sorted(i for view in case.views for i in view) == list(case.usable_photos)

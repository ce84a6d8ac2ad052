"""Damage Severity Index (paper 2, Algorithm 2) by hand."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from damage_vision.pipeline.severity import (
    box_area_fraction,
    case_dsi_from_boxes,
    dsi,
    dsi_from_boxes,
    severity_from_boxes,
)
from damage_vision.pipeline.types import BoxDamage


def test_three_boxes_worked_by_hand() -> None:
    # Image 100 x 50 = 5000 px.
    boxes = [
        # 10 x 10 = 100 px -> A = 2; C = 90; D(crack) = 100 -> S = 0.8 + 18 + 40 = 58.8
        BoxDamage("crack", (0.0, 0.0, 10.0, 10.0), 0.9),
        # 50 x 20 = 1000 px -> A = 20; C = 50; D(scratch) = 55 -> S = 8 + 10 + 22 = 40
        BoxDamage("scratch", (10.0, 10.0, 60.0, 30.0), 0.5),
        # (90, 40)-(110, 60) clipped to (90, 40)-(100, 50): 100 px -> A = 2; C = 25;
        # D(tire_flat) = 25 -> S = 0.8 + 5 + 10 = 15.8
        BoxDamage("tire_flat", (90.0, 40.0, 110.0, 60.0), 0.25),
    ]
    terms = severity_from_boxes(boxes, (100, 50), "damage_cardd")
    assert [t.area for t in terms] == pytest.approx([2.0, 20.0, 2.0])
    assert [t.confidence for t in terms] == pytest.approx([90.0, 50.0, 25.0])
    assert [t.type_weight for t in terms] == [100.0, 55.0, 25.0]
    assert [t.score for t in terms] == pytest.approx([58.8, 40.0, 15.8])
    assert dsi_from_boxes(boxes, (100, 50), "damage_cardd") == pytest.approx(
        (58.8 + 40.0 + 15.8) / 3
    )
    assert dsi_from_boxes(boxes, (100, 50), "damage_cardd") == pytest.approx(38.2)


def test_nothing_found_scores_zero() -> None:
    assert dsi_from_boxes([], (640, 480), "damage_cardd") == 0.0
    assert dsi([]) == 0.0


def test_box_outside_the_image_has_no_area() -> None:
    assert box_area_fraction((200.0, 200.0, 300.0, 300.0), (100, 100)) == 0.0


def test_unknown_damage_class_raises() -> None:
    with pytest.raises(ValueError, match="not a class"):
        dsi_from_boxes([BoxDamage("rust", (0, 0, 1, 1), 0.5)], (10, 10), "damage_cardd")


boxes = st.lists(
    st.builds(
        BoxDamage,
        st.sampled_from(["crack", "glass_shatter", "dent", "scratch", "lamp_broken", "tire_flat"]),
        st.tuples(
            st.floats(-50, 150), st.floats(-50, 150), st.floats(-50, 150), st.floats(-50, 150)
        ).map(lambda b: (min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3]))),
        st.floats(0.0, 1.0),
    ),
    max_size=8,
)


@settings(max_examples=80, deadline=None)
@given(boxes, st.integers(1, 200), st.integers(1, 200))
def test_dsi_stays_within_0_and_100(found: list[BoxDamage], width: int, height: int) -> None:
    value = dsi_from_boxes(found, (width, height), "damage_cardd")
    assert 0.0 <= value <= 100.0


def test_case_dsi_from_boxes_pools_every_box_by_hand() -> None:
    first = [BoxDamage("crack", (0.0, 0.0, 10.0, 10.0), 0.9)]  # on 100 x 50: S = 58.8
    # on 10 x 10: the whole photo, A = 100; C = 50; D(dent) = 70 -> S = 40 + 10 + 28 = 78
    second = [BoxDamage("dent", (0.0, 0.0, 10.0, 10.0), 0.5)]
    value = case_dsi_from_boxes(
        [(first, (100, 50)), (second, (10, 10)), ([], (5, 5))], "damage_cardd"
    )
    assert value == pytest.approx((58.8 + 78.0) / 2)
    assert case_dsi_from_boxes([], "damage_cardd") == 0.0

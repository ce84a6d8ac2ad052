"""Suggested threshold: the lowest one reaching a chosen precision on reviewed findings."""

from __future__ import annotations

import pytest

from review.thresholds import ThresholdSuggestion, suggest_threshold


def test_lowest_threshold_reaching_the_target() -> None:
    outcomes = [(0.9, True), (0.8, True), (0.7, False), (0.6, True), (0.5, False), (0.4, False)]
    # at 0.6: 3 correct of 4 = 0.75; at 0.5: 3 of 5 = 0.6
    assert suggest_threshold(outcomes, target_precision=0.75) == ThresholdSuggestion(
        threshold=0.6, precision=0.75, released=4, correct_released=3, reviewed=6, recall=1.0
    )
    assert suggest_threshold(outcomes, target_precision=1.0) == ThresholdSuggestion(
        threshold=0.8, precision=1.0, released=2, correct_released=2, reviewed=6, recall=2 / 3
    )


def test_ties_share_one_threshold() -> None:
    outcomes = [(0.5, True), (0.5, False), (0.9, True)]
    # 0.5 releases both tied findings: 2 of 3
    assert suggest_threshold(outcomes, target_precision=0.9) == ThresholdSuggestion(
        threshold=0.9, precision=1.0, released=1, correct_released=1, reviewed=3, recall=0.5
    )


def test_unreachable_or_empty_gives_none() -> None:
    assert suggest_threshold([], target_precision=0.9) is None
    assert suggest_threshold([(0.9, False), (0.3, False)], target_precision=0.5) is None


@pytest.mark.parametrize("target", [0.0, -0.1, 1.01])
def test_target_outside_range_is_refused(target: float) -> None:
    with pytest.raises(ValueError, match="target precision"):
        suggest_threshold([(0.5, True)], target_precision=target)

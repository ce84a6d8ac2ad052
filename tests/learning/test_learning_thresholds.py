"""Suggested threshold: Learn-then-Test on the human decisions, and the stored promise."""

from __future__ import annotations

import pytest

from damage_vision.pipeline.risk_control import METHOD, ThresholdChoice, precision_threshold
from learning.thresholds import promise_applies, stored_promise, suggest_threshold
from tests.conftest import python_fresh

# (C_refined, kept by a person): 50 sure findings all kept; at 0.8, 10 kept and 2 rejected;
# at 0.7, 5 kept and 2 rejected; at 0.4, 1 kept and 5 rejected.
DECISIONS = (
    [(0.995, True)] * 50
    + [(0.8, True)] * 10
    + [(0.8, False)] * 2
    + [(0.7, True)] * 5
    + [(0.7, False)] * 2
    + [(0.4, True)] * 1
    + [(0.4, False)] * 5
)


def _naive_cut(outcomes: list[tuple[float, bool]], target: float) -> float | None:
    """The former rule: the lowest observed C_refined whose released findings reach
    `target` on the reviewed findings themselves, with no margin for chance."""
    best = None
    for cut in sorted({score for score, _ in outcomes}):
        released = [ok for score, ok in outcomes if score >= cut]
        if sum(released) / len(released) >= target:
            best = cut if best is None else min(best, cut)
    return best


def test_suggestion_is_learn_then_test_and_more_careful_than_the_naive_cut() -> None:
    # The naive cut releases the 0.7 findings: 65 of 69 kept, precision 0.942 >= 0.9.
    assert _naive_cut(DECISIONS, 0.9) == 0.7
    suggestion = suggest_threshold(DECISIONS, target_precision=0.9)
    # Learn-then-Test cannot rule out precision below 0.9 with 69 findings of which 4 are
    # wrong, so it stops above the 0.7 findings: 60 of 62 kept.
    assert suggestion == precision_threshold(
        [s for s, _ in DECISIONS],
        [ok for _, ok in DECISIONS],
        target_precision=0.9,
        confidence_level=0.9,
    )
    assert suggestion == ThresholdChoice(
        threshold=0.71,
        target_precision=0.9,
        confidence_level=0.9,
        calibration_findings=75,
        released_share=62 / 75,
        precision=60 / 62,
        method=METHOD,
    )
    assert suggestion.promise() == (
        "Findings at or above 0.71 are released without review; on 75 calibration findings "
        "their precision is at least 0.90 with 90% confidence; about 83% of findings are "
        "released."
    )


@pytest.mark.parametrize(
    ("target", "threshold", "released"),
    [(0.85, 0.41, 69), (0.95, 0.81, 50)],  # a higher target releases fewer findings
)
def test_target_precision_sets_the_cut(target: float, threshold: float, released: int) -> None:
    suggestion = suggest_threshold(DECISIONS, target_precision=target)
    assert suggestion == precision_threshold(
        [s for s, _ in DECISIONS],
        [ok for _, ok in DECISIONS],
        target_precision=target,
        confidence_level=0.9,
    )
    assert suggestion.threshold == threshold
    assert suggestion.released_share == released / 75


def test_nothing_reviewed_or_nothing_good_enough_keeps_no_promise() -> None:
    assert suggest_threshold([], target_precision=0.9) == ThresholdChoice(
        threshold=None,
        target_precision=0.9,
        confidence_level=0.9,
        calibration_findings=0,
        released_share=0.0,
        precision=None,
    )
    rejected = suggest_threshold([(0.9, False), (0.3, False)], target_precision=0.5)
    assert rejected.threshold is None
    assert rejected.promise() == (
        "No threshold keeps precision 0.50 with 90% confidence on 2 calibration findings: "
        "every finding goes to review."
    )


@pytest.mark.parametrize("target", [0.0, -0.1, 1.0, 1.01])
def test_target_outside_range_is_refused(target: float) -> None:
    with pytest.raises(ValueError, match="target precision"):
        suggest_threshold([(0.5, True)], target_precision=target)


PROMISE = {
    "threshold": 0.73,
    "target_precision": 0.9,
    "confidence_level": 0.9,
    "calibration_findings": 412,
    "released_share": 0.38,
    "precision": 0.951,
    "method": METHOD,
}


def test_stored_promise_reads_the_manifest_dict() -> None:
    promise = stored_promise(PROMISE)
    assert promise == ThresholdChoice(**PROMISE)
    assert promise is not None
    assert promise.to_dict() == PROMISE
    assert promise.promise() == (
        "Findings at or above 0.73 are released without review; on 412 calibration findings "
        "their precision is at least 0.90 with 90% confidence; about 38% of findings are "
        "released."
    )
    assert promise_applies(promise, 0.73)
    assert not promise_applies(promise, 0.7)


def test_stored_promise_without_threshold_applies_to_none() -> None:
    promise = stored_promise({**PROMISE, "threshold": None, "precision": None})
    assert promise is not None
    assert promise.threshold is None
    assert not promise_applies(promise, 0.73)
    # "Every finding goes to review" is what a threshold of 1 (or above) does.
    assert promise_applies(promise, 1.0)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"threshold": 0.5},
        {**PROMISE, "calibration_findings": "many"},
        {**PROMISE, "target_precision": None},
    ],
)
def test_missing_or_unreadable_promise_is_none(data: dict[str, object]) -> None:
    assert stored_promise(data) is None


def test_thresholds_never_import_django() -> None:
    code = (
        "import sys\n"
        "import learning.thresholds\n"
        "print(sorted(k for k in sys.modules if k == 'django' or k.startswith('django.')))\n"
    )
    printed = python_fresh(code)
    assert printed.strip() == "[]"

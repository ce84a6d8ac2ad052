"""The release threshold (Learn-then-Test): equal to MAPIE's controller, worked by hand on a
small case, its promise in words, its input errors, and its guarantee by simulation."""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt
import pytest
from mapie.risk_control import BinaryClassificationController
from mapie.risk_control.methods import compute_hoeffding_bentkus_p_value

from damage_vision.evaluation.finding_metrics import precision_coverage, threshold_at_precision
from damage_vision.pipeline.risk_control import (
    CANDIDATES,
    METHOD,
    ThresholdChoice,
    precision_threshold,
)

# A known model of findings: scores sit on a few levels, each with a known chance of being
# right. The true precision of "release everything at or above t" is then exact.
LEVELS = np.array([0.98, 0.94, 0.9, 0.86, 0.82, 0.78, 0.7, 0.5, 0.3])
RIGHT = np.array([1.0, 0.98, 0.95, 0.9, 0.85, 0.8, 0.7, 0.5, 0.3])


def draw(n: int, rng: np.random.Generator) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    level = rng.integers(0, LEVELS.size, size=n)
    scores = LEVELS[level]
    correct: npt.NDArray[np.bool_] = rng.uniform(size=n) < RIGHT[level]
    return scores, correct


def true_precision(threshold: float) -> float:
    released = threshold <= LEVELS
    return float(RIGHT[released].mean())


def test_the_known_model_is_safe_down_to_0_78_only() -> None:
    assert [round(true_precision(t), 4) for t in (0.98, 0.86, 0.78, 0.7, 0.3)] == [
        1.0,
        0.9575,
        0.9133,
        0.8829,
        0.7756,
    ]


def mapie_threshold(
    scores: npt.NDArray[np.float64],
    correct: npt.NDArray[np.bool_],
    target: float,
    confidence: float,
) -> float | None:
    """Fixed-sequence Learn-then-Test written out: thresholds from 0.99 down; those that
    release too few findings to ever pass are skipped; each other one is tested with
    MAPIE's Hoeffding-Bentkus p-value (binary loss) and the sequence stops at the first
    that fails. The lowest threshold passed is the answer."""
    delta = 1.0 - confidence
    passed: float | None = None
    for threshold in CANDIDATES[::-1]:
        released = scores >= threshold
        n = int(released.sum())
        if n == 0:
            continue
        all_right = compute_hoeffding_bentkus_p_value(np.zeros(1), n, 1.0 - target, binary=True)[
            0, 0
        ]
        if all_right > delta:
            continue  # cannot pass even with every released finding right
        risk = 1.0 - correct[released].mean()
        p_value = compute_hoeffding_bentkus_p_value(np.array([risk]), n, 1.0 - target, binary=True)[
            0, 0
        ]
        if p_value > delta:
            break
        passed = float(threshold)
    return passed


def mapie_controller_threshold(
    scores: npt.NDArray[np.float64],
    correct: npt.NDArray[np.bool_],
    target: float,
    confidence: float,
    grid: npt.NDArray[np.float64],
) -> float | None:
    """MAPIE's controller called directly on a given grid (tested in list order)."""

    def predict_proba(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        p = np.asarray(x, dtype=np.float64).reshape(-1)
        return np.column_stack([1.0 - p, p])

    controller = BinaryClassificationController(
        predict_function=predict_proba,
        risk="precision",
        target_level=target,
        confidence_level=confidence,
        list_predict_params=grid,
        fwer_method="fixed_sequence",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        controller.calibrate(scores.reshape(-1, 1), correct.astype(int))
    valid = np.asarray(controller.valid_predict_params, dtype=np.float64).ravel()
    return float(valid.min()) if valid.size else None


def test_why_the_grid_starts_where_a_test_can_pass() -> None:
    # 0.96-0.99 release 3-20 findings, too few to ever pass at 0.90: a sequence that
    # starts there stops at once. Starting at 0.95 (25 findings, all right) it runs on.
    scores = np.r_[np.linspace(0.8, 0.999, 100), np.linspace(0.0, 0.49, 100)]
    correct = np.r_[np.ones(100, dtype=bool), np.arange(100) % 5 == 0]
    whole = CANDIDATES[scores.max() >= CANDIDATES]
    assert mapie_controller_threshold(scores, correct, 0.9, 0.9, whole) is None
    cut = CANDIDATES[CANDIDATES <= 0.95][::-1]
    assert mapie_controller_threshold(scores, correct, 0.9, 0.9, cut) == 0.47
    assert precision_threshold(scores, correct).threshold == 0.47


# Equal to MAPIE -------------------------------------------------------------------------


def random_cases() -> list[tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], float, float]]:
    rng = np.random.default_rng(20)
    cases = []
    for k in range(12):
        n = int(rng.integers(30, 400))
        if k % 3 == 0:
            scores, correct = draw(n, rng)
        elif k % 3 == 1:  # rounded scores: many ties, some exactly on candidates
            scores = np.round(rng.beta(5, 1.5, size=n), 2)
            correct = rng.uniform(size=n) < scores
        else:  # continuous scores below 0.9 only (candidates above them are dropped)
            scores = rng.uniform(0.0, 0.9, size=n)
            correct = rng.uniform(size=n) < np.sqrt(scores)
        target = float(rng.choice([0.6, 0.75, 0.8, 0.9]))
        confidence = float(rng.choice([0.8, 0.9, 0.95]))
        cases.append((scores, correct, target, confidence))
    return cases


@pytest.mark.parametrize("case", range(12))
def test_the_threshold_equals_mapies_controller(case: int) -> None:
    scores, correct, target, confidence = random_cases()[case]
    choice = precision_threshold(
        scores, correct, target_precision=target, confidence_level=confidence
    )
    expected = mapie_threshold(scores, correct, target, confidence)
    assert choice.threshold == expected
    assert choice.target_precision == target
    assert choice.confidence_level == confidence
    assert choice.calibration_findings == scores.size
    if expected is None:
        assert (choice.released_share, choice.precision) == (0.0, None)
    else:
        released = scores >= expected
        assert choice.released_share == released.sum() / scores.size
        assert choice.precision == correct[released].mean()


def test_some_random_cases_get_a_threshold_and_some_do_not() -> None:
    chosen = [
        precision_threshold(s, y, target_precision=t, confidence_level=c).threshold
        for s, y, t, c in random_cases()
    ]
    assert any(t is None for t in chosen)
    assert any(t is not None for t in chosen)


# Worked by hand -------------------------------------------------------------------------


def hand_case() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """200 findings: 100 at or above 0.8 (40 at 0.995, 60 spread over 0.80-0.95), every one
    correct; 100 spread over 0.00-0.49 (step 0.49 / 99), every fifth correct (20%)."""
    scores = np.r_[np.full(40, 0.995), np.linspace(0.8, 0.95, 60), np.linspace(0.0, 0.49, 100)]
    correct = np.r_[np.ones(100, dtype=bool), np.arange(100) % 5 == 0]
    return scores, correct


def test_a_hand_checked_case_keeps_its_promise() -> None:
    scores, correct = hand_case()
    choice = precision_threshold(scores, correct)
    # Testing runs down from 0.99 (40 correct findings: p = 0.015). Down to 0.50 only
    # correct findings are released. At 0.47 the low scores 0.470 ... 0.490 join (indices
    # 95-99, one correct): 101 correct of 105, p = 0.045 <= 0.1. At 0.46, 101 of 107:
    # p = 0.219 > 0.1, and testing stops (p-values in the next test).
    assert choice == ThresholdChoice(
        threshold=0.47,
        target_precision=0.9,
        confidence_level=0.9,
        calibration_findings=200,
        released_share=105 / 200,
        precision=101 / 105,
        method=METHOD,
    )
    assert choice.precision is not None
    assert choice.precision >= 0.9
    assert choice.promise() == (
        "Findings at or above 0.47 are released without review; on 200 calibration "
        "findings their precision is at least 0.90 with 90% confidence; about 52% of "
        "findings are released."
    )
    assert choice.to_dict() == {
        "threshold": 0.47,
        "target_precision": 0.9,
        "confidence_level": 0.9,
        "calibration_findings": 200,
        "released_share": 0.525,
        "precision": 101 / 105,
        "method": METHOD,
    }


def hoeffding_bentkus(n: int, wrong: int, alpha: float = 0.1) -> float:
    """The Hoeffding-Bentkus p-value of "risk above alpha" for `wrong` errors in `n`
    (Angelopoulos et al. 2022, section 3.2), written out with scipy."""
    from scipy.stats import binom

    r = min(wrong / n, alpha)
    kl = r * np.log(r / alpha) + (1 - r) * np.log((1 - r) / (1 - alpha)) if r else 0.0
    return float(min(np.exp(-n * kl), np.e * binom.cdf(wrong, n, alpha)))


def test_the_hand_case_p_values_written_out() -> None:
    scores, correct = hand_case()
    for threshold, n, wrong in ((0.47, 105, 4), (0.46, 107, 6)):
        released = scores >= threshold
        assert (int(released.sum()), int((~correct[released]).sum())) == (n, wrong)
    assert hoeffding_bentkus(105, 4) == pytest.approx(0.04544, abs=1e-5)  # Bentkus
    assert hoeffding_bentkus(107, 6) == pytest.approx(0.21904, abs=1e-5)
    assert all(hoeffding_bentkus(int((scores >= t).sum()), 0) <= 0.1 for t in (0.99, 0.5))


def test_a_looser_target_releases_more_and_each_keeps_its_target() -> None:
    scores, correct = hand_case()
    choices = [
        precision_threshold(scores, correct, target_precision=t) for t in (0.7, 0.8, 0.85, 0.9)
    ]
    assert [c.threshold for c in choices] == [0.29, 0.39, 0.44, 0.47]
    assert [c.released_share for c in choices] == [0.705, 0.605, 0.555, 0.525]
    for c in choices:
        assert c.precision is not None
        assert c.precision >= c.target_precision


def test_a_threshold_is_found_when_the_correct_findings_are_spread_out() -> None:
    # 100 correct findings over 0.80-0.999: releasing them all has Bentkus p-value
    # e 0.9^100 = 7e-5, yet 0.99 releases 5 findings (p >= e 0.9^5 = 1.6 > 0.1) and
    # testing stops there.
    scores = np.r_[np.linspace(0.8, 0.999, 100), np.linspace(0.0, 0.49, 100)]
    correct = np.r_[np.ones(100, dtype=bool), np.arange(100) % 5 == 0]
    assert precision_threshold(scores, correct).threshold is not None


# No threshold, no findings ---------------------------------------------------------------


def test_no_threshold_when_nothing_reaches_the_target() -> None:
    scores = np.linspace(0.0, 0.99, 50)
    correct = np.arange(50) % 2 == 0  # half right at every score
    choice = precision_threshold(scores, correct, target_precision=0.8, confidence_level=0.95)
    assert choice == ThresholdChoice(
        threshold=None,
        target_precision=0.8,
        confidence_level=0.95,
        calibration_findings=50,
        released_share=0.0,
        precision=None,
        method=METHOD,
    )
    assert choice.promise() == (
        "No threshold keeps precision 0.80 with 95% confidence on 50 calibration "
        "findings: every finding goes to review."
    )


def test_no_calibration_findings_give_no_threshold() -> None:
    choice = precision_threshold([], [])
    assert (choice.threshold, choice.calibration_findings) == (None, 0)
    assert (choice.released_share, choice.precision) == (0.0, None)
    assert choice.promise() == (
        "No threshold keeps precision 0.90 with 90% confidence on 0 calibration "
        "findings: every finding goes to review."
    )


def test_scores_all_zero_test_only_the_zero_threshold() -> None:
    choice = precision_threshold(np.zeros(60), np.ones(60, dtype=bool))
    assert (choice.threshold, choice.released_share, choice.precision) == (0.0, 1.0, 1.0)


# Input errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("target", [0.0, 1.0, -0.1, 1.2])
def test_a_target_outside_zero_one_is_refused(target: float) -> None:
    scores, correct = hand_case()
    before = scores.copy(), correct.copy()
    with pytest.raises(ValueError, match="target precision must") as excinfo:
        precision_threshold(scores, correct, target_precision=target)
    assert str(excinfo.value) == f"target precision must lie in (0, 1), got {target}"
    assert np.array_equal(scores, before[0])
    assert np.array_equal(correct, before[1])


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5])
def test_a_confidence_level_outside_zero_one_is_refused(level: float) -> None:
    with pytest.raises(ValueError, match="confidence level must") as excinfo:
        precision_threshold([0.5], [True], confidence_level=level)
    assert str(excinfo.value) == f"confidence level must lie in (0, 1), got {level}"


def test_mismatched_lengths_are_refused() -> None:
    scores, correct = [0.2, 0.5, 0.9], [True, False]
    with pytest.raises(ValueError, match="outcomes") as excinfo:
        precision_threshold(scores, correct)
    assert str(excinfo.value) == "3 scores but 2 outcomes; give one outcome a score"
    assert (scores, correct) == ([0.2, 0.5, 0.9], [True, False])


@pytest.mark.parametrize("bad", [1.01, -0.01, float("nan"), float("inf")])
def test_scores_outside_zero_one_are_refused(bad: float) -> None:
    scores = np.array([0.2, bad, 0.9])
    with pytest.raises(ValueError, match="probabilities") as excinfo:
        precision_threshold(scores, [True, False, True])
    assert str(excinfo.value) == "scores must be probabilities in [0, 1]"
    assert scores[0] == 0.2
    assert scores[2] == 0.9


# The guarantee, by simulation -------------------------------------------------------------


def test_the_precision_promise_holds_in_repeated_calibrations() -> None:
    """200 calibrations of 300 findings each from the known model: the true precision at
    the chosen threshold is below 0.90 in at most 10% of them (plus 5 points for the
    simulation's own noise: the share's sd at 10% over 200 draws is 2.1 points).

    The same draws with the naive choice (the lowest threshold whose *observed*
    precision reaches 0.90) break the promise far more often, so the check has power."""
    rng = np.random.default_rng(2024)
    target, level, repetitions = 0.9, 0.9, 200
    broken = naive_broken = chosen = 0
    for _ in range(repetitions):
        scores, correct = draw(300, rng)
        threshold = precision_threshold(
            scores, correct, target_precision=target, confidence_level=level
        ).threshold
        if threshold is not None:
            chosen += 1
            broken += true_precision(threshold) < target
        naive = threshold_at_precision(precision_coverage(scores, correct), target)
        if naive is not None:
            naive_broken += true_precision(naive) < target
    assert broken / repetitions <= (1 - level) + 0.05
    assert chosen >= 0.9 * repetitions  # the promise is kept by choosing, not by refusing
    assert naive_broken / repetitions >= 0.2

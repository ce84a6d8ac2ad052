"""A threshold that keeps a precision promise (Learn-then-Test, Angelopoulos et al. 2022).

Findings whose confidence is at or above the threshold are released without a person.
`precision_threshold` picks, from a fixed grid of candidate thresholds, the lowest one
(the most findings released) whose precision is at least `target_precision` with
probability `confidence_level` over the draw of the calibration findings: each candidate
is a hypothesis test ("precision below target") with a Hoeffding-Bentkus p-value, and the
family-wise error is controlled by fixed-sequence testing from the highest threshold down
(precision tends to fall as the threshold falls). MAPIE's `BinaryClassificationController`
(`risk="precision"`) does the statistics; this module feeds it scores and outcomes that
are already computed (finding confidences and whether each finding was right).

The guarantee needs calibration findings that the confidence was not fitted on, drawn
like the findings the threshold will be applied to.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from damage_vision.release import released_mask

METHOD = "Learn-then-Test, Hoeffding-Bentkus p-values, fixed-sequence testing (MAPIE 1.6)"
# Candidate thresholds: 0.00, 0.01, ..., 0.99 (MAPIE's default grid).
CANDIDATES = np.round(np.linspace(0.0, 0.99, 100), 2)


@dataclass(frozen=True)
class ThresholdChoice:
    """The chosen threshold and the promise that comes with it."""

    threshold: float | None  # None: no candidate keeps the promise (review everything)
    target_precision: float
    confidence_level: float
    calibration_findings: int
    released_share: float  # share of calibration findings at or above the threshold
    precision: float | None  # observed precision of those findings (None if none)
    method: str = METHOD

    def promise(self) -> str:
        """The promise in words, for the page where the threshold is set."""
        if self.threshold is None:
            return (
                f"No threshold keeps precision {self.target_precision:.2f} with "
                f"{self.confidence_level:.0%} confidence on {self.calibration_findings} "
                "calibration findings: every finding goes to review."
            )
        return (
            f"Findings at or above {self.threshold:.2f} are released without review; on "
            f"{self.calibration_findings} calibration findings their precision is at least "
            f"{self.target_precision:.2f} with {self.confidence_level:.0%} confidence; "
            f"about {self.released_share:.0%} of findings are released."
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_arrays(
    scores: Sequence[float] | npt.NDArray[np.floating],
    correct: Sequence[bool] | npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(correct).astype(bool).astype(np.int64).ravel()
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores but {y.size} outcomes; give one outcome a score")
    if s.size and (not np.isfinite(s).all() or s.min() < 0.0 or s.max() > 1.0):
        raise ValueError("scores must be probabilities in [0, 1]")
    return s, y


def _candidates(
    scores: npt.NDArray[np.float64], target_precision: float, confidence_level: float
) -> npt.NDArray[np.float64]:
    """The grid, highest threshold first, cut to where fixed-sequence testing can start.

    A candidate that releases nothing has no precision (MAPIE gives a NaN p-value, which
    stops the sequence), and one that releases fewer than `n_min` findings cannot pass
    even when every one of them is right (MAPIE's own Hoeffding-Bentkus p-value of "n out
    of n correct" is above 1 - confidence_level). Starting the sequence there wastes it on
    a test that must fail. The cut depends on the scores only, never on whether a finding
    was right, so the outcomes meet the tests as they would on a fixed grid.
    """
    from mapie.risk_control.methods import compute_hoeffding_bentkus_p_value

    delta = 1.0 - confidence_level
    counts = np.arange(1, scores.size + 1, dtype=np.float64)
    p_all_right = compute_hoeffding_bentkus_p_value(
        np.zeros(counts.size), counts, 1.0 - target_precision, binary=True
    )[:, 0]
    passable = np.flatnonzero(p_all_right <= delta)
    if passable.size == 0:
        return CANDIDATES[:0]
    n_min = int(counts[passable[0]])
    released = (scores[None, :] >= CANDIDATES[:, None]).sum(axis=1)
    # Highest threshold first: the order fixed-sequence testing walks.
    keep: npt.NDArray[np.float64] = CANDIDATES[released >= n_min][::-1]
    return keep


def precision_threshold(
    scores: Sequence[float] | npt.NDArray[np.floating],
    correct: Sequence[bool] | npt.NDArray[np.bool_],
    *,
    target_precision: float = 0.9,
    confidence_level: float = 0.9,
) -> ThresholdChoice:
    """The lowest threshold whose released findings keep `target_precision` (see module)."""
    if not 0.0 < target_precision < 1.0:
        raise ValueError(f"target precision must lie in (0, 1), got {target_precision}")
    if not 0.0 < confidence_level < 1.0:
        raise ValueError(f"confidence level must lie in (0, 1), got {confidence_level}")
    s, y = _as_arrays(scores, correct)
    threshold: float | None = None
    candidates = _candidates(s, target_precision, confidence_level) if s.size else CANDIDATES[:0]
    if candidates.size:
        # Imported here: MAPIE pulls in scikit-learn, which callers that only read a
        # stored threshold never need.
        from mapie.risk_control import BinaryClassificationController

        def predict_proba(x: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
            p = np.asarray(x, dtype=np.float64).reshape(-1)
            return np.column_stack([1.0 - p, p])

        controller = BinaryClassificationController(
            predict_function=predict_proba,
            risk="precision",
            target_level=target_precision,
            confidence_level=confidence_level,
            list_predict_params=candidates,
            fwer_method="fixed_sequence",
        )
        with warnings.catch_warnings():
            # MAPIE warns when no candidate keeps the promise; the result says so itself.
            warnings.simplefilter("ignore")
            controller.calibrate(s.reshape(-1, 1), y)
        valid = np.asarray(controller.valid_predict_params, dtype=np.float64).ravel()
        if valid.size:
            threshold = float(valid.min())
    released = (
        released_mask(s, threshold) if threshold is not None else np.zeros(s.shape, dtype=bool)
    )
    n_released = int(released.sum())
    return ThresholdChoice(
        threshold=threshold,
        target_precision=target_precision,
        confidence_level=confidence_level,
        calibration_findings=int(s.size),
        released_share=n_released / s.size if s.size else 0.0,
        precision=float(y[released].mean()) if n_released else None,
    )

"""Suggested threshold from human decisions, and the promise stored with a model version.
Never imports Django.

A finding whose C_refined is at or above the threshold is released without a person. A
model version's threshold is chosen on calibration findings by Learn-then-Test
(`damage_vision.pipeline.risk_control.precision_threshold`): the lowest threshold whose released
findings keep the target precision with 90% confidence. The suggestion from reviewed
findings uses the same method on the human decisions: accepted and edited findings count
as correct (the damage is there), rejected ones as wrong, each scored by its C_refined
when it was decided.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from damage_vision.pipeline.risk_control import METHOD, ThresholdChoice, precision_threshold

CONFIDENCE_LEVEL = 0.9  # probability that the promised precision holds


def suggest_threshold(
    outcomes: Iterable[tuple[float, bool]],
    *,
    target_precision: float,
    confidence_level: float = CONFIDENCE_LEVEL,
) -> ThresholdChoice:
    """The Learn-then-Test threshold on (C_refined, correct) pairs; its `threshold` is None
    when no candidate keeps the promise (or nothing was reviewed)."""
    pairs = list(outcomes)
    return precision_threshold(
        [score for score, _ in pairs],
        [correct for _, correct in pairs],
        target_precision=target_precision,
        confidence_level=confidence_level,
    )


def stored_promise(data: Mapping[str, Any]) -> ThresholdChoice | None:
    """The promise a manifest stored (`ThresholdChoice.to_dict()`); None when it holds none
    or one that cannot be read."""
    if not data:
        return None
    try:
        threshold = data["threshold"]
        precision = data.get("precision")
        return ThresholdChoice(
            threshold=None if threshold is None else float(threshold),
            target_precision=float(data["target_precision"]),
            confidence_level=float(data["confidence_level"]),
            calibration_findings=int(data["calibration_findings"]),
            released_share=float(data["released_share"]),
            precision=None if precision is None else float(precision),
            method=str(data.get("method", METHOD)),
        )
    except (KeyError, TypeError, ValueError):
        return None


def promise_applies(promise: ThresholdChoice, threshold: float) -> bool:
    """Whether `promise` speaks for `threshold`: only for the threshold it chose (and, when
    no threshold kept the promise, for a threshold that releases nothing)."""
    if promise.threshold is None:
        return threshold > 1.0 or math.isclose(threshold, 1.0, rel_tol=0.0, abs_tol=1e-9)
    return math.isclose(promise.threshold, threshold, rel_tol=0.0, abs_tol=1e-9)

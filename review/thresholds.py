"""Suggested threshold from human decisions. Never imports Django.

A finding at or above the threshold is released without a person, so the precision a
threshold would have reached is the share of correct findings among the reviewed ones
whose C_refined is at or above it. Accepted and edited findings count as correct (the
damage is there), rejected ones as wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ThresholdSuggestion:
    threshold: float
    precision: float  # reached on the reviewed findings at or above the threshold
    released: int  # reviewed findings at or above the threshold
    correct_released: int
    reviewed: int  # all reviewed findings considered
    recall: float  # correct findings released / all correct reviewed findings


def suggest_threshold(
    outcomes: Iterable[tuple[float, bool]], *, target_precision: float
) -> ThresholdSuggestion | None:
    """Lowest threshold whose released findings reach `target_precision`.

    `outcomes` are (C_refined, correct) pairs. Candidates are the observed C_refined
    values; None when no candidate reaches the target (or nothing was reviewed).
    """
    if not 0.0 < target_precision <= 1.0:
        raise ValueError("target precision must be in (0, 1]")
    pairs = sorted(outcomes, key=lambda p: p[0], reverse=True)
    total_correct = sum(1 for _, ok in pairs if ok)
    best: ThresholdSuggestion | None = None
    released = 0
    correct = 0
    i = 0
    while i < len(pairs):
        value = pairs[i][0]
        # Ties share a threshold: take every finding with this exact confidence at once.
        while i < len(pairs) and pairs[i][0] == value:
            released += 1
            correct += 1 if pairs[i][1] else 0
            i += 1
        precision = correct / released
        if precision >= target_precision:
            best = ThresholdSuggestion(
                threshold=value,
                precision=precision,
                released=released,
                correct_released=correct,
                reviewed=len(pairs),
                recall=correct / total_correct if total_correct else 0.0,
            )
    return best

"""The arithmetic of finding-level metrics on (confidence, correct) outcomes, numpy only:
the reliability of the confidences (per-bin accuracy, ECE, MCE), the precision-coverage
curve with the coverage and threshold at a target precision, its area and a thinned copy
for reports, and the AUROC of confidence for correctness. Also the input check shared by
all of them and the JSON-ready number (None for NaN) the report and plots use.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from damage_vision.evaluation.metrics import roc_auc

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

CURVE_POINTS = 100  # the report's curve is thinned to at most this many points


def _outcomes(
    confidences: Iterable[float] | FloatArray, correct: Iterable[bool] | BoolArray
) -> tuple[FloatArray, BoolArray]:
    c = np.asarray(list(confidences) if not isinstance(confidences, np.ndarray) else confidences)
    y = np.asarray(list(correct) if not isinstance(correct, np.ndarray) else correct)
    c = c.astype(np.float64).ravel()
    y = y.astype(bool).ravel()
    if c.shape != y.shape:
        raise ValueError(
            f"got {c.size} confidences and {y.size} outcomes; pass one outcome per finding"
        )
    if c.size and (not np.isfinite(c).all() or c.min() < 0.0 or c.max() > 1.0):
        raise ValueError("confidences must be finite and lie in [0, 1]; clip or calibrate first")
    return c, y


def rounded(value: float, digits: int = 6) -> float | None:
    """A JSON-ready number: None for NaN, rounded for a readable report."""
    return None if math.isnan(value) else round(float(value), digits)


# Reliability ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    count: int
    confidence: float | None  # mean confidence of the bin's findings; None when empty
    accuracy: float | None  # share of the bin's findings that are correct; None when empty

    def as_dict(self) -> dict[str, Any]:
        return {
            "low": self.low,
            "high": self.high,
            "count": self.count,
            "confidence": None if self.confidence is None else rounded(self.confidence),
            "accuracy": None if self.accuracy is None else rounded(self.accuracy),
        }


@dataclass(frozen=True)
class Reliability:
    bins: tuple[ReliabilityBin, ...]
    ece: float  # expected calibration error; NaN without findings
    mce: float  # maximum calibration error over non-empty bins; NaN without findings
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "ece": rounded(self.ece),
            "mce": rounded(self.mce),
            "findings": self.n,
            "bins": [b.as_dict() for b in self.bins],
        }


def reliability(
    confidences: Iterable[float] | FloatArray,
    correct: Iterable[bool] | BoolArray,
    bins: int = 10,
) -> Reliability:
    """Per-bin count, mean confidence and accuracy over `bins` equal-width bins of [0, 1].

    ECE = sum over bins of (n_b / N) * |acc_b - conf_b|; MCE = the largest |acc_b - conf_b|
    over the bins that hold a finding. Both are NaN when there is no finding.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    c, y = _outcomes(confidences, correct)
    # floor(c * B) puts 0.3 in [0.3, 0.4) where searching np.linspace edges would not
    # (linspace(0, 1, 11)[3] is 0.30000000000000004); 1.0 joins the last bin.
    index = np.minimum(np.floor(c * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins)
    conf_sum = np.bincount(index, weights=c, minlength=bins)
    hit_sum = np.bincount(index, weights=y.astype(np.float64), minlength=bins)
    out: list[ReliabilityBin] = []
    ece = 0.0
    mce = 0.0
    for k in range(bins):
        n_k = int(counts[k])
        if n_k == 0:
            out.append(ReliabilityBin(k / bins, (k + 1) / bins, 0, None, None))
            continue
        conf_k = float(conf_sum[k] / n_k)
        acc_k = float(hit_sum[k] / n_k)
        gap = abs(acc_k - conf_k)
        ece += n_k / c.size * gap
        mce = max(mce, gap)
        out.append(ReliabilityBin(k / bins, (k + 1) / bins, n_k, conf_k, acc_k))
    if c.size == 0:
        ece = mce = float("nan")
    return Reliability(bins=tuple(out), ece=ece, mce=mce, n=int(c.size))


# Precision-coverage ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PrecisionCoverage:
    """Points of the precision-coverage curve, from the highest threshold down: releasing
    every finding with confidence >= `thresholds[i]` releases the share `coverage[i]` of all
    findings, of which the share `precision[i]` is correct."""

    thresholds: FloatArray
    coverage: FloatArray
    precision: FloatArray
    n: int

    def points(self) -> list[tuple[float, float, float]]:
        return [
            (float(t), float(c), float(p))
            for t, c, p in zip(self.thresholds, self.coverage, self.precision, strict=True)
        ]

    def as_dicts(self) -> list[dict[str, float | None]]:
        return [
            {"threshold": rounded(t), "coverage": rounded(c), "precision": rounded(p)}
            for t, c, p in self.points()
        ]


def precision_coverage(
    confidences: Iterable[float] | FloatArray, correct: Iterable[bool] | BoolArray
) -> PrecisionCoverage:
    """The curve with one point per distinct confidence, highest first (no findings: no
    points). Coverage = released / all findings, precision = correct released / released."""
    c, y = _outcomes(confidences, correct)
    if c.size == 0:
        empty = np.zeros(0, dtype=np.float64)
        return PrecisionCoverage(empty, empty, empty, 0)
    order = np.argsort(-c, kind="mergesort")
    c_sorted = c[order]
    hits = np.cumsum(y[order])
    # the last finding of each run of equal confidences closes that threshold's release
    last = np.flatnonzero(np.r_[c_sorted[1:] != c_sorted[:-1], True])
    released = last + 1
    return PrecisionCoverage(
        thresholds=c_sorted[last],
        coverage=released / c.size,
        precision=hits[last] / released,
        n=int(c.size),
    )


def coverage_at_precision(curve: PrecisionCoverage, precision: float) -> float:
    """The largest coverage whose precision is at least `precision`; 0.0 if none is."""
    ok = curve.precision >= precision
    return float(curve.coverage[ok].max()) if ok.any() else 0.0


def threshold_at_precision(curve: PrecisionCoverage, precision: float) -> float | None:
    """The threshold that gives `coverage_at_precision` (the lowest one whose precision is at
    least `precision`); None if no threshold reaches it. A point estimate on this sample, not
    a guarantee."""
    ok = np.flatnonzero(curve.precision >= precision)
    return float(curve.thresholds[ok[-1]]) if ok.size else None


def precision_coverage_area(curve: PrecisionCoverage) -> float:
    """Area under the precision-coverage curve by step integration over coverage from 0 to 1:
    sum over points of (coverage_i - coverage_(i-1)) * precision_i, with coverage_0 = 0.

    Each finding thus weighs 1/N with the precision of the threshold that releases it; when
    no two confidences are equal this is exactly the mean, over the findings sorted by
    confidence, of the running precision (precision of the top k, k = 1..N). Findings that
    tie share their group's precision. NaN without findings."""
    if curve.coverage.size == 0:
        return float("nan")
    steps = np.diff(curve.coverage, prepend=0.0)
    return float(np.sum(steps * curve.precision))


def thin_curve(curve: PrecisionCoverage, max_points: int = CURVE_POINTS) -> PrecisionCoverage:
    """At most `max_points` points of the curve, spread evenly over coverage; the first and
    the last point are always kept (for a report or a plot, not for computing figures)."""
    if max_points < 2:
        raise ValueError(f"a curve needs at least 2 points, got max_points={max_points}")
    if curve.coverage.size <= max_points:
        return curve
    grid = np.linspace(0.0, float(curve.coverage[-1]), max_points)
    keep = np.unique(np.searchsorted(curve.coverage, grid, side="left"))
    keep = np.minimum(keep, curve.coverage.size - 1)
    keep = np.unique(np.r_[0, keep, curve.coverage.size - 1])
    return PrecisionCoverage(
        thresholds=curve.thresholds[keep],
        coverage=curve.coverage[keep],
        precision=curve.precision[keep],
        n=curve.n,
    )


# Ranking --------------------------------------------------------------------------------


def auroc(confidences: Iterable[float] | FloatArray, correct: Iterable[bool] | BoolArray) -> float:
    """Area under the ROC curve of confidence for correctness: the probability that a correct
    finding has a higher confidence than a wrong one, ties counting half. NaN when all
    findings are correct or all are wrong."""
    c, y = _outcomes(confidences, correct)
    return roc_auc(y.astype(np.int64), c)

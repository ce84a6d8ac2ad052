"""Finding-level metrics: is a finding right, and does its confidence say how likely it is?

The inputs are outcomes already decided by the evaluation harness: for each finding of a
model on labelled photos, its confidence in [0, 1], whether it is correct under the strict
rule (at least half of its mask lies on labelled damage of its own class) and under the
loose rule (on labelled damage of any class); for each labelled damage instance, whether it
was found. Everything here is arithmetic on those outcomes: numpy only (matplotlib, with the
Agg backend, for the two plots), no Django, no torch.

Conventions:

- reliability bins are equal-width on [0, 1]; bin k holds k/B <= c < (k+1)/B, and the last
  bin also holds c = 1.0;
- a confidence threshold t releases every finding with confidence >= t, so findings with
  equal confidence are released together;
- in the JSON report every figure is a plain float, int or None (None where a figure is
  undefined: no findings, one outcome only), never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.core.evaluation.metrics import roc_auc

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Precision targets whose coverage the report gives (issue 9: 0.90 is the release target).
PRECISION_TARGETS = (0.90, 0.95)
CURVE_POINTS = 100  # the report's curve is thinned to at most this many points
FEW_FINDINGS = 10  # the reliability diagram pales bins with fewer findings than this


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


def _num(value: float, digits: int = 6) -> float | None:
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
            "confidence": None if self.confidence is None else _num(self.confidence),
            "accuracy": None if self.accuracy is None else _num(self.accuracy),
        }


@dataclass(frozen=True)
class Reliability:
    bins: tuple[ReliabilityBin, ...]
    ece: float  # expected calibration error; NaN without findings
    mce: float  # maximum calibration error over non-empty bins; NaN without findings
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "ece": _num(self.ece),
            "mce": _num(self.mce),
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
            {"threshold": _num(t), "coverage": _num(c), "precision": _num(p)}
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


# Report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FindingOutcome:
    """One finding of the model on a labelled photo, judged by the harness."""

    photo: str
    damage: str
    confidence: float
    correct: bool  # at least half of its mask on labelled damage of its class
    correct_any: bool  # at least half of its mask on labelled damage of any class


@dataclass(frozen=True)
class InstanceOutcome:
    """One labelled damage instance, and whether the model's findings found it."""

    photo: str
    damage: str
    found: bool


def _share(hits: int, total: int) -> float | None:
    return _num(hits / total) if total else None


def _summary(
    findings: Sequence[FindingOutcome],
    instances: Sequence[InstanceOutcome],
    photos: Sequence[str],
    bins: int,
    max_points: int,
) -> dict[str, Any]:
    per_photo = dict.fromkeys(photos, 0)
    for f in findings:
        per_photo[f.photo] += 1
    counts = np.asarray(list(per_photo.values()), dtype=np.float64)
    conf = np.asarray([f.confidence for f in findings], dtype=np.float64)
    strict = np.asarray([f.correct for f in findings], dtype=bool)
    curve = precision_coverage(conf, strict)
    calibration = reliability(conf, strict, bins=bins)
    correct = int(strict.sum())
    correct_any = sum(1 for f in findings if f.correct_any)
    found = sum(1 for i in instances if i.found)
    return {
        "photos": len(photos),
        "findings": len(findings),
        "findings_per_photo": {
            "median": _num(float(np.median(counts))) if counts.size else None,
            "p90": _num(float(np.percentile(counts, 90))) if counts.size else None,
            "mean": _num(float(counts.mean())) if counts.size else None,
        },
        "correct": correct,
        "correct_any": correct_any,
        "precision": _share(correct, len(findings)),
        "precision_any": _share(correct_any, len(findings)),
        "instances": len(instances),
        "instances_found": found,
        "recall": _share(found, len(instances)),
        "precision_coverage": {
            "coverage_at_precision": {
                f"{p:.2f}": _num(coverage_at_precision(curve, p)) for p in PRECISION_TARGETS
            },
            "threshold_at_precision": {
                f"{p:.2f}": threshold_at_precision(curve, p) for p in PRECISION_TARGETS
            },
            "area": _num(precision_coverage_area(curve)),
            "curve": thin_curve(curve, max_points).as_dicts(),
        },
        "auroc": _num(auroc(conf, strict)),
        "calibration": calibration.as_dict(),
    }


def finding_report(
    findings: Sequence[FindingOutcome],
    instances: Sequence[InstanceOutcome],
    photos: Sequence[str],
    *,
    bins: int = 10,
    max_points: int = CURVE_POINTS,
) -> dict[str, Any]:
    """The JSON-ready finding-level report, overall and under `per_class` per damage class.

    `photos` lists every evaluated photo id: a photo without findings counts as 0 findings,
    so findings per photo (median and p90 by numpy's linear interpolation, and mean) are
    over all of them. Precision, AUROC, the precision-coverage curve and the calibration
    (ECE over `bins` bins) use the strict rule; `precision_any` is the loose one. Recall is
    the share of labelled instances found. Per class, a finding counts under the class it
    names and an instance under its labelled class.
    """
    ids = list(photos)
    if len(set(ids)) != len(ids):
        raise ValueError("photo ids must be unique; pass each evaluated photo once")
    known = set(ids)
    stray = sorted(({f.photo for f in findings} | {i.photo for i in instances}) - known)
    if stray:
        raise ValueError(
            f"findings or instances on photos not in `photos` ({', '.join(stray[:5])}); "
            "pass every evaluated photo id"
        )
    report = _summary(findings, instances, ids, bins, max_points)
    classes = sorted({f.damage for f in findings} | {i.damage for i in instances})
    report["per_class"] = {
        name: _summary(
            [f for f in findings if f.damage == name],
            [i for i in instances if i.damage == name],
            ids,
            bins,
            max_points,
        )
        for name in classes
    }
    return report


# Plots ----------------------------------------------------------------------------------


def _bins_of(
    source: Reliability | Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], float | None]:
    """Bin dicts and ECE from a Reliability, a report (or one of its per-class entries), its
    `calibration` section, or a list of bin dicts."""
    if isinstance(source, Reliability):
        data = source.as_dict()
        return data["bins"], data["ece"]
    if isinstance(source, Mapping):
        section = source.get("calibration", source)
        return list(section["bins"]), section.get("ece")
    return [dict(b) for b in source], None


def plot_reliability(
    source: Reliability | Mapping[str, Any] | Sequence[Mapping[str, Any]],
    path: str | Path,
    title: str,
) -> Path:
    """A reliability diagram PNG: accuracy per confidence bin against the diagonal, the gap to
    the bin's mean confidence shaded, and below it the number of findings per bin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    bins, ece = _bins_of(source)
    if ece is None:
        ece = _reliability_ece(bins)
    low = np.asarray([b["low"] for b in bins], dtype=np.float64)
    width = np.asarray([b["high"] - b["low"] for b in bins], dtype=np.float64)
    counts = np.asarray([b["count"] for b in bins], dtype=np.int64)
    filled = counts > 0
    acc = np.asarray([b["accuracy"] if b["count"] else 0.0 for b in bins], dtype=np.float64)
    conf = np.asarray([b["confidence"] if b["count"] else 0.0 for b in bins], dtype=np.float64)

    fig, (top, bottom) = plt.subplots(
        2,
        1,
        figsize=(6.4, 7.4),
        sharex=True,
        gridspec_kw={"height_ratios": [3, 1]},
        layout="constrained",
    )
    ece_text = "n/a" if ece is None else f"{ece:.3f}"
    solid = filled & (counts >= FEW_FINDINGS)
    sparse = filled & (counts < FEW_FINDINGS)
    if solid.any():
        top.bar(
            low[solid],
            acc[solid],
            width=width[solid],
            align="edge",
            color="#4878a8",
            edgecolor="white",
            label=f"accuracy of bin (ECE {ece_text})",
        )
    if sparse.any():
        # a bin of a few findings is noise; paler, so the eye does not weigh it like the rest
        top.bar(
            low[sparse],
            acc[sparse],
            width=width[sparse],
            align="edge",
            color="#4878a8",
            alpha=0.35,
            edgecolor="white",
            label=f"accuracy, bin of under {FEW_FINDINGS} findings"
            + ("" if solid.any() else f" (ECE {ece_text})"),
        )
    if filled.any():
        # the gap is hatched without fill so that it reads over the bar when accuracy is higher
        top.bar(
            low[filled],
            np.abs(conf - acc)[filled],
            bottom=np.minimum(acc, conf)[filled],
            width=width[filled],
            align="edge",
            fill=False,
            edgecolor="#d62728",
            linewidth=0.8,
            hatch="///",
            label="gap to mean confidence",
        )
        top.scatter(
            (low + width / 2)[filled],
            conf[filled],
            marker="_",
            s=160,
            linewidths=2,
            color="black",
            zorder=3,
            label="mean confidence of bin",
        )
    else:
        top.text(0.5, 0.75, "no findings", ha="center", va="center", color="gray")
    top.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfectly calibrated")
    top.set_xlim(0.0, 1.0)
    top.set_ylim(0.0, 1.0)
    top.set_ylabel("accuracy (share of findings correct)")
    top.set_yticks(np.linspace(0.0, 1.0, 11))
    top.grid(True, alpha=0.3)
    # above the axes, so that no bar is hidden; accuracy first, then the gap, then the rest
    handles, labels = top.get_legend_handles_labels()
    rank = ("accuracy", "gap", "mean", "perfectly")
    ordered = sorted(
        zip(handles, labels, strict=True),
        key=lambda h: next(i for i, word in enumerate(rank) if h[1].startswith(word)),
    )
    top.legend(
        [h for h, _ in ordered],
        [label for _, label in ordered],
        loc="lower left",
        bbox_to_anchor=(0.0, 1.01),
        ncol=2,
        fontsize=8,
        frameon=False,
    )
    fig.suptitle(title)

    bottom.bar(low, counts, width=width, align="edge", color="#7f7f7f", edgecolor="white")
    for x, w, n in zip(low, width, counts, strict=True):
        if n:
            bottom.text(x + w / 2, n, str(int(n)), ha="center", va="bottom", fontsize=7)
    bottom.set_ylim(0, max(1, int(counts.max(initial=0))) * 1.25)
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.set_xlabel("confidence")
    bottom.set_ylabel("findings")
    bottom.set_xticks(np.linspace(0.0, 1.0, 11))
    bottom.grid(True, axis="y", alpha=0.3)
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _reliability_ece(bins: Sequence[Mapping[str, Any]]) -> float | None:
    total = sum(int(b["count"]) for b in bins)
    if not total:
        return None
    return sum(
        int(b["count"]) / total * abs(float(b["accuracy"]) - float(b["confidence"]))
        for b in bins
        if b["count"]
    )


def _curve_arrays(
    curve: PrecisionCoverage | Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> tuple[FloatArray, FloatArray, float]:
    """Coverage, precision and area from a curve, a report's `precision_coverage` section (or
    a whole report), or a list of point dicts. The area is the report's own when it has one
    (its curve is thinned), else the step integral of the points given."""
    if isinstance(curve, PrecisionCoverage):
        return curve.coverage, curve.precision, precision_coverage_area(curve)
    area: float | None = None
    if isinstance(curve, Mapping):
        section = curve.get("precision_coverage", curve)
        points = section["curve"]
        area = section.get("area")
    else:
        points = curve
    coverage = np.asarray([p["coverage"] for p in points], dtype=np.float64)
    precision = np.asarray([p["precision"] for p in points], dtype=np.float64)
    if area is None:
        area = float(np.sum(np.diff(coverage, prepend=0.0) * precision))
    return coverage, precision, area


def plot_precision_coverage(
    curves: Mapping[str, PrecisionCoverage | Mapping[str, Any] | Sequence[Mapping[str, Any]]],
    path: str | Path,
    title: str,
    target: float = 0.90,
) -> Path:
    """Precision against coverage, one line per named curve (area under it in the legend),
    with the target precision dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for name, curve in curves.items():
        coverage, precision, area = _curve_arrays(curve)
        if coverage.size == 0:
            ax.plot([], [], label=f"{name} (no findings)")
            continue
        # a step per threshold: the precision holds from the previous coverage to this one
        ax.step(
            np.r_[0.0, coverage],
            np.r_[precision[0], precision],
            where="pre",
            linewidth=1.6,
            label=f"{name} (area {area:.3f})",
        )
    ax.axhline(
        target, linestyle="--", color="#d62728", linewidth=1.2, label=f"precision {target:.2f}"
    )
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xticks(np.linspace(0.0, 1.0, 11))
    ax.set_yticks(np.linspace(0.0, 1.0, 11))
    ax.set_xlabel("coverage (share of findings released at or above the threshold)")
    ax.set_ylabel("precision of released findings")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out

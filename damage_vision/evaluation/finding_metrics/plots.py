"""The two PNG plots of the finding-level report: the reliability diagram (accuracy per
confidence bin against the diagonal, the gap shaded, findings per bin below) and
precision against coverage for one or more named curves. Each takes a curve or reliability
object, a report (or its section) or a list of point dicts. matplotlib is imported inside
the two plotting functions, after choosing the Agg backend, so that computing metrics
never loads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from damage_vision.evaluation.finding_metrics.curves import (
    FloatArray,
    PrecisionCoverage,
    Reliability,
    precision_coverage_area,
)

FEW_FINDINGS = 10  # the reliability diagram pales bins with fewer findings than this


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

"""Finding-level metrics: is a finding right, and does its confidence say how likely it is?

The inputs are outcomes already decided by the evaluation harness: for each finding of a
model on labelled photos, its confidence in [0, 1], whether it is correct under the strict
rule (at least half of its mask lies on labelled damage of its own class) and under the
loose rule (on labelled damage of any class); for each labelled damage instance, whether it
was found. Everything here is arithmetic on those outcomes: numpy only (matplotlib, with the
Agg backend, for the two plots), no Django, no torch. By concern: `curves` (reliability,
precision-coverage, AUROC), `report` (the JSON report, overall and per class) and `plots`
(the two PNGs). Callers import from `damage_vision.evaluation.finding_metrics`.

Conventions:

- reliability bins are equal-width on [0, 1]; bin k holds k/B <= c < (k+1)/B, and the last
  bin also holds c = 1.0;
- a confidence threshold t releases every finding with confidence >= t, so findings with
  equal confidence are released together;
- in the JSON report every figure is a plain float, int or None (None where a figure is
  undefined: no findings, one outcome only), never NaN.
"""

from damage_vision.evaluation.finding_metrics.curves import (
    CURVE_POINTS,
    BoolArray,
    FloatArray,
    PrecisionCoverage,
    Reliability,
    ReliabilityBin,
    auroc,
    coverage_at_precision,
    precision_coverage,
    precision_coverage_area,
    reliability,
    thin_curve,
    threshold_at_precision,
)
from damage_vision.evaluation.finding_metrics.plots import (
    FEW_FINDINGS,
    plot_precision_coverage,
    plot_reliability,
)
from damage_vision.evaluation.finding_metrics.report import (
    PRECISION_TARGETS,
    FindingOutcome,
    InstanceOutcome,
    finding_report,
)

__all__ = [
    "CURVE_POINTS",
    "FEW_FINDINGS",
    "PRECISION_TARGETS",
    "BoolArray",
    "FindingOutcome",
    "FloatArray",
    "InstanceOutcome",
    "PrecisionCoverage",
    "Reliability",
    "ReliabilityBin",
    "auroc",
    "coverage_at_precision",
    "finding_report",
    "plot_precision_coverage",
    "plot_reliability",
    "precision_coverage",
    "precision_coverage_area",
    "reliability",
    "thin_curve",
    "threshold_at_precision",
]

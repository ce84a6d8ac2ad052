"""Finding-level metrics (issue 9, point 1), against hand-computed values."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from damage_vision.evaluation.finding_metrics import (
    FindingOutcome,
    InstanceOutcome,
    PrecisionCoverage,
    auroc,
    coverage_at_precision,
    finding_report,
    plot_precision_coverage,
    plot_reliability,
    precision_coverage,
    precision_coverage_area,
    reliability,
    thin_curve,
    threshold_at_precision,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_reliability_of_four_findings_by_hand() -> None:
    # bin 0: 0.05 wrong; bin 1: 0.15 wrong; bin 9: 0.95 right and 1.0 wrong (1.0 joins bin 9)
    rel = reliability([0.05, 0.15, 0.95, 1.0], [False, False, True, False])
    assert rel.n == 4
    assert [b.count for b in rel.bins] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    last = rel.bins[9]
    assert (last.low, last.high) == (0.9, 1.0)
    assert last.confidence == pytest.approx(0.975)
    assert last.accuracy == pytest.approx(0.5)
    assert (rel.bins[2].confidence, rel.bins[2].accuracy) == (None, None)
    # (1/4) 0.05 + (1/4) 0.15 + (2/4) 0.475
    assert rel.ece == pytest.approx(0.2875)
    assert rel.mce == pytest.approx(0.475)


def test_reliability_bin_edges_and_perfect_calibration() -> None:
    # 0.3 belongs to [0.3, 0.4), not to [0.2, 0.3)
    rel = reliability([0.3, 0.3, 0.7, 0.7], [True, False, True, False], bins=10)
    assert rel.bins[3].count == 2
    assert rel.bins[2].count == 0
    rel = reliability([0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75], [1, 0, 0, 0, 1, 1, 1, 0], 2)
    assert rel.ece == pytest.approx(0.0)
    assert rel.mce == pytest.approx(0.0)


def test_reliability_without_findings_is_undefined_and_json_ready() -> None:
    rel = reliability([], [])
    assert math.isnan(rel.ece)
    assert math.isnan(rel.mce)
    data = rel.as_dict()
    assert data["ece"] is None
    assert data["findings"] == 0
    assert all(b["count"] == 0 and b["accuracy"] is None for b in data["bins"])
    json.dumps(data, allow_nan=False)


@pytest.mark.parametrize(
    ("confidences", "correct", "message"),
    [
        ([0.5, 1.2], [True, False], "lie in \\[0, 1\\]"),
        ([0.5, float("nan")], [True, False], "finite"),
        ([0.5], [True, False], "one outcome per finding"),
    ],
)
def test_outcomes_are_checked(confidences: list[float], correct: list[bool], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        reliability(confidences, correct)


def test_precision_coverage_releases_ties_together() -> None:
    conf = [0.5, 0.9, 0.8, 0.2, 0.8, 0.5]
    correct = [True, True, True, False, False, False]
    curve = precision_coverage(conf, correct)
    assert curve.n == 6
    assert curve.thresholds.tolist() == [0.9, 0.8, 0.5, 0.2]
    assert curve.coverage.tolist() == pytest.approx([1 / 6, 3 / 6, 5 / 6, 1.0])
    assert curve.precision.tolist() == pytest.approx([1.0, 2 / 3, 3 / 5, 1 / 2])
    assert coverage_at_precision(curve, 0.95) == pytest.approx(1 / 6)
    assert coverage_at_precision(curve, 0.6) == pytest.approx(5 / 6)
    assert coverage_at_precision(curve, 0.5) == pytest.approx(1.0)
    assert coverage_at_precision(curve, 1.01) == 0.0
    assert threshold_at_precision(curve, 0.6) == pytest.approx(0.5)
    assert threshold_at_precision(curve, 1.01) is None
    # steps: 1/6 * 1 + 2/6 * 2/3 + 2/6 * 3/5 + 1/6 * 1/2
    assert precision_coverage_area(curve) == pytest.approx(1 / 6 + 2 / 9 + 1 / 5 + 1 / 12)


def test_area_without_ties_is_the_mean_running_precision() -> None:
    curve = precision_coverage([0.9, 0.8, 0.7], [True, False, True])
    assert precision_coverage_area(curve) == pytest.approx((1 + 1 / 2 + 2 / 3) / 3)
    rng = np.random.default_rng(3)
    conf = rng.random(200)
    correct = rng.random(200) < conf
    order = np.argsort(-conf)
    running = np.cumsum(correct[order]) / np.arange(1, 201)
    assert precision_coverage_area(precision_coverage(conf, correct)) == pytest.approx(
        running.mean()
    )


def test_precision_coverage_without_findings() -> None:
    curve = precision_coverage([], [])
    assert curve.points() == []
    assert coverage_at_precision(curve, 0.9) == 0.0
    assert math.isnan(precision_coverage_area(curve))


def test_thin_curve_keeps_both_ends_and_at_most_the_limit() -> None:
    rng = np.random.default_rng(0)
    curve = precision_coverage(rng.random(1000), rng.random(1000) < 0.5)
    thin = thin_curve(curve, 100)
    assert 50 <= thin.coverage.size <= 100
    assert thin.points()[0] == curve.points()[0]
    assert thin.points()[-1] == curve.points()[-1]
    assert np.all(np.diff(thin.coverage) > 0)
    assert thin_curve(thin, 500) is thin


def test_auroc_counts_ties_half() -> None:
    # right: 0.8, 0.5; wrong: 0.5, 0.2 -> pairs 1 + 1 + 0.5 + 1 out of 4
    assert auroc([0.8, 0.5, 0.5, 0.2], [True, True, False, False]) == pytest.approx(0.875)
    assert auroc([0.4, 0.4], [True, False]) == pytest.approx(0.5)
    assert math.isnan(auroc([0.4, 0.9], [True, True]))
    assert math.isnan(auroc([], []))


def test_auroc_matches_sklearn() -> None:
    rng = np.random.default_rng(7)
    conf = np.round(rng.random(500), 2)  # rounded, so there are many ties
    correct = rng.random(500) < conf
    assert auroc(conf, correct) == pytest.approx(roc_auc_score(correct, conf))


def _findings() -> tuple[list[FindingOutcome], list[InstanceOutcome], list[str]]:
    findings = [
        FindingOutcome("a", "dent", 0.9, correct=True, correct_any=True),
        FindingOutcome("a", "dent", 0.6, correct=False, correct_any=True),
        FindingOutcome("a", "scratch", 0.8, correct=True, correct_any=True),
        FindingOutcome("b", "scratch", 0.3, correct=False, correct_any=False),
    ]
    instances = [
        InstanceOutcome("a", "dent", found=True),
        InstanceOutcome("a", "scratch", found=True),
        InstanceOutcome("c", "dent", found=False),
        InstanceOutcome("c", "crack", found=False),
    ]
    return findings, instances, ["a", "b", "c", "d"]


def test_report_overall_figures() -> None:
    report = finding_report(*_findings())
    assert report["photos"] == 4
    assert report["findings"] == 4
    # findings per photo 3, 1, 0, 0: p90 interpolates 1 + 0.7 * (3 - 1)
    assert report["findings_per_photo"] == {"median": 0.5, "p90": 2.4, "mean": 1.0}
    assert (report["correct"], report["correct_any"]) == (2, 3)
    assert report["precision"] == 0.5
    assert report["precision_any"] == 0.75
    assert (report["instances"], report["instances_found"], report["recall"]) == (4, 2, 0.5)
    pc = report["precision_coverage"]
    assert pc["coverage_at_precision"] == {"0.90": 0.5, "0.95": 0.5}
    assert pc["threshold_at_precision"] == {"0.90": 0.8, "0.95": 0.8}
    # running precision 1, 1, 2/3, 1/2
    assert pc["area"] == pytest.approx((1 + 1 + 2 / 3 + 1 / 2) / 4, abs=1e-6)
    assert [p["threshold"] for p in pc["curve"]] == [0.9, 0.8, 0.6, 0.3]
    assert report["auroc"] == 1.0
    cal = report["calibration"]
    assert [b["count"] for b in cal["bins"]] == [0, 0, 0, 1, 0, 0, 1, 0, 1, 1]
    # |0 - 0.3| + |0 - 0.6| + |1 - 0.8| + |1 - 0.9|, each weighing 1/4
    assert cal["ece"] == pytest.approx(0.3)
    assert cal["mce"] == pytest.approx(0.6)


def test_report_per_class() -> None:
    report = finding_report(*_findings())
    assert list(report["per_class"]) == ["crack", "dent", "scratch"]
    dent = report["per_class"]["dent"]
    assert dent["findings"] == 2
    assert dent["findings_per_photo"] == {"median": 0.0, "p90": pytest.approx(1.4), "mean": 0.5}
    assert (dent["precision"], dent["precision_any"], dent["recall"]) == (0.5, 1.0, 0.5)
    assert dent["auroc"] == 1.0
    crack = report["per_class"]["crack"]
    # labelled but never reported: no precision, no curve, no calibration, recall 0
    assert crack["findings"] == 0
    assert (crack["precision"], crack["auroc"], crack["recall"]) == (None, None, 0.0)
    assert crack["precision_coverage"]["curve"] == []
    assert crack["precision_coverage"]["coverage_at_precision"] == {"0.90": 0.0, "0.95": 0.0}
    assert crack["calibration"]["ece"] is None
    scratch = report["per_class"]["scratch"]
    assert scratch["findings_per_photo"]["mean"] == 0.5
    assert "per_class" not in scratch


def test_report_is_json_without_nan() -> None:
    findings, instances, photos = _findings()
    report = finding_report(findings, instances, photos)
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    empty = finding_report([], [], [])
    json.dumps(empty, allow_nan=False)
    assert empty["findings_per_photo"] == {"median": None, "p90": None, "mean": None}
    assert empty["per_class"] == {}


def test_report_curve_is_thinned() -> None:
    rng = np.random.default_rng(1)
    findings = [
        FindingOutcome(f"p{i % 50}", "dent", float(c), bool(c > 0.4), True)
        for i, c in enumerate(rng.random(1000))
    ]
    report = finding_report(findings, [], [f"p{i}" for i in range(50)])
    assert len(report["precision_coverage"]["curve"]) <= 100
    assert report["findings_per_photo"]["median"] == 20.0


def test_report_rejects_unknown_or_repeated_photos() -> None:
    findings, instances, _ = _findings()
    with pytest.raises(ValueError, match="not in `photos` \\(b, c\\)"):
        finding_report(findings, instances, ["a"])
    with pytest.raises(ValueError, match="unique"):
        finding_report([], [], ["a", "a"])


def test_plots_write_pngs(tmp_path: Path) -> None:
    report = finding_report(*_findings())
    rel_png = plot_reliability(report, tmp_path / "reliability.png", "test model")
    assert rel_png.read_bytes().startswith(PNG_MAGIC)
    assert rel_png.stat().st_size > 5000
    rel = reliability([0.1, 0.5, 0.9], [False, True, True])
    assert plot_reliability(rel, tmp_path / "r2.png", "t").stat().st_size > 5000
    empty = plot_reliability(reliability([], []), tmp_path / "r3.png", "no findings")
    assert empty.read_bytes().startswith(PNG_MAGIC)
    curves = {
        "report": report,
        "curve": precision_coverage([0.9, 0.5], [True, False]),
        "none": PrecisionCoverage(np.zeros(0), np.zeros(0), np.zeros(0), 0),
    }
    pc_png = plot_precision_coverage(curves, tmp_path / "pc.png", "test")
    assert pc_png.read_bytes().startswith(PNG_MAGIC)
    assert pc_png.stat().st_size > 5000

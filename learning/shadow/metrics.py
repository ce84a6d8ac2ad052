"""The figures of a shadow evaluation (pure, no database): `version_figures` turns one
version's matched findings into precision, recall, coverage at the target precision, per-class
figures, IoU, a confusion matrix, reliability and the precision-coverage curve;
`bootstrap_difference` gives percentile intervals of the candidate-minus-baseline precision
and recall by resampling cases; `disagreements` lists the cases where the versions differ most.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from damage_vision.evaluation.finding_metrics import (
    coverage_at_precision,
    precision_coverage,
    reliability,
    thin_curve,
)
from learning.models import ShadowFinding
from learning.shadow.matching import BoolMask, Match, Predicted, TruthRegion

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_MIN_CASES = 5  # fewer cases give an interval too wide to mean anything
BOOTSTRAP_SEED = 0
BOOTSTRAP_CONFIDENCE = 0.95
DISAGREEMENTS_SHOWN = 4


@dataclass(frozen=True)
class PhotoScore:
    """One photo of one case as a version saw it, with the truth in its grid."""

    case_id: int
    photo_id: int
    predicted: tuple[Predicted, ...]
    truth: tuple[TruthRegion, ...]
    grid: tuple[int, int]  # height, width


def _share(num: int, den: int) -> float | None:
    return round(num / den, 6) if den else None


def _label_map(
    regions: Iterable[tuple[str, BoolMask]], index: Mapping[str, int], grid: tuple[int, int]
) -> npt.NDArray[np.int64]:
    out = np.zeros(grid, dtype=np.int64)
    for damage, mask in regions:
        if damage in index:
            out[mask] = index[damage]
    return out


def version_figures(
    *,
    photos: Sequence[PhotoScore],
    matches: Mapping[int, Sequence[Match]],
    case_dsi: Mapping[int, tuple[float, float]],
    classes: Sequence[str],
    target_precision: float,
) -> dict[str, Any]:
    """Every figure of one version on the evaluated photos, JSON-ready.

    `matches[photo_id]` are `match_findings` of that photo's findings; `case_dsi[case_id]`
    is (the version's case DSI, the reviewed DSI); `classes` the version's damage classes,
    the first one "no damage" (the confusion matrix's background)."""
    index = {name: i for i, name in enumerate(classes)}
    k = len(classes)
    confusion = np.zeros((k, k), dtype=np.int64)
    confidences: list[float] = []
    correct_flags: list[bool] = []
    per_class: dict[str, dict[str, int]] = {}
    per_case: dict[int, dict[str, Any]] = {}
    per_photo: dict[str, dict[str, int]] = {}

    def bucket(name: str) -> dict[str, int]:
        return per_class.setdefault(name, {"findings": 0, "correct": 0, "truth": 0, "found": 0})

    for photo in photos:
        photo_matches = matches.get(photo.photo_id, [])
        found = {m.truth for m in photo_matches if m.outcome == ShadowFinding.Outcome.CORRECT}
        row = per_case.setdefault(
            photo.case_id,
            {"case": photo.case_id, "findings": 0, "correct": 0, "truth": 0, "found": 0},
        )
        correct_here = 0
        for finding, match in zip(photo.predicted, photo_matches, strict=True):
            ok = match.outcome == ShadowFinding.Outcome.CORRECT
            confidences.append(min(1.0, max(0.0, finding.c_refined)))
            correct_flags.append(ok)
            bucket(finding.damage)["findings"] += 1
            bucket(finding.damage)["correct"] += int(ok)
            correct_here += int(ok)
        kept = [r for r in photo.truth if r.kept]
        for region in kept:
            bucket(region.damage)["truth"] += 1
            bucket(region.damage)["found"] += int(region.key in found)
        row["findings"] += len(photo.predicted)
        row["correct"] += correct_here
        row["truth"] += len(kept)
        row["found"] += len(found)
        per_photo[str(photo.photo_id)] = {
            "case": photo.case_id,
            "findings": len(photo.predicted),
            "correct": correct_here,
        }
        truth_map = _label_map(((r.damage, r.mask) for r in kept), index, photo.grid)
        pred_map = _label_map(((f.damage, f.mask) for f in photo.predicted), index, photo.grid)
        confusion += np.bincount((truth_map * k + pred_map).ravel(), minlength=k * k).reshape(k, k)
    for case_id, (model_dsi, reviewed_dsi) in case_dsi.items():
        row = per_case.setdefault(
            case_id, {"case": case_id, "findings": 0, "correct": 0, "truth": 0, "found": 0}
        )
        row["dsi"] = round(model_dsi, 4)
        row["reviewed_dsi"] = round(reviewed_dsi, 4)
    n_findings = len(confidences)
    n_correct = sum(correct_flags)
    n_truth = sum(r["truth"] for r in per_case.values())
    n_found = sum(r["found"] for r in per_case.values())
    curve = precision_coverage(confidences, correct_flags)
    iou: dict[str, float | None] = {}
    for i, name in enumerate(classes[1:], start=1):
        union = int(confusion[i, :].sum() + confusion[:, i].sum() - confusion[i, i])
        iou[name] = round(float(confusion[i, i]) / union, 6) if union else None
    dsi_errors = [abs(m - r) for m, r in case_dsi.values()]
    outcomes: dict[str, int] = dict.fromkeys(ShadowFinding.Outcome.values, 0)
    for photo_matches in matches.values():
        for m in photo_matches:
            outcomes[m.outcome] += 1
    return {
        "cases": len(per_case),
        "photos": len(photos),
        "findings": n_findings,
        "correct": n_correct,
        "outcomes": outcomes,
        "truth_regions": n_truth,
        "truth_found": n_found,
        "precision": _share(n_correct, n_findings),
        "recall": _share(n_found, n_truth),
        "target_precision": target_precision,
        "coverage_at_target_precision": round(coverage_at_precision(curve, target_precision), 6)
        if n_findings
        else None,
        "findings_per_photo": _share(n_findings, len(photos)),
        "dsi_mean_abs_difference": round(sum(dsi_errors) / len(dsi_errors), 4)
        if dsi_errors
        else None,
        "per_class": {
            name: {
                **counts,
                "precision": _share(counts["correct"], counts["findings"]),
                "recall": _share(counts["found"], counts["truth"]),
            }
            for name, counts in sorted(per_class.items())
        },
        "iou": iou,
        "confusion": {"labels": list(classes), "matrix": confusion.tolist()},
        "reliability": reliability(confidences, correct_flags).as_dict(),
        "curve": thin_curve(curve).as_dicts(),
        "per_case": [per_case[c] for c in sorted(per_case)],
        "per_photo": per_photo,
    }


def _ratio(num: npt.NDArray[np.float64], den: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def bootstrap_difference(
    candidate: Sequence[Mapping[str, Any]],
    baseline: Sequence[Mapping[str, Any]],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = BOOTSTRAP_CONFIDENCE,
) -> dict[str, Any]:
    """Candidate minus baseline precision and recall, with percentile intervals from
    resampling cases (the same resampled cases for both); `per_case` rows of
    `version_figures`, in the same case order. Fewer than BOOTSTRAP_MIN_CASES cases: no
    interval, and a note saying so."""
    cases = [row["case"] for row in candidate]
    if cases != [row["case"] for row in baseline]:
        raise ValueError("both versions' per-case rows must list the same cases in one order")
    out: dict[str, Any] = {
        "cases": len(cases),
        "resamples": resamples,
        "seed": seed,
        "confidence": confidence,
    }
    if len(cases) < BOOTSTRAP_MIN_CASES:
        out["note"] = (
            f"too few cases for an interval ({len(cases)}; at least {BOOTSTRAP_MIN_CASES})"
        )
        return out

    def arr(rows: Sequence[Mapping[str, Any]], key: str) -> npt.NDArray[np.float64]:
        return np.asarray([float(r[key]) for r in rows], dtype=np.float64)

    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(cases), size=(resamples, len(cases)))
    alpha = (1.0 - confidence) / 2.0
    for name, num, den in (("precision", "correct", "findings"), ("recall", "found", "truth")):
        diff = _ratio(
            arr(candidate, num)[picks].sum(1), arr(candidate, den)[picks].sum(1)
        ) - _ratio(arr(baseline, num)[picks].sum(1), arr(baseline, den)[picks].sum(1))
        valid = diff[np.isfinite(diff)]
        if valid.size < resamples // 2:
            out[name] = {"note": f"too few {den} to resample the {name}"}
            continue
        out[name] = {
            "low": round(float(np.quantile(valid, alpha)), 6),
            "high": round(float(np.quantile(valid, 1.0 - alpha)), 6),
            "resamples_used": int(valid.size),
        }
    return out


def disagreements(
    candidate: Mapping[str, Any], baseline: Mapping[str, Any], *, limit: int = DISAGREEMENTS_SHOWN
) -> list[dict[str, Any]]:
    """The cases where the two versions differ most: the difference in correct findings
    first, then in case DSI; each with the photo where they differ most."""
    base_cases = {row["case"]: row for row in baseline["per_case"]}
    rows = []
    for row in candidate["per_case"]:
        other = base_cases.get(row["case"])
        if other is None:
            continue
        correct_gap = abs(row["correct"] - other["correct"])
        findings_gap = abs(row["findings"] - other["findings"])
        dsi_gap = abs(float(row.get("dsi", 0.0)) - float(other.get("dsi", 0.0)))
        if not (correct_gap or findings_gap or dsi_gap):
            continue
        photos = [
            (
                abs(p["correct"] - baseline["per_photo"].get(pid, {}).get("correct", 0)),
                abs(p["findings"] - baseline["per_photo"].get(pid, {}).get("findings", 0)),
                int(pid),
            )
            for pid, p in candidate["per_photo"].items()
            if p["case"] == row["case"]
        ]
        photo = max(photos)[2] if photos else None
        rows.append(
            {
                "case": row["case"],
                "photo": photo,
                "correct_gap": correct_gap,
                "findings_gap": findings_gap,
                "dsi_gap": round(dsi_gap, 4),
            }
        )
    rows.sort(key=lambda r: (-r["correct_gap"], -r["dsi_gap"], -r["findings_gap"], r["case"]))
    return rows[:limit]

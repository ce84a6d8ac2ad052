"""Shadow evaluation: a candidate version and the active one run on the same last N
reviewed cases, scored against what the adjusters decided (issue 11, point 3).

Truth is what a person kept: accepted and edited findings (the edited mask), added
regions, and findings above the threshold nobody overruled (as the label export counts
them, `selectors.reviewed_label_images`); rejected findings are known false. A shadow
finding is correct when it overlaps a kept region of the same damage class with IoU at
least `MATCH_IOU` (mask IoU; box IoU for a detector box against the region's bounding
box), each kept region matched once, highest C_refined first.

Shadow findings are `ShadowFinding` rows, never `inference.Finding`: no customer page,
report, queue or webhook reads them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from claims.audit import audit_record
from claims.models import Case, Photo
from common.access import require_admin
from common.db import send_each
from common.errors import ApplicationError
from inference.core.evaluation.finding_metrics import (
    coverage_at_precision,
    precision_coverage,
    reliability,
    thin_curve,
)
from inference.core.synthesis import synthesise_case
from inference.core.types import DamagedPart, PhotoResult
from inference.models import ModelVersion
from inference.predictors import predictor_for
from inference.records import photo_record
from inference.rendering import Region
from review import rle as rle_codec
from review import selectors
from review.models import ReviewedReport, ShadowEvaluation, ShadowFinding
from review.rle import Rle

SHADOW_TASK = "review.tasks.shadow_evaluation_task"

logger = logging.getLogger(__name__)

BoolMask = npt.NDArray[np.bool_]

SHADOW_MAX_CASES = 200  # a run is two versions on every photo of N cases, on the CPU workers
MATCH_IOU = 0.5
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_MIN_CASES = 5  # fewer cases give an interval too wide to mean anything
BOOTSTRAP_SEED = 0
BOOTSTRAP_CONFIDENCE = 0.95
DISAGREEMENTS_SHOWN = 4
# The task's hard time limit (review.tasks): an evaluation queued or running for longer lost
# its message or its worker, and is failed so that the candidate can be evaluated again.
SHADOW_TIME_LIMIT_S = 3 * 3600 + 120


# Matching (pure) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TruthRegion:
    """A region of a reviewed photo, in the evaluated version's grid and damage taxonomy."""

    key: str  # "f<finding id>" or "a<decision id>"
    damage: str
    mask: BoolMask
    kept: bool  # False: a finding the adjusters rejected (known false)


@dataclass(frozen=True)
class Predicted:
    """A finding of the evaluated version in the same grid."""

    damage: str
    mask: BoolMask
    box: tuple[int, int, int, int]
    shape: str  # "mask" | "box"
    c_refined: float


@dataclass(frozen=True)
class Match:
    outcome: str  # ShadowFinding.Outcome value
    truth: str  # the key of the region it matched, "" for none
    iou: float


def mask_iou(a: BoolMask, b: BoolMask) -> float:
    union = int(np.logical_or(a, b).sum())
    return float(np.logical_and(a, b).sum()) / union if union else 0.0


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two [x0, y0, x1, y1] boxes (exclusive ends)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _overlap(finding: Predicted, region: TruthRegion) -> float:
    if finding.shape == "box":
        box = rle_codec.bbox(region.mask)
        return 0.0 if box is None else box_iou(finding.box, box)
    return mask_iou(finding.mask, region.mask)


def match_findings(predicted: Sequence[Predicted], truth: Sequence[TruthRegion]) -> list[Match]:
    """One `Match` per finding, in the order given. Highest C_refined first, a finding
    takes the kept region of its class it overlaps most (IoU >= MATCH_IOU) that no finding
    took yet; failing that it is "rejected" when it overlaps a rejected region of its class
    as much, else "false"."""
    matches: list[Match | None] = [None] * len(predicted)
    taken: set[str] = set()
    order = sorted(range(len(predicted)), key=lambda i: -predicted[i].c_refined)
    for i in order:
        finding = predicted[i]
        best: tuple[float, str] = (0.0, "")
        for region in truth:
            if not region.kept or region.key in taken or region.damage != finding.damage:
                continue
            iou = _overlap(finding, region)
            if iou >= MATCH_IOU and iou > best[0]:
                best = (iou, region.key)
        if best[1]:
            taken.add(best[1])
            matches[i] = Match(ShadowFinding.Outcome.CORRECT, best[1], best[0])
            continue
        rejected = max(
            (
                (_overlap(finding, r), r.key)
                for r in truth
                if not r.kept and r.damage == finding.damage
            ),
            default=(0.0, ""),
        )
        if rejected[0] >= MATCH_IOU:
            matches[i] = Match(ShadowFinding.Outcome.REJECTED, rejected[1], rejected[0])
        else:
            matches[i] = Match(ShadowFinding.Outcome.FALSE, "", 0.0)
    return [m for m in matches if m is not None]


# Figures (pure) ----------------------------------------------------------------------------


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


# Creating an evaluation --------------------------------------------------------------------


def reviewed_cases_latest(*, n: int) -> list[Case]:
    """The last `n` reviewed cases, the most recently finished review first."""
    return list(
        Case.objects.filter(status=Case.Status.REVIEWED, model_version__isnull=False)
        .annotate(reviewed_at=Max("reviewed_reports__created_at"))
        .order_by("-reviewed_at", "-pk")[:n]
    )


def training_cases(version: ModelVersion) -> set[str]:
    """What the version's manifest says it was trained on (`metrics.training.cases`), as
    strings: case ids, public ids or references may be listed."""
    metrics = version.metrics if isinstance(version.metrics, dict) else {}
    training = metrics.get("training", {})
    listed = training.get("cases", []) if isinstance(training, dict) else []
    return {str(c) for c in listed} if isinstance(listed, list) else set()


def _trained_on(case: Case, listed: set[str]) -> bool:
    return bool({str(case.pk), str(case.public_id), case.reference} & listed)


def shadow_evaluation_create(*, candidate: ModelVersion, n: int, user: Any) -> ShadowEvaluation:
    """Ask for a shadow evaluation of `candidate` against the active version on the last
    `n` reviewed cases (less those it was trained on); the task is enqueued on commit."""
    require_admin(user)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= SHADOW_MAX_CASES:
        raise ApplicationError(
            f"Choose how many reviewed cases to evaluate on: a whole number from 1 to "
            f"{SHADOW_MAX_CASES}, got {n!r}."
        )
    baseline = selectors.model_version_active()
    if baseline is None:
        raise ApplicationError(
            "No model version is active, so there is nothing to compare the candidate with; "
            "promote a version first."
        )
    if baseline.pk == candidate.pk:
        raise ApplicationError(
            f"{candidate} is the active version; shadow-evaluate a candidate against it instead."
        )
    if candidate.status == ModelVersion.Status.RETIRED:
        raise ApplicationError(
            f"{candidate} is retired; only a candidate can be evaluated in shadow."
        )
    if not candidate.manifest_path or not baseline.manifest_path:
        missing = candidate if not candidate.manifest_path else baseline
        raise ApplicationError(
            f"{missing} has no manifest on this server, so it cannot run; register it with "
            "`python manage.py register_models`."
        )
    shadow_evaluations_fail_stale()
    latest = reviewed_cases_latest(n=n)
    listed = training_cases(candidate)
    excluded = [c.pk for c in latest if _trained_on(c, listed)]
    used = [c.pk for c in latest if c.pk not in excluded]
    if not used:
        if not latest:
            raise ApplicationError(
                "No case has been reviewed yet: shadow evaluation compares the versions with "
                "what adjusters decided, so finish at least one review first."
            )
        raise ApplicationError(
            f"All {len(latest)} of the last reviewed cases were used to train {candidate}; "
            "choose a larger N, or review more cases first."
        )
    try:
        with transaction.atomic():
            evaluation = ShadowEvaluation.objects.create(
                candidate=candidate,
                baseline=baseline,
                n_cases=n,
                case_ids=used,
                excluded_case_ids=excluded,
                created_by=user,
            )
            audit_record(
                verb="model.shadow_requested",
                actor=user,
                data={
                    "model_version": candidate.pk,
                    "evaluation": evaluation.pk,
                    "baseline": baseline.pk,
                    "cases": len(used),
                    "excluded": len(excluded),
                },
            )
            evaluation_id = evaluation.pk
            transaction.on_commit(lambda: _enqueue(evaluation_id))
    except IntegrityError:
        raise ApplicationError(
            f"A shadow evaluation of {candidate} is already queued or running; wait until it "
            "finishes (its status is on this page)."
        ) from None
    return evaluation


def shadow_evaluations_fail_stale(*, now: dt.datetime | None = None) -> list[int]:
    """Fail evaluations no worker will finish: queued or running for longer than the task
    may run (a lost message, a killed worker). Returns their ids."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=SHADOW_TIME_LIMIT_S)
    stale = ShadowEvaluation.objects.filter(
        Q(status=ShadowEvaluation.Status.QUEUED, created_at__lt=cutoff)
        | Q(status=ShadowEvaluation.Status.RUNNING, started_at__lt=cutoff)
    )
    ids = list(stale.values_list("pk", flat=True))
    ShadowEvaluation.objects.filter(pk__in=ids).update(
        status=ShadowEvaluation.Status.FAILED,
        error="no worker finished it in time (a lost message or a stopped worker); ask again",
        finished_at=now,
    )
    return ids


def _enqueue(evaluation_id: int) -> None:
    # The task (`review.tasks`, which calls this module) looked up by name; a broker that
    # cannot be reached leaves the evaluation queued.
    send_each(current_app.tasks[SHADOW_TASK], [evaluation_id], "shadow evaluation")


# Running it --------------------------------------------------------------------------------


def shadow_evaluation_claim(*, evaluation_id: int) -> bool:
    return bool(
        ShadowEvaluation.objects.filter(
            pk=evaluation_id, status=ShadowEvaluation.Status.QUEUED
        ).update(status=ShadowEvaluation.Status.RUNNING, started_at=timezone.now())
    )


def shadow_evaluation_fail(*, evaluation_id: int, error: str) -> None:
    ShadowEvaluation.objects.filter(
        pk=evaluation_id, status=ShadowEvaluation.Status.RUNNING
    ).update(status=ShadowEvaluation.Status.FAILED, error=error[:5000], finished_at=timezone.now())


@dataclass(frozen=True)
class _FullTruth:
    key: str
    damage: str  # in the reviewed case's version's taxonomy
    mask: BoolMask  # at the photo's full size, or in the case version's grid
    kept: bool


def _case_truth(case: Case) -> dict[int, list[_FullTruth]]:
    """Per photo: the regions people kept and the findings they rejected, from the same
    review items as the label export (`selectors.case_review_items`)."""
    out: dict[int, list[_FullTruth]] = {}
    for item in selectors.case_review_items(case=case):
        if item.kind == "photo" or item.state == "pending":
            continue
        kept = item.state != "rejected"
        edit = item.decision.mask_edit if item.decision else None
        if kept and edit is not None:
            mask = rle_codec.decode(edit.rle)
        else:
            assert item.finding is not None
            mask = rle_codec.decode(Rle.from_coco(item.finding.mask_rle))
        key = f"f{item.finding.pk}" if item.finding is not None else f"a{item.decision.pk}"  # type: ignore[union-attr]
        damage = item.damage if kept else (item.finding.damage if item.finding else item.damage)
        out.setdefault(item.photo.pk, []).append(_FullTruth(key, damage, mask, kept))
    return out


def _in_grid(
    regions: Sequence[_FullTruth], grid: tuple[int, int], mapping: Mapping[str, str]
) -> tuple[TruthRegion, ...]:
    out = []
    for r in regions:
        damage = mapping.get(r.damage, "")
        if not damage:
            continue
        mask = r.mask if r.mask.shape == grid else rle_codec.resize_nearest(r.mask, *grid)
        out.append(TruthRegion(r.key, damage, mask, r.kept))
    return tuple(out)


def _reviewed_dsi(case: Case) -> float:
    report = ReviewedReport.objects.filter(case=case).order_by("-created_at", "-pk").first()
    if report is not None:
        return float(report.dsi)
    return float(case.dsi or 0.0)


def _run_version(
    *, evaluation: ShadowEvaluation, version: ModelVersion, cases: Sequence[Case]
) -> dict[str, Any]:
    """Run `version` on the usable photos of `cases`, store its findings as shadow rows
    and return its figures."""

    predictor = predictor_for(version.manifest_path)
    taxonomy = predictor.damage_taxonomy
    background_part = predictor.part_taxonomy.background
    scores: list[PhotoScore] = []
    matches: dict[int, list[Match]] = {}
    case_dsi: dict[int, tuple[float, float]] = {}
    rows: list[ShadowFinding] = []
    for case in cases:
        assert case.model_version is not None
        mapping = selectors.damage_mapping(
            target=taxonomy, source=case.model_version.damage_taxonomy
        )
        truth = _case_truth(case)
        photos = list(case.photos.filter(status=Photo.Status.DONE).order_by("position"))
        results: list[PhotoResult] = []
        for photo in photos:
            with photo.original.open("rb") as fh:
                data = fh.read()
            (result,) = predictor.predict([data])
            results.append(result)
        synthesis = synthesise_case(
            results,
            version.threshold,
            settings.INFERENCE_K_AGREE_DENOMINATOR,  # type: ignore[arg-type]
            background_part=background_part,
        )
        k_agree = {(row.part, row.damage): row.k_agree for row in synthesis.findings}
        case_dsi[case.pk] = (float(synthesis.dsi), _reviewed_dsi(case))
        for photo, result in zip(photos, results, strict=True):
            width, height = result.processed_size
            grid = (height, width)
            findings: tuple[DamagedPart, ...] = () if result.set_aside_reason else result.findings
            predicted = tuple(
                Predicted(
                    damage=f.damage,
                    mask=f.mask,
                    box=f.box,
                    shape=f.shape,
                    c_refined=f.confidence * k_agree.get((f.part, f.damage), 1.0),
                )
                for f in findings
            )
            regions = _in_grid(truth.get(photo.pk, []), grid, mapping)
            photo_matches = match_findings(predicted, regions)
            matches[photo.pk] = photo_matches
            scores.append(PhotoScore(case.pk, photo.pk, predicted, regions, grid))
            stored = photo_record(result)["findings"] if findings else []
            for index, (f, p, m, item) in enumerate(
                zip(findings, predicted, photo_matches, stored, strict=True)
            ):
                rows.append(
                    ShadowFinding(
                        evaluation=evaluation,
                        model_version=version,
                        case=case,
                        photo=photo,
                        index=index,
                        part=f.part,
                        damage=f.damage,
                        shape=f.shape,
                        mask_rle=item["mask_rle"],
                        mask_size=[width, height],
                        box=list(f.box),
                        confidence=f.confidence,
                        c_refined=p.c_refined,
                        dsi_score=f.severity.score,
                        outcome=m.outcome,
                        matched_truth=m.truth,
                        match_iou=round(m.iou, 6),
                    )
                )
    ShadowFinding.objects.bulk_create(rows)
    return version_figures(
        photos=scores,
        matches=matches,
        case_dsi=case_dsi,
        classes=taxonomy.classes,
        target_precision=version.target_precision,
    )


def shadow_evaluation_run(*, evaluation_id: int) -> ShadowEvaluation:
    """Run a claimed evaluation: both versions on the same cases, then the comparison."""
    evaluation = ShadowEvaluation.objects.select_related("candidate", "baseline").get(
        pk=evaluation_id
    )
    cases = list(
        Case.objects.filter(pk__in=evaluation.case_ids)
        .select_related("model_version")
        .order_by("pk")
    )
    # A rerun of an evaluation whose worker died starts clean.
    ShadowFinding.objects.filter(evaluation=evaluation).delete()
    candidate = _run_version(evaluation=evaluation, version=evaluation.candidate, cases=cases)
    baseline = _run_version(evaluation=evaluation, version=evaluation.baseline, cases=cases)
    figures = {
        "candidate": candidate,
        "baseline": baseline,
        "bootstrap": bootstrap_difference(candidate["per_case"], baseline["per_case"]),
        "disagreements": disagreements(candidate, baseline),
    }
    ShadowEvaluation.objects.filter(pk=evaluation.pk).update(
        status=ShadowEvaluation.Status.DONE, figures=figures, finished_at=timezone.now(), error=""
    )
    evaluation.refresh_from_db()
    return evaluation


# Reading it --------------------------------------------------------------------------------

HEADLINE_SHADOW: tuple[tuple[str, str], ...] = (
    ("precision", "precision"),
    ("recall", "recall"),
    ("coverage at the target precision", "coverage_at_target_precision"),
    ("findings per photo", "findings_per_photo"),
    ("mean |case DSI - reviewed DSI|", "dsi_mean_abs_difference"),
)


def shadow_headline(figures: Mapping[str, Any]) -> dict[str, Any]:
    """The figures a promotion is recorded with."""
    return {key: figures.get(key) for _, key in HEADLINE_SHADOW} | {
        "findings": figures.get("findings"),
        "cases": figures.get("cases"),
    }


def evaluation_for_pair(*, a: ModelVersion, b: ModelVersion) -> ShadowEvaluation | None:
    """The latest finished evaluation that ran these two versions side by side."""
    return (
        ShadowEvaluation.objects.filter(status=ShadowEvaluation.Status.DONE)
        .filter(Q(candidate=a, baseline=b) | Q(candidate=b, baseline=a))
        .order_by("-finished_at", "-pk")
        .first()
    )


def evaluations_of(*, version: ModelVersion, limit: int = 5) -> list[ShadowEvaluation]:
    return list(
        ShadowEvaluation.objects.filter(candidate=version)
        .select_related("baseline", "created_by")
        .order_by("-created_at", "-pk")[:limit]
    )


def promotion_evidence(*, version: ModelVersion, evaluation_id: int | None) -> dict[str, Any]:
    """What a promotion of `version` is recorded with: the shadow evaluation against the
    version active now (the one named, else the latest finished one) and both versions'
    headline figures; `"shadow": None` with a note when there is none."""
    active = selectors.model_version_active(excluding=version)
    qs = ShadowEvaluation.objects.filter(candidate=version, status=ShadowEvaluation.Status.DONE)
    if active is not None:
        qs = qs.filter(baseline=active)
    if evaluation_id is not None:
        qs = qs.filter(pk=evaluation_id)
    evaluation = qs.order_by("-finished_at", "-pk").first()
    if evaluation is None and evaluation_id is not None:
        raise ApplicationError(
            f"Shadow evaluation {evaluation_id} is not a finished evaluation of {version} "
            "against the active version (another version may have been promoted meanwhile); "
            "reload the comparison and confirm again."
        )
    validation = {
        "candidate": dict(selectors.headline_metrics(version.metrics)),
        "active": dict(selectors.headline_metrics(active.metrics)) if active else None,
    }
    if evaluation is None:
        note = (
            "promoted without a finished shadow evaluation against the active version"
            if active is not None
            else "promoted while no version was active: nothing to compare with"
        )
        return {"shadow": None, "shadow_note": note, "validation": validation}
    figures = evaluation.figures
    boot = figures.get("bootstrap", {})
    return {
        "shadow": {
            "evaluation": evaluation.pk,
            "baseline": evaluation.baseline_id,
            "cases": len(evaluation.case_ids),
            "excluded_cases": len(evaluation.excluded_case_ids),
            "candidate": shadow_headline(figures.get("candidate", {})),
            "baseline_figures": shadow_headline(figures.get("baseline", {})),
            "precision_interval": boot.get("precision"),
            "recall_interval": boot.get("recall"),
            "interval_note": boot.get("note", ""),
        },
        "validation": validation,
    }


def shadow_regions(
    *, evaluation: ShadowEvaluation, version: ModelVersion, photo: Photo
) -> list[Region]:
    """A version's shadow findings of one photo, to draw (`inference.rendering.render`)."""
    regions = []
    for row in ShadowFinding.objects.filter(
        evaluation=evaluation, model_version=version, photo=photo
    ).order_by("index"):
        mask = rle_codec.decode(Rle.from_coco(row.mask_rle))
        regions.append(
            Region(
                number=row.index + 1,
                damage=row.damage,
                mask=mask,
                box=(int(row.box[0]), int(row.box[1]), int(row.box[2]), int(row.box[3])),
                grid=(int(row.mask_size[0]), int(row.mask_size[1])),
                shape=row.shape,
                area_px=int(mask.sum()),
            )
        )
    return regions

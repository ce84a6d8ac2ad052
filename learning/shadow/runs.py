"""Running a shadow evaluation on the worker: claiming and failing it, the adjusters' truth
of each reviewed photo (kept and rejected regions, moved into the evaluated version's grid and
taxonomy), running one version on every usable photo of the cases and storing its findings as
`ShadowFinding` rows, and `shadow_evaluation_run`, which runs both versions and stores the
comparison's figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from claims.models import Case, Photo
from damage_vision.pipeline.types import DamagedPart, PhotoResult
from damage_vision.synthesis import synthesise_case
from inference.models import Finding, ModelVersion
from inference.predictors import predictor_for
from inference.records import photo_record
from learning import selectors
from learning.models import ShadowEvaluation, ShadowFinding
from learning.shadow.matching import BoolMask, Match, Predicted, TruthRegion, match_findings
from learning.shadow.metrics import PhotoScore, bootstrap_difference, disagreements, version_figures
from review import rle as rle_codec
from review import selectors as review_selectors
from review.models import ReviewedReport
from review.rle import Rle


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
    """Per photo: the regions people kept and the findings they rejected, as the case's
    latest reviewed report stored them (what the label export exports)."""
    out: dict[int, list[_FullTruth]] = {}
    report = review_selectors.case_latest_report(case=case)
    outcome = review_selectors.report_outcome(report=report) if report is not None else None
    if outcome is None:
        return out
    for kept in outcome.kept:
        key = f"f{kept.finding_id}" if kept.finding_id is not None else f"a{kept.decision_id}"
        mask = rle_codec.decode(kept.mask)
        out.setdefault(kept.photo_id, []).append(_FullTruth(key, kept.damage, mask, True))
    for finding in Finding.objects.filter(pk__in=outcome.rejected_findings).order_by("pk"):
        mask = rle_codec.decode(Rle.from_coco(finding.mask_rle))
        out.setdefault(finding.photo_id, []).append(
            _FullTruth(f"f{finding.pk}", finding.damage, mask, False)
        )
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

"""A case once its photos are processed: the synthesis over its photos writes its findings
once and hands the outcome to claims (`claims.lifecycle`), which sets the case's status;
the sweep finishes cases whose case task was lost."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from claims.lifecycle import case_settle, case_status_after_processing
from claims.live import case_notify
from claims.models import FINAL_PHOTO_STATES, Case, Photo
from common.db import send_each
from damage_vision.release import needs_review
from damage_vision.synthesis import synthesise_case
from damage_vision.taxonomy import load_taxonomy
from damage_vision.versions.registry import load_manifest
from inference.models import Finding, InferenceRun
from inference.services.records import photo_recorded

logger = logging.getLogger(__name__)

# The task of `inference.tasks` (which calls this module), looked up by name when sent.
CASE_TASK = "inference.tasks.case_finalise_task"


def case_check_complete(*, case_id: int) -> None:
    """Enqueue the case synthesis when every photo has reached a final state."""

    pending = Photo.objects.filter(case_id=case_id).exclude(status__in=FINAL_PHOTO_STATES).exists()
    if not pending:
        transaction.on_commit(lambda: send_each(current_app.tasks[CASE_TASK], [case_id], "case"))


def cases_sweep(*, now: Any = None) -> list[int]:
    """Finalise cases whose photos all finished but whose case task never ran (lost message)."""

    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.INFERENCE_CASE_GRACE_S)
    stuck = list(
        Case.objects.filter(status=Case.Status.PROCESSING)
        .exclude(photos__status__in=[Photo.Status.QUEUED, Photo.Status.RUNNING])
        .annotate(last_finished=Max("photos__runs__finished_at"))
        .filter(last_finished__lt=cutoff)
        .values_list("pk", flat=True)
    )
    if stuck:
        transaction.on_commit(lambda: send_each(current_app.tasks[CASE_TASK], stuck, "case"))
    return stuck


def case_finalise(*, case_id: int) -> Case:
    """Synthesise the case's photos and write its findings once (idempotent)."""
    case = Case.objects.select_related("model_version").get(pk=case_id)
    version = case.model_version
    assert version is not None
    photos = list(case.photos.order_by("position"))
    if any(p.status not in FINAL_PHOTO_STATES for p in photos):
        return case
    runs = {
        r.photo_id: r for r in InferenceRun.objects.filter(photo__case=case, model_version=version)
    }
    done = [p for p in photos if p.pk in runs and runs[p.pk].status == InferenceRun.Status.DONE]
    results = [photo_recorded(runs[p.pk].result) for p in done]
    predictor_manifest = load_manifest(version.manifest_path)
    parts = load_taxonomy(predictor_manifest.part_taxonomy)
    synthesis = synthesise_case(
        results,
        version.threshold,
        settings.INFERENCE_K_AGREE_DENOMINATOR,  # type: ignore[arg-type]
        background_part=parts.background,
    )
    ledger = {(row.part, row.damage): row for row in synthesis.findings}
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        # Findings are written once per (photo, model version): a photo added later gets its
        # own rows; rows written before are never touched.
        written = set(
            Finding.objects.filter(case=case, model_version=version).values_list(
                "photo_id", flat=True
            )
        )
        rows = []
        for photo, result in zip(done, results, strict=True):
            run = runs[photo.pk]
            if result.set_aside_reason or photo.pk in written:
                continue
            for index, finding in enumerate(result.findings):
                row = ledger[(finding.part, finding.damage)]
                # The calibrated confidence (C_base for an uncalibrated version) times the
                # agreement of the case's photos; routing and the queue order use it.
                c_refined = finding.confidence * row.k_agree
                rows.append(
                    Finding(
                        case=case,
                        photo=photo,
                        run=run,
                        model_version=version,
                        index=index,
                        part=finding.part,
                        damage=finding.damage,
                        mask_rle=finding.mask_rle,
                        mask_size=list(result.processed_size),
                        box=list(finding.box),
                        shape=finding.shape,  # "mask" for results from before boxes
                        area_px=finding.area_px,
                        share_of_part=finding.share_of_part,
                        size_class=finding.size_class,
                        area_cm2=finding.area_cm2,
                        area_cm2_uncertainty=finding.area_cm2_uncertainty,
                        c_base=finding.c_base,
                        confidence=finding.confidence,
                        k_agree=row.k_agree,
                        c_refined=c_refined,
                        needs_review=needs_review(c_refined, version.threshold),
                        dsi_area=finding.severity.area,
                        dsi_confidence=finding.severity.confidence,
                        dsi_type_weight=finding.severity.type_weight,
                        dsi_score=finding.severity.score,
                    )
                )
        Finding.objects.bulk_create(rows)
        to_review = Finding.objects.filter(case=case, model_version=version, needs_review=True)
        status = case_status_after_processing(
            case=case,
            photos=photos,
            usable=bool(done) and any(r.set_aside_reason is None for r in results),
            to_review=to_review.exists(),
        )
        case_settle(case=case, status=status, dsi=synthesis.dsi)
    case_notify(case_id=case.pk)
    return case

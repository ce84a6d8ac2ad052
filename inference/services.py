"""Model versions, inference runs, case synthesis, the sweeper and webhooks."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import random
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from PIL import Image

from claims.errors import ApplicationError
from claims.models import ApiClient, Case, Photo, WebhookDelivery
from claims.services import audit_record, photo_derive
from claims.webhooks import case_webhook_deliver
from inference.core.registry import Manifest, list_versions, load_manifest
from inference.core.taxonomy import load_taxonomy
from inference.models import Finding, InferenceRun, ModelVersion
from inference.predictors import predictor_for
from inference.records import photo_from_record, photo_record
from inference.rendering import label_map_png, render_annotated

logger = logging.getLogger(__name__)

TERMINAL_PHOTO = (Photo.Status.DONE, Photo.Status.SET_ASIDE, Photo.Status.FAILED)


# Model versions ----------------------------------------------------------------------------


def model_version_register(*, manifest: Manifest) -> ModelVersion:
    """Register a model version from its manifest; registering again changes nothing."""
    version, _ = ModelVersion.objects.get_or_create(
        name=manifest.name,
        version=manifest.version,
        defaults={
            "weights_sha256": manifest.weights_sha256(
                "onnx" if "onnx" in manifest.backends else "torch"
            ),
            "part_taxonomy": manifest.part_taxonomy,
            "damage_taxonomy": manifest.damage_taxonomy,
            "threshold": manifest.threshold,
            "manifest_path": str(manifest.directory),
            "description": manifest.description,
            "metrics": dict(manifest.metrics),
            "target_precision": manifest.target_precision,
            "calibrated": manifest.calibrator is not None,
            "threshold_promise": dict(manifest.threshold_promise),
            "damage_backend": manifest.damage_backend,
        },
    )
    return version


def models_register_shipped(*, root: Path | None = None) -> list[ModelVersion]:
    """Register every shipped version; the newest segmentation version (else the newest)
    becomes active when none is.

    An active version whose files left the tree (an upgrade that ships a newer version and
    drops the superseded one) can process nothing: it is retired, with an audit record,
    and the newest shipped version becomes active. Its findings stay as they are.
    """
    manifests = list_versions(root) if root is not None else list_versions()
    registered = [model_version_register(manifest=m) for m in manifests]
    with transaction.atomic():
        for gone in ModelVersion.objects.select_for_update().filter(
            status=ModelVersion.Status.ACTIVE
        ):
            if registered and not Path(gone.manifest_path).exists():
                ModelVersion.objects.filter(pk=gone.pk).update(status=ModelVersion.Status.RETIRED)
                audit_record(
                    verb="model_version.retired",
                    data={
                        "model_version": str(gone),
                        "reason": f"its files are gone ({gone.manifest_path})",
                    },
                )
        if (
            registered
            and not ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exists()
        ):
            # the default back end is segmentation: a detection version is promoted by hand
            segmentation = [
                v
                for v, m in zip(registered, manifests, strict=True)
                if m.damage_backend == "segmentation"
            ]
            newest = (segmentation or registered)[-1]
            ModelVersion.objects.filter(pk=newest.pk).update(status=ModelVersion.Status.ACTIVE)
            audit_record(verb="model_version.activated", data={"model_version": str(newest)})
    return [ModelVersion.objects.get(pk=v.pk) for v in registered]


def model_version_active() -> ModelVersion:
    version = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    if version is None:
        raise ApplicationError(
            "No model version is active, so photos cannot be processed. An admin must run "
            "`python manage.py register_models` (bin/run does it)."
        )
    return version


# Runs --------------------------------------------------------------------------------------


def _enqueue(run_ids: Sequence[int]) -> None:
    from kombu.exceptions import OperationalError as BrokerError

    from inference.tasks import photo_process_task

    for run_id in run_ids:
        try:
            photo_process_task.delay(run_id)
        except BrokerError:
            # The run is stored as queued: the sweeper sends it again once the broker is back.
            logger.warning("broker unreachable; run %s waits for the sweeper", run_id)


def runs_create(*, photos: Sequence[Photo], model_version: ModelVersion) -> list[InferenceRun]:
    """Create the runs and enqueue them once the surrounding transaction commits."""
    runs = [InferenceRun.objects.create(photo=p, model_version=model_version) for p in photos]
    ids = [r.pk for r in runs]
    transaction.on_commit(lambda: _enqueue(ids))
    return runs


def run_requeue(*, photo: Photo) -> None:
    with transaction.atomic():
        updated = InferenceRun.objects.filter(
            photo=photo, status=InferenceRun.Status.FAILED
        ).update(status=InferenceRun.Status.QUEUED, error="", attempts=0, queued_at=timezone.now())
        if not updated:
            raise ApplicationError("This photo has no failed run to retry.")
        Photo.objects.filter(pk=photo.pk).update(status=Photo.Status.QUEUED, error="")
        Case.objects.filter(pk=photo.case_id).update(
            status=Case.Status.PROCESSING, finished_at=None
        )
        ids = list(
            photo.runs.filter(status=InferenceRun.Status.QUEUED).values_list("pk", flat=True)
        )
        transaction.on_commit(lambda: _enqueue(ids))


def run_claim(*, run_id: int) -> bool:
    """Take a queued run (conditional update); False when another worker has it or it is done."""
    now = timezone.now()
    claimed = InferenceRun.objects.filter(pk=run_id, status=InferenceRun.Status.QUEUED).update(
        status=InferenceRun.Status.RUNNING, started_at=now, attempts=F("attempts") + 1
    )
    if claimed:
        run = InferenceRun.objects.select_related("photo").get(pk=run_id)
        Photo.objects.filter(pk=run.photo_id).update(status=Photo.Status.RUNNING)
        case_notify(case_id=run.photo.case_id)
    return bool(claimed)


def run_execute(*, run_id: int) -> None:
    """Run the inference core on the photo of a claimed run and store its output."""
    run = InferenceRun.objects.select_related("photo__case", "model_version").get(pk=run_id)
    photo = run.photo
    if not photo.display:
        photo_derive(photo=photo)
    predictor = predictor_for(run.model_version.manifest_path)
    with photo.original.open("rb") as fh:
        data = fh.read()
    (result,) = predictor.predict([data])
    record = photo_record(result)

    base = f"cases/{photo.case.public_id}/derived/{photo.pk}-v{run.model_version_id}"
    with photo.display.open("rb") as fh, Image.open(fh) as img:
        annotated = render_annotated(
            img, result, predictor.part_taxonomy, predictor.damage_taxonomy
        )
    names = {}
    for key, image in (
        ("annotated", annotated),
        ("part_map", label_map_png(result.part_map)),
        ("damage_map", label_map_png(result.damage_map)),
    ):
        buffer = io.BytesIO()
        fmt = "JPEG" if key == "annotated" else "PNG"
        image.save(buffer, fmt, **({"quality": 88} if fmt == "JPEG" else {}))
        ext = "jpg" if fmt == "JPEG" else "png"
        names[key] = default_storage.save(f"{base}-{key}.{ext}", ContentFile(buffer.getvalue()))
    record["files"] = names

    with transaction.atomic():
        updated = InferenceRun.objects.filter(pk=run.pk, status=InferenceRun.Status.RUNNING).update(
            status=InferenceRun.Status.DONE,
            result=record,
            timings_ms=record["timings_ms"],
            finished_at=timezone.now(),
            error="",
        )
        if not updated:
            return  # the sweeper took it back meanwhile; the newer attempt wins
        Photo.objects.filter(pk=photo.pk).update(
            status=Photo.Status.SET_ASIDE if result.set_aside_reason else Photo.Status.DONE,
            set_aside_reason=result.set_aside_reason or "",
            annotated=names["annotated"],
            dsi=None if result.set_aside_reason else result.dsi,
        )
    case_notify(case_id=photo.case_id)
    case_check_complete(case_id=photo.case_id)


def run_fail(*, run_id: int, error: str, retry: bool, reason: str = "") -> bool:
    """Record a failed attempt: back to the queue when it may be retried (True), else failed.

    `error` (technical, for staff) goes on the run; `reason` (for the customer, no server
    details) goes on the photo, defaulting to `error`.
    """
    run = InferenceRun.objects.select_related("photo").get(pk=run_id)
    if retry and run.attempts < settings.INFERENCE_MAX_ATTEMPTS:
        InferenceRun.objects.filter(pk=run_id).update(
            status=InferenceRun.Status.QUEUED, error=error[:5000], queued_at=timezone.now()
        )
        return True
    InferenceRun.objects.filter(pk=run_id).update(
        status=InferenceRun.Status.FAILED, error=error[:5000], finished_at=timezone.now()
    )
    Photo.objects.filter(pk=run.photo_id).update(
        status=Photo.Status.FAILED, error=(reason or error)[:5000]
    )
    case_notify(case_id=run.photo.case_id)
    case_check_complete(case_id=run.photo.case_id)
    return False


def case_check_complete(*, case_id: int) -> None:
    """Enqueue the case synthesis when every photo has reached a final state."""
    from inference.tasks import case_finalise_task

    pending = Photo.objects.filter(case_id=case_id).exclude(status__in=TERMINAL_PHOTO).exists()
    if not pending:
        transaction.on_commit(lambda: case_finalise_task.delay(case_id))


def runs_sweep(*, now: Any = None) -> list[int]:
    """Re-enqueue runs left queued or running past the timeout (a killed worker loses nothing)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.INFERENCE_RUN_TIMEOUT_S)
    stale = InferenceRun.objects.filter(
        Q(status=InferenceRun.Status.QUEUED, queued_at__lt=cutoff)
        | Q(status=InferenceRun.Status.RUNNING, started_at__lt=cutoff)
    )
    requeued: list[int] = []
    for run in stale:
        if run.attempts >= settings.INFERENCE_MAX_ATTEMPTS:
            run_fail(run_id=run.pk, error="gave up after repeated time-outs", retry=False)
            continue
        if InferenceRun.objects.filter(pk=run.pk, status=run.status).update(
            status=InferenceRun.Status.QUEUED, queued_at=now
        ):
            Photo.objects.filter(pk=run.photo_id).update(status=Photo.Status.QUEUED)
            requeued.append(run.pk)
    if requeued:
        transaction.on_commit(lambda: _enqueue(requeued))
    return requeued


def cases_sweep(*, now: Any = None) -> list[int]:
    """Finalise cases whose photos all finished but whose case task never ran (lost message)."""
    from inference.tasks import case_finalise_task

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
        transaction.on_commit(lambda: [case_finalise_task.delay(pk) for pk in stuck])
    return stuck


# Cases ---------------------------------------------------------------------------------------


def case_finalise(*, case_id: int) -> Case:
    """Synthesise the case's photos and write its findings once (idempotent)."""
    case = Case.objects.select_related("model_version").get(pk=case_id)
    version = case.model_version
    assert version is not None
    photos = list(case.photos.order_by("position"))
    if any(p.status not in TERMINAL_PHOTO for p in photos):
        return case
    runs = {
        r.photo_id: r for r in InferenceRun.objects.filter(photo__case=case, model_version=version)
    }
    done = [p for p in photos if p.pk in runs and runs[p.pk].status == InferenceRun.Status.DONE]
    results = [photo_from_record(runs[p.pk].result) for p in done]
    predictor_manifest = load_manifest(version.manifest_path)
    parts = load_taxonomy(predictor_manifest.part_taxonomy)
    from inference.core.synthesis import synthesise_case

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
            stored = run.result["findings"]
            for index, (finding, item) in enumerate(zip(result.findings, stored, strict=True)):
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
                        mask_rle=item["mask_rle"],
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
                        needs_review=c_refined < version.threshold,
                        dsi_area=finding.severity.area,
                        dsi_confidence=finding.severity.confidence,
                        dsi_type_weight=finding.severity.type_weight,
                        dsi_score=finding.severity.score,
                    )
                )
        Finding.objects.bulk_create(rows)
        needs_review = Finding.objects.filter(case=case, model_version=version, needs_review=True)
        if not done or not any(r.set_aside_reason is None for r in results):
            status = Case.Status.NEEDS_PHOTOS
        elif needs_review.exists() or any(p.status != Photo.Status.DONE for p in photos):
            status = Case.Status.NEEDS_REVIEW
        else:
            status = Case.Status.RELEASED
        if case.status != Case.Status.REVIEWED:
            first = case.finished_at is None
            case.status = status
            case.dsi = synthesis.dsi
            case.finished_at = timezone.now()
            case.save(update_fields=["status", "dsi", "finished_at", "updated_at"])
            if first:
                audit_record(
                    verb="case.processed",
                    case=case,
                    data={"status": status, "dsi": round(synthesis.dsi, 2)},
                )
                # In the outbox in this transaction: a lost message is found by the sweep.
                delivery = webhook_delivery_create(case=case)
                if delivery is not None:
                    webhook_deliveries_enqueue(delivery_ids=[delivery.pk])
    case_notify(case_id=case.pk)
    return case


def case_notify(*, case_id: int) -> None:
    """Tell open case pages to refresh (a no-op without a cross-process channel layer)."""
    if not settings.CLAIMS_LIVE_PUSH:
        return
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(f"case-{case_id}", {"type": "case.updated"})
    except Exception:  # a push is a nicety: the page also polls
        logger.warning("could not push an update for case %s", case_id, exc_info=True)


def _case_webhook_request(*, case: Case, client: ApiClient) -> tuple[bytes, dict[str, str]]:
    """The body and headers POSTed for a finished case, signed with the client's secret."""
    body = json.dumps(
        {
            "event": "case.finished",
            "case": str(case.public_id),
            "status": case.status,
            "dsi": case.dsi,
        }
    ).encode()
    headers = {"Content-Type": "application/json"}
    if client.webhook_secret:
        signature = hmac.new(client.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Claims-Signature"] = f"sha256={signature}"
    return body, headers


def case_webhook_send(*, case_id: int) -> bool:
    """POST the finished case to its API client's webhook; True when delivered (2xx)."""
    case = Case.objects.select_related("customer").get(pk=case_id)
    client = ApiClient.objects.filter(user=case.customer).first()
    if client is None or not client.webhook_url or case.webhook_sent_at is not None:
        return False
    body, headers = _case_webhook_request(case=case, client=client)
    # Checks the target again (DNS may have changed), pins the checked address, never
    # follows redirects; a refused target is recorded and not retried.
    if not case_webhook_deliver(case=case, url=client.webhook_url, body=body, headers=headers):
        return False
    Case.objects.filter(pk=case.pk, webhook_sent_at__isnull=True).update(
        webhook_sent_at=timezone.now()
    )
    return True


# Webhook outbox ------------------------------------------------------------------------------

WEBHOOK_ERROR_CHARS = 2000  # last_error keeps the start of a long answer


def webhook_delivery_create(*, case: Case) -> WebhookDelivery | None:
    """Put the finished case's webhook in the outbox; None when there is nothing to send.

    Call inside the transaction that finishes the case and enqueue the task on commit
    (`webhook_deliveries_enqueue`); an open delivery for the case is returned, not doubled.
    """
    client = ApiClient.objects.filter(user_id=case.customer_id).first()
    if client is None or not client.webhook_url or case.webhook_sent_at is not None:
        return None
    open_ = WebhookDelivery.objects.filter(case=case, status=WebhookDelivery.Status.PENDING)
    existing = open_.first()
    if existing is not None:
        return existing
    return WebhookDelivery.objects.create(
        case=case, url=client.webhook_url, next_attempt_at=timezone.now()
    )


def webhook_deliveries_enqueue(*, delivery_ids: Sequence[int]) -> None:
    """Enqueue an attempt for each delivery once the current transaction commits."""
    from inference.tasks import webhook_delivery_task

    ids = list(delivery_ids)
    transaction.on_commit(lambda: [webhook_delivery_task.delay(pk) for pk in ids])


def case_webhook_enqueue(*, case_id: int) -> WebhookDelivery | None:
    """Put a finished case's webhook in the outbox (for messages from before the outbox)."""
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        delivery = webhook_delivery_create(case=case)
        if delivery is not None:
            webhook_deliveries_enqueue(delivery_ids=[delivery.pk])
    return delivery


def webhook_delivery_backoff(*, attempt: int) -> timedelta:
    """How long after failed attempt `attempt` (1, 2, ...) to try again: 30 s, 1, 2, 4 ...
    minutes up to the cap, each within 10 % either way so failed deliveries spread out."""
    delay = min(
        settings.CLAIMS_WEBHOOK_BACKOFF_S * 2 ** (attempt - 1),
        settings.CLAIMS_WEBHOOK_BACKOFF_MAX_S,
    )
    return timedelta(seconds=delay * random.uniform(0.9, 1.1))  # jitter, not a secret


def webhook_delivery_claim(*, delivery_id: int, now: Any = None) -> int | None:
    """Take a due delivery for one attempt; its attempt number, or None (not due, taken, closed).

    The conditional update moves next_attempt_at to the end of a lease, so a second worker
    (a redelivered message, the sweep) finds nothing to claim while this attempt runs.
    """
    now = now or timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id,
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at__lte=now,
        attempts__lt=settings.CLAIMS_WEBHOOK_MAX_ATTEMPTS,
    ).update(
        attempts=F("attempts") + 1,
        next_attempt_at=now + timedelta(seconds=settings.CLAIMS_WEBHOOK_LEASE_S),
    )
    if not claimed:
        return None
    return int(WebhookDelivery.objects.values_list("attempts", flat=True).get(pk=delivery_id))


def _webhook_delivery_give_up(*, delivery: WebhookDelivery, attempt: int, error: str) -> None:
    WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.PENDING, attempts=attempt
    ).update(status=WebhookDelivery.Status.FAILED, last_error=error)
    logger.warning("webhook for case %s failed after %s attempts", delivery.case_id, attempt)
    audit_record(
        verb="case.webhook_failed",
        case=delivery.case,
        data={"url": delivery.url, "attempts": attempt, "error": error},
    )


def webhook_delivery_attempt(*, delivery_id: int) -> WebhookDelivery | None:
    """Claim the delivery and POST it once; the delivery afterwards, or None if not claimed.

    Delivered (2xx) also sets Case.webhook_sent_at; a refused target ends it at once; a
    transport error or a non-2xx answer schedules the next attempt (next_attempt_at), or
    fails it after CLAIMS_WEBHOOK_MAX_ATTEMPTS. Enqueueing the next attempt is the caller's.
    """
    attempt = webhook_delivery_claim(delivery_id=delivery_id)
    if attempt is None:
        return None
    delivery = WebhookDelivery.objects.select_related("case").get(pk=delivery_id)
    case = delivery.case
    # Only the holder of this attempt writes its outcome (a lease that ran out was re-claimed).
    ours = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.PENDING, attempts=attempt
    )
    client = ApiClient.objects.filter(user_id=case.customer_id).first()
    if case.webhook_sent_at is not None:  # sent by a task from before the outbox
        ours.update(status=WebhookDelivery.Status.DELIVERED, delivered_at=case.webhook_sent_at)
        return WebhookDelivery.objects.get(pk=delivery.pk)
    if client is None or not client.webhook_url:
        reason = "webhooks were turned off (no webhook URL) before the case could be sent"
        ours.update(status=WebhookDelivery.Status.REFUSED, last_error=reason)
        audit_record(
            verb="case.webhook_refused", case=case, data={"url": delivery.url, "reason": reason}
        )
        return WebhookDelivery.objects.get(pk=delivery.pk)
    body, headers = _case_webhook_request(case=case, client=client)
    try:
        sent = case_webhook_deliver(case=case, url=delivery.url, body=body, headers=headers)
    except requests.RequestException as exc:
        error = f"attempt {attempt}: {type(exc).__name__}: {exc}"[:WEBHOOK_ERROR_CHARS]
        if attempt >= settings.CLAIMS_WEBHOOK_MAX_ATTEMPTS:
            _webhook_delivery_give_up(delivery=delivery, attempt=attempt, error=error)
        else:
            ours.update(
                next_attempt_at=timezone.now() + webhook_delivery_backoff(attempt=attempt),
                last_error=error,
            )
        return WebhookDelivery.objects.get(pk=delivery.pk)
    if not sent:
        # case_webhook_deliver recorded why (case.webhook_refused); a refusal is not retried.
        refusal = case.audit_events.filter(verb="case.webhook_refused").last()
        reason = str(refusal.data.get("reason", "")) if refusal is not None else ""
        ours.update(
            status=WebhookDelivery.Status.REFUSED,
            last_error=f"refused: {reason}"[:WEBHOOK_ERROR_CHARS],
        )
        return WebhookDelivery.objects.get(pk=delivery.pk)
    now = timezone.now()
    with transaction.atomic():
        ours.update(status=WebhookDelivery.Status.DELIVERED, delivered_at=now)
        Case.objects.filter(pk=case.pk, webhook_sent_at__isnull=True).update(webhook_sent_at=now)
        audit_record(
            verb="case.webhook_delivered",
            case=case,
            data={"url": delivery.url, "attempts": attempt},
        )
    return WebhookDelivery.objects.get(pk=delivery.pk)


def webhook_deliveries_sweep(*, now: Any = None) -> list[int]:
    """Re-enqueue pending deliveries that are due (a lost message, a retry whose task is gone).

    A delivery whose last allowed attempt never reported back (its worker was killed) is
    failed here, since no task will.
    """
    now = now or timezone.now()
    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
    max_attempts = settings.CLAIMS_WEBHOOK_MAX_ATTEMPTS
    for delivery in pending.filter(next_attempt_at__lte=now, attempts__gte=max_attempts):
        _webhook_delivery_give_up(
            delivery=delivery,
            attempt=delivery.attempts,
            error=f"attempt {delivery.attempts} never finished (the worker stopped); gave up",
        )
    cutoff = now - timedelta(seconds=settings.CLAIMS_WEBHOOK_SWEEP_GRACE_S)
    due = list(
        pending.filter(next_attempt_at__lte=cutoff, attempts__lt=max_attempts)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)
    )
    if due:
        webhook_deliveries_enqueue(delivery_ids=due)
    return due

"""Inference runs: one per photo and model version, created when a claim is filed, claimed
by a worker (heartbeats while it works), executed, failed or retried; the sweep re-sends
what a dead worker or a lost message left."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import io
import logging
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone
from PIL import Image

from claims import wording
from claims.live import case_notify
from claims.models import Case, Photo
from claims.photos import photo_derive, photo_status_set
from common.db import db_retry, heartbeat, send_each
from common.errors import ApplicationError
from inference.models import InferenceRun, ModelVersion
from inference.services.cases import case_check_complete
from inference.services.predictors import predictor_for
from inference.services.records import photo_record
from inference.services.rendering import JPEG_QUALITY, label_map_png, render_annotated

logger = logging.getLogger(__name__)

# The task of `inference.tasks` (which calls this module), looked up by name when sent.
PHOTO_TASK = "inference.tasks.photo_process_task"


def _enqueue(run_ids: Sequence[int]) -> None:
    send_each(current_app.tasks[PHOTO_TASK], run_ids, "run")


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
        photo_status_set(photo_id=photo.pk, status=Photo.Status.QUEUED)
        Case.objects.filter(pk=photo.case_id).update(
            status=Case.Status.PROCESSING, finished_at=None
        )
        ids = list(
            photo.runs.filter(status=InferenceRun.Status.QUEUED).values_list("pk", flat=True)
        )
        transaction.on_commit(lambda: _enqueue(ids))


def _heartbeat_stale(now: dt.datetime) -> Q:
    """Running runs whose worker is gone: no heartbeat for INFERENCE_HEARTBEAT_STALE_S, or,
    for a run started by a worker from before heartbeats, started INFERENCE_RUN_TIMEOUT_S ago."""
    return Q(heartbeat_at__lt=now - timedelta(seconds=settings.INFERENCE_HEARTBEAT_STALE_S)) | Q(
        heartbeat_at__isnull=True,
        started_at__lt=now - timedelta(seconds=settings.INFERENCE_RUN_TIMEOUT_S),
    )


def run_claim(*, run_id: int, now: dt.datetime | None = None) -> bool:
    """Take a queued run, or a running one whose worker died (stale heartbeat), with a
    conditional update; False when it is finished or a live worker holds it.

    A run taken over counts one more attempt; past INFERENCE_MAX_ATTEMPTS it is left to
    the sweeper, which fails it.
    """
    now = now or timezone.now()
    takeover = Q(status=InferenceRun.Status.RUNNING, attempts__lt=settings.INFERENCE_MAX_ATTEMPTS)
    with transaction.atomic():  # the run and its photo together, so a retry starts clean
        claimed = (
            InferenceRun.objects.filter(pk=run_id)
            .filter(Q(status=InferenceRun.Status.QUEUED) | (takeover & _heartbeat_stale(now)))
            .update(
                status=InferenceRun.Status.RUNNING,
                started_at=now,
                heartbeat_at=now,
                attempts=F("attempts") + 1,
            )
        )
        if claimed:
            run = InferenceRun.objects.select_related("photo").get(pk=run_id)
            photo_status_set(photo_id=run.photo_id, status=Photo.Status.RUNNING)
    if claimed:
        case_notify(case_id=run.photo.case_id)
    return bool(claimed)


def run_heartbeat(*, run_id: int, attempt: int) -> bool:
    """Renew the heartbeat of a run this worker holds; False once it is not ours any more."""
    return bool(
        InferenceRun.objects.filter(
            pk=run_id, status=InferenceRun.Status.RUNNING, attempts=attempt
        ).update(heartbeat_at=timezone.now())
    )


def _run_heartbeat(*, run_id: int, attempt: int) -> contextlib.AbstractContextManager[None]:
    """Renew the run's heartbeat every INFERENCE_HEARTBEAT_S while the body runs."""
    return heartbeat(
        renew=lambda: run_heartbeat(run_id=run_id, attempt=attempt),
        every_s=settings.INFERENCE_HEARTBEAT_S,
        name=f"run {run_id}",
    )


def _files_delete(names: Iterable[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("could not delete %s", name, exc_info=True)


def _run_files_discard(*, run_id: int, names: Iterable[str]) -> None:
    """Delete files an attempt wrote that its run does not refer to.

    A commit can go through although its answer was lost, so the run is asked first; when
    the database cannot answer, the files stay for the orphan sweep (`derived_files_sweep`).
    """
    written = list(names)
    if not written:
        return
    try:
        result = InferenceRun.objects.values_list("result", flat=True).get(pk=run_id)
    except DatabaseError as exc:
        logger.warning("run %s: %s files left for the orphan sweep (%s)", run_id, len(written), exc)
        return
    kept = set((result.get("files") or {}).values()) if isinstance(result, dict) else set()
    _files_delete(name for name in written if name not in kept)


def _run_load(*, run_id: int) -> InferenceRun:
    return InferenceRun.objects.select_related("photo__case", "model_version").get(pk=run_id)


def _run_finish(
    *, run: InferenceRun, attempt: int, result: Any, record: dict[str, Any], names: dict[str, str]
) -> bool:
    """Store a finished attempt (run and photo in one transaction); False when it is not
    this attempt's any more (the run was taken over, or finished)."""
    with transaction.atomic():
        updated = InferenceRun.objects.filter(
            pk=run.pk, status=InferenceRun.Status.RUNNING, attempts=attempt
        ).update(
            status=InferenceRun.Status.DONE,
            result=record,
            timings_ms=record["timings_ms"],
            finished_at=timezone.now(),
            error="",
        )
        if not updated:
            return False
        photo_status_set(
            photo_id=run.photo_id,
            status=Photo.Status.SET_ASIDE if result.set_aside_reason else Photo.Status.DONE,
            set_aside_reason=result.set_aside_reason or "",
            annotated=names["annotated"],
            dsi=None if result.set_aside_reason else result.dsi,
        )
    return True


def run_execute(*, run_id: int) -> None:
    """Run the inference core on the photo of a claimed run and store its output.

    The derived files are written first and the run is committed after; when the commit
    fails, or the run is no longer this attempt's (taken over after its heartbeat went
    stale), the files are deleted again. The heartbeat is renewed meanwhile.
    """
    run = db_retry(_run_load, run_id=run_id)
    attempt = run.attempts  # claimed just before with a fresh heartbeat: this attempt's number
    photo = run.photo
    names: dict[str, str] = {}
    with _run_heartbeat(run_id=run.pk, attempt=attempt):
        try:
            if not photo.display:
                db_retry(photo_derive, photo=photo)
            predictor = predictor_for(run.model_version.manifest_path)
            with photo.original.open("rb") as fh:
                data = fh.read()
            (result,) = predictor.predict([data])
            record = photo_record(result)

            # The attempt in the name: an attempt that took over a stale run never writes the
            # object the stale one may still write (a bucket has no create-exclusive).
            base = (
                f"cases/{photo.case.public_id}/derived/"
                f"{photo.pk}-v{run.model_version_id}-a{attempt}"
            )
            # The display copy is the oriented photo at up to CLAIMS_DERIVED_LONG_SIDE px:
            # the annotated photo is drawn at that size, in the customer's words.
            with photo.display.open("rb") as fh, Image.open(fh) as img:
                annotated = render_annotated(
                    img, result, predictor.damage_taxonomy, words=wording.damage_words
                )
            for key, image in (
                ("annotated", annotated.image),
                ("part_map", label_map_png(result.part_map)),
                ("damage_map", label_map_png(result.damage_map)),
            ):
                buffer = io.BytesIO()
                fmt = "JPEG" if key == "annotated" else "PNG"
                image.save(buffer, fmt, **({"quality": JPEG_QUALITY} if fmt == "JPEG" else {}))
                ext = "jpg" if fmt == "JPEG" else "png"
                names[key] = default_storage.save(
                    f"{base}-{key}.{ext}", ContentFile(buffer.getvalue())
                )
            record["files"] = names
            finished = db_retry(
                _run_finish, run=run, attempt=attempt, result=result, record=record, names=names
            )
        except BaseException:
            _run_files_discard(run_id=run.pk, names=names.values())  # written, not committed
            raise
    if not finished:
        # Taken over meanwhile (the attempt that took it keeps its own files), or our own
        # commit went through although its answer was lost (the run refers to ours).
        _run_files_discard(run_id=run.pk, names=names.values())
        return
    case_notify(case_id=photo.case_id)
    db_retry(case_check_complete, case_id=photo.case_id)


def run_fail(*, run_id: int, error: str, retry: bool, reason: str = "") -> bool:
    """Record a failed attempt: back to the queue when it may be retried (True), else failed.

    `error` (technical, for staff) goes on the run; `reason` (for the customer, no server
    details) goes on the photo, defaulting to `error`. A run already finished is left as
    it is (False).
    """
    unfinished = [InferenceRun.Status.QUEUED, InferenceRun.Status.RUNNING]
    with transaction.atomic():
        run = (
            InferenceRun.objects.select_for_update()
            .select_related("photo")
            .filter(pk=run_id, status__in=unfinished)
            .first()
        )
        if run is None:
            return False
        if retry and run.attempts < settings.INFERENCE_MAX_ATTEMPTS:
            InferenceRun.objects.filter(pk=run_id).update(
                status=InferenceRun.Status.QUEUED, error=error[:5000], queued_at=timezone.now()
            )
            return True
        InferenceRun.objects.filter(pk=run_id).update(
            status=InferenceRun.Status.FAILED, error=error[:5000], finished_at=timezone.now()
        )
        photo_status_set(photo_id=run.photo_id, status=Photo.Status.FAILED, error=reason or error)
        case_check_complete(case_id=run.photo.case_id)  # enqueues on commit
    case_notify(case_id=run.photo.case_id)
    return False


def runs_sweep(*, now: dt.datetime | None = None) -> list[int]:
    """Give every unfinished run a worker again: the database, not the broker, is the truth.

    A running run whose heartbeat is stale lost its worker (killed, out of memory, the
    machine gone); a queued run that no worker took for INFERENCE_QUEUED_STALE_S lost its
    message (a broker restart, a failed publish). Both are queued again and sent, or failed
    after INFERENCE_MAX_ATTEMPTS. Each is a conditional update that also moves `queued_at`,
    so concurrent sweeps send a run once, and a duplicate message finds nothing to claim.
    """
    now = now or timezone.now()
    queued_cutoff = now - timedelta(seconds=settings.INFERENCE_QUEUED_STALE_S)
    stale = InferenceRun.objects.filter(
        Q(status=InferenceRun.Status.QUEUED, queued_at__lt=queued_cutoff)
        | (Q(status=InferenceRun.Status.RUNNING) & _heartbeat_stale(now))
    )
    requeued: list[int] = []
    for run in stale:
        if run.attempts >= settings.INFERENCE_MAX_ATTEMPTS:
            run_fail(run_id=run.pk, error="gave up after repeated time-outs", retry=False)
            continue
        same = InferenceRun.objects.filter(pk=run.pk, status=run.status, queued_at=run.queued_at)
        if run.status == InferenceRun.Status.RUNNING:
            same = same.filter(_heartbeat_stale(now))  # not renewed since it was read
        with transaction.atomic():
            if not same.update(status=InferenceRun.Status.QUEUED, queued_at=now):
                continue
            photo_status_set(photo_id=run.photo_id, status=Photo.Status.QUEUED)
            transaction.on_commit(functools.partial(_enqueue, [run.pk]))
        requeued.append(run.pk)
    return requeued

"""Model versions, inference runs, case synthesis and the sweepers."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import io
import logging
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from PIL import Image

from claims import wording
from claims.live import case_notify
from claims.models import FINAL_PHOTO_STATES, Case, Photo
from claims.outbox import webhook_deliveries_enqueue, webhook_delivery_create
from claims.services import audit_record, photo_derive
from common.db import connection_drop, db_retry, send_each
from common.errors import ApplicationError
from inference.core.registry import Manifest, list_versions, load_manifest
from inference.core.synthesis import synthesise_case
from inference.core.taxonomy import load_taxonomy
from inference.models import Finding, InferenceRun, ModelVersion
from inference.predictors import predictor_for
from inference.records import photo_from_record, photo_record
from inference.rendering import JPEG_QUALITY, label_map_png, render_annotated

logger = logging.getLogger(__name__)

# The tasks of `inference.tasks` (which call this module), looked up by name when sent.
PHOTO_TASK = "inference.tasks.photo_process_task"
CASE_TASK = "inference.tasks.case_finalise_task"


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
        Photo.objects.filter(pk=photo.pk).update(status=Photo.Status.QUEUED, error="")
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
            Photo.objects.filter(pk=run.photo_id).update(status=Photo.Status.RUNNING)
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


@contextlib.contextmanager
def _run_heartbeat(*, run_id: int, attempt: int) -> Iterator[None]:
    """Renew the run's heartbeat every INFERENCE_HEARTBEAT_S from a thread while the body runs.

    A thread rather than updates between the pipeline's stages: one stage (a large photo on
    a busy CPU) may take longer than the stale limit, and the thread beats through it. It
    dies with the worker process, which is what the sweeper detects; a hung body is ended by
    the task's time limit. A missed beat (the database away) is allowed for: the stale limit
    is several beats long.
    """
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.INFERENCE_HEARTBEAT_S):
                try:
                    if not run_heartbeat(run_id=run_id, attempt=attempt):
                        return  # finished, failed or taken over: nothing left to renew
                except DatabaseError as exc:
                    logger.warning("run %s: heartbeat missed (%s)", run_id, exc)
                    connection_drop()
        finally:
            connection_drop()  # the thread's own connection

    thread = threading.Thread(target=beat, name=f"run-{run_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=settings.INFERENCE_HEARTBEAT_S)


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
        Photo.objects.filter(pk=run.photo_id).update(
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
        Photo.objects.filter(pk=run.photo_id).update(
            status=Photo.Status.FAILED, error=(reason or error)[:5000]
        )
        case_check_complete(case_id=run.photo.case_id)  # enqueues on commit
    case_notify(case_id=run.photo.case_id)
    return False


def case_check_complete(*, case_id: int) -> None:
    """Enqueue the case synthesis when every photo has reached a final state."""

    pending = Photo.objects.filter(case_id=case_id).exclude(status__in=FINAL_PHOTO_STATES).exists()
    if not pending:
        transaction.on_commit(lambda: send_each(current_app.tasks[CASE_TASK], [case_id], "case"))


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
            Photo.objects.filter(pk=run.photo_id).update(status=Photo.Status.QUEUED)
            transaction.on_commit(functools.partial(_enqueue, [run.pk]))
        requeued.append(run.pk)
    return requeued


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


def _derived_referenced(*, case: Case) -> set[str]:
    """Every file name the case's rows refer to (originals included, to be safe)."""
    names: set[str] = set()
    for row in Photo.objects.filter(case=case).values(
        "original", "display", "thumbnail", "annotated", "annotated_reviewed"
    ):
        names.update(str(name) for name in row.values() if name)
    for result in InferenceRun.objects.filter(photo__case=case).values_list("result", flat=True):
        files = result.get("files") if isinstance(result, dict) else None
        names.update(str(name) for name in (files or {}).values())
    return names


def _storage_listdir(folder: str) -> tuple[list[str], list[str]]:
    """(folders, files) in `folder`; empty when there is none. A bucket has no folders, only
    key prefixes, so `exists(folder)` is False there: ask for the listing instead."""
    try:
        return default_storage.listdir(folder)
    except FileNotFoundError:  # the file system's answer for a folder not made yet
        return [], []


def derived_files_sweep(*, now: dt.datetime | None = None) -> list[str]:
    """Delete derived files (display copies, thumbnails, overlays, label maps) that no row
    refers to and that are older than INFERENCE_ORPHAN_AGE_S: what an attempt wrote before
    its worker died. Returns the names deleted.

    Only `cases/<case>/derived/` folders of cases that exist are looked at: an uploaded
    original (`cases/<case>/originals/`) is never touched, and neither is anything of a
    folder the database does not know.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.INFERENCE_ORPHAN_AGE_S)
    deleted: list[str] = []
    for public_id in _storage_listdir("cases")[0]:
        folder = f"cases/{public_id}/derived"
        try:
            case = Case.objects.filter(public_id=uuid.UUID(public_id)).first()
        except ValueError:
            continue  # not a case folder
        if case is None:
            continue
        old = [
            f"{folder}/{name}"
            for name in _storage_listdir(folder)[1]
            if default_storage.get_modified_time(f"{folder}/{name}") < cutoff
        ]
        if not old:
            continue
        referenced = _derived_referenced(case=case)
        for name in old:
            if name not in referenced:
                default_storage.delete(name)
                deleted.append(name)
    if deleted:
        logger.info("deleted %s derived files no row refers to", len(deleted))
    return deleted


# Cases ---------------------------------------------------------------------------------------


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
    results = [photo_from_record(runs[p.pk].result) for p in done]
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
        elif (
            needs_review.exists()
            or any(p.status != Photo.Status.DONE for p in photos)
            # a contest (or a reopen) opened a review round: the case waits for its end
            or case.review_rounds.filter(finished_at__isnull=True).exists()
        ):
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

from __future__ import annotations

import datetime as dt
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from PIL import Image

from claims.errors import ApplicationError
from claims.models import AuditEvent, Case, Photo
from claims.services import Upload, case_submit, photo_derive
from inference import services
from inference.models import Finding, InferenceRun

pytestmark = pytest.mark.django_db(transaction=True)


def _files_on_disk() -> set[Path]:
    root = Path(settings.MEDIA_ROOT)
    return {p for p in root.rglob("*") if p.is_file()}


def _submit(customer, *blobs: tuple[str, bytes]) -> Case:  # type: ignore[no-untyped-def]
    return case_submit(
        customer=customer,
        policy_number="POL-1",
        loss_date=dt.date(2026, 11, 1),
        loss_place="Main street",
        description="Rear-ended at a light",
        uploads=[Upload(name=n, stream=io.BytesIO(b)) for n, b in blobs],
    )


def _process(case: Case) -> None:
    for run in InferenceRun.objects.filter(photo__case=case):
        if services.run_claim(run_id=run.pk):
            services.run_execute(run_id=run.pk)
    services.case_finalise(case_id=case.pk)


def test_rejection_stores_nothing(customer, active_model, vehicle_jpeg) -> None:  # type: ignore[no-untyped-def]
    before_files = _files_on_disk()
    with pytest.raises(ApplicationError) as exc:
        _submit(customer, ("good.jpg", vehicle_jpeg), ("notes.jpg", b"plain text"))
    assert exc.value.errors["photos"] == [
        "notes.jpg: this is not an image we can read; send a JPEG, PNG, WebP or HEIC photo"
    ]
    assert (Case.objects.count(), Photo.objects.count(), InferenceRun.objects.count()) == (0, 0, 0)
    assert AuditEvent.objects.count() == 1  # only the model activation
    assert _files_on_disk() == before_files


def test_too_many_photos(customer, active_model, make_jpeg) -> None:  # type: ignore[no-untyped-def]
    blobs = [(f"p{i}.jpg", make_jpeg()) for i in range(settings.CLAIMS_MAX_PHOTOS + 1)]
    with pytest.raises(ApplicationError, match="at most 30 photos"):
        _submit(customer, *blobs)
    assert Case.objects.count() == 0


def test_future_loss_date_refused(customer, active_model, vehicle_jpeg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ApplicationError, match="future"):
        case_submit(
            customer=customer,
            policy_number="P",
            loss_date=timezone.localdate() + timedelta(days=2),
            loss_place="x",
            description="y",
            uploads=[Upload(name="a.jpg", stream=io.BytesIO(vehicle_jpeg))],
        )
    assert Case.objects.count() == 0


def test_original_kept_byte_for_byte(customer, active_model, vehicle_jpeg) -> None:  # type: ignore[no-untyped-def]
    case = _submit(customer, ("bus.jpg", vehicle_jpeg))
    photo = case.photos.get()
    with photo.original.open("rb") as fh:
        assert fh.read() == vehicle_jpeg
    assert photo.original_name == "bus.jpg"
    assert InferenceRun.objects.filter(photo=photo, model_version=active_model).count() == 1


def test_derived_copies_are_oriented_and_have_no_exif(customer, active_model) -> None:  # type: ignore[no-untyped-def]
    image = Image.new("RGB", (120, 40), (200, 10, 10))
    exif = image.getexif()
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0)}  # GPS: personal data that must not travel
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    case = _submit(customer, ("gps.jpg", buffer.getvalue()))
    photo = case.photos.get()
    photo_derive(photo=photo)
    with photo.display.open("rb") as fh, Image.open(fh) as derived:
        assert derived.size == (40, 120)
        assert len(derived.getexif()) == 0


def test_pipeline_writes_findings_once(customer, active_model, vehicle_jpeg) -> None:  # type: ignore[no-untyped-def]
    case = _submit(customer, ("bus.jpg", vehicle_jpeg), ("bus2.jpg", vehicle_jpeg))
    _process(case)
    case.refresh_from_db()
    assert case.status in (Case.Status.NEEDS_REVIEW, Case.Status.RELEASED)
    assert all(p.status == Photo.Status.DONE for p in case.photos.all())
    findings = Finding.objects.filter(case=case)
    count = findings.count()
    run = InferenceRun.objects.filter(photo__case=case).first()
    assert run is not None
    assert count == sum(
        len(r.result["findings"]) for r in InferenceRun.objects.filter(photo__case=case)
    )
    for f in findings:
        assert f.c_refined == pytest.approx(f.c_base * f.k_agree)
        assert f.needs_review == (f.c_refined < active_model.threshold)
        assert 0 <= f.k_agree <= 1
    # Run the case task again: nothing is duplicated, nothing changes.
    services.case_finalise(case_id=case.pk)
    assert Finding.objects.filter(case=case).count() == count
    # A second delivery of a photo task finds the run done and does nothing.
    assert services.run_claim(run_id=run.pk) is False


def test_findings_are_immutable(customer, active_model, vehicle_jpeg) -> None:  # type: ignore[no-untyped-def]
    case = _submit(customer, ("bus.jpg", vehicle_jpeg))
    _process(case)
    finding = Finding.objects.filter(case=case).first()
    if finding is None:
        pytest.skip("the shipped model found nothing on the fixture")
    original_part = finding.part
    finding.part = "changed"
    with pytest.raises(ValueError, match="immutable"):
        finding.save()
    assert Finding.objects.get(pk=finding.pk).part == original_part


def test_sweeper_requeues_stale_runs(customer, active_model, vehicle_jpeg) -> None:  # type: ignore[no-untyped-def]
    case = _submit(customer, ("bus.jpg", vehicle_jpeg))
    run = InferenceRun.objects.get(photo__case=case)
    assert services.run_claim(run_id=run.pk)
    # The worker was killed mid-photo: the run stays RUNNING.
    later = timezone.now() + timedelta(seconds=settings.INFERENCE_RUN_TIMEOUT_S + 1)
    assert services.runs_sweep(now=later) == [run.pk]
    run.refresh_from_db()
    assert run.status == InferenceRun.Status.QUEUED
    assert services.runs_sweep(now=timezone.now()) == []  # fresh again


def test_failed_run_is_shown_and_retryable(customer, active_model, vehicle_jpeg) -> None:  # type: ignore[no-untyped-def]
    from claims.services import photo_retry

    case = _submit(customer, ("bus.jpg", vehicle_jpeg))
    run = InferenceRun.objects.get(photo__case=case)
    assert services.run_claim(run_id=run.pk)
    services.run_fail(run_id=run.pk, error="RuntimeError: boom", retry=False)
    photo = case.photos.get()
    assert (photo.status, photo.error) == (Photo.Status.FAILED, "RuntimeError: boom")
    photo_retry(photo=photo, user=customer)
    photo.refresh_from_db()
    run.refresh_from_db()
    assert (photo.status, run.status, run.attempts) == (
        Photo.Status.QUEUED,
        InferenceRun.Status.QUEUED,
        0,
    )
    assert AuditEvent.objects.filter(case=case, verb="photo.retried").count() == 1


def test_audit_events_are_append_only(customer, active_model, vehicle_jpeg) -> None:  # type: ignore[no-untyped-def]
    case = _submit(customer, ("bus.jpg", vehicle_jpeg))
    event = AuditEvent.objects.get(case=case, verb="case.submitted")
    event.verb = "changed"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).verb == "case.submitted"

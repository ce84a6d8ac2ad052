from __future__ import annotations

import datetime as dt
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from PIL import Image

from claims.models import AuditEvent, Case, Photo
from claims.photos import photo_derive
from claims.services import Upload, case_submit, photo_add
from common.errors import ApplicationError
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


def _grey_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (128, 128, 128)).save(buffer, "JPEG")
    return buffer.getvalue()


@override_settings(CLAIMS_MAX_CASE_BYTES=100_000)
def test_case_byte_limit_stores_nothing(customer, active_model, vehicle_jpeg) -> None:  # type: ignore[no-untyped-def]
    assert 50_000 < len(vehicle_jpeg) < 100_000  # one photo passes the limit, two do not
    before_files = _files_on_disk()
    with pytest.raises(ApplicationError) as exc:
        _submit(customer, ("a.jpg", vehicle_jpeg), ("b.jpg", vehicle_jpeg))
    assert exc.value.errors == {"photos": ["At most 0.1 MB of photos a case."]}
    assert "Send fewer or smaller photos" in exc.value.message
    assert (Case.objects.count(), Photo.objects.count(), InferenceRun.objects.count()) == (0, 0, 0)
    assert _files_on_disk() == before_files


class _Unreadable(io.BytesIO):
    def read(self, *args: object) -> bytes:
        raise AssertionError("read although the declared sizes were over the limit")


@override_settings(CLAIMS_MAX_CASE_BYTES=100_000)
def test_case_byte_limit_refuses_before_reading(customer, active_model) -> None:  # type: ignore[no-untyped-def]
    uploads = [Upload(name=f"{i}.jpg", stream=_Unreadable(), size=60_000) for i in range(2)]
    with pytest.raises(ApplicationError, match=r"add up to 0\.1 MB"):
        case_submit(
            customer=customer,
            policy_number="P",
            loss_date=dt.date(2026, 11, 1),
            loss_place="x",
            description="y",
            uploads=uploads,
        )
    assert Case.objects.count() == 0


def test_storage_failure_midway_leaves_nothing(  # type: ignore[no-untyped-def]
    customer, active_model, vehicle_jpeg, monkeypatch
) -> None:
    """The second photo's file cannot be written: the first one's row and file go too."""
    from claims import services as claim_services

    real_create = claim_services._photo_create
    calls = {"n": 0}

    def flaky_create(**kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real_create(**kwargs)

    monkeypatch.setattr(claim_services, "_photo_create", flaky_create)
    before_files = _files_on_disk()
    with pytest.raises(OSError, match="disk full"):
        _submit(customer, ("a.jpg", vehicle_jpeg), ("b.jpg", vehicle_jpeg))
    assert calls["n"] == 2
    assert (Case.objects.count(), Photo.objects.count(), InferenceRun.objects.count()) == (0, 0, 0)
    assert AuditEvent.objects.filter(verb="case.submitted").count() == 0
    assert _files_on_disk() == before_files


def test_photo_add_rejection_stores_nothing(customer, active_model, vehicle_jpeg) -> None:  # type: ignore[no-untyped-def]
    case = _submit(customer, ("bus.jpg", vehicle_jpeg))
    before_files = _files_on_disk()
    with pytest.raises(ApplicationError) as exc:
        photo_add(
            case=case, user=customer, upload=Upload(name="x.webp", stream=io.BytesIO(b"RIFF"))
        )
    assert exc.value.errors["photos"][0].startswith("x.webp: ")
    assert (Photo.objects.count(), InferenceRun.objects.count()) == (1, 1)
    assert _files_on_disk() == before_files


def test_photo_without_vehicle_is_set_aside(customer, active_model) -> None:  # type: ignore[no-untyped-def]
    case = _submit(customer, ("wall.jpg", _grey_jpeg()))
    _process(case)
    photo = case.photos.get()
    case.refresh_from_db()
    assert photo.status == Photo.Status.SET_ASIDE
    assert photo.set_aside_reason.startswith("no vehicle found")
    assert "take a photo that shows the vehicle" in photo.set_aside_reason
    assert photo.dsi is None
    assert bool(photo.annotated)  # still shown, with the reason
    assert case.status == Case.Status.NEEDS_PHOTOS
    assert Finding.objects.filter(case=case).count() == 0


def test_added_photo_gets_findings_and_earlier_rows_stay(  # type: ignore[no-untyped-def]
    customer, active_model, vehicle_jpeg
) -> None:
    case = _submit(customer, ("wall.jpg", _grey_jpeg()))
    _process(case)
    case.refresh_from_db()
    assert case.status == Case.Status.NEEDS_PHOTOS
    photo = photo_add(case=case, user=customer, upload=Upload("bus.jpg", io.BytesIO(vehicle_jpeg)))
    case.refresh_from_db()
    assert (case.status, photo.position) == (Case.Status.PROCESSING, 1)
    _process(case)
    case.refresh_from_db()
    assert case.status == Case.Status.NEEDS_REVIEW  # one photo set aside: a person looks
    run = InferenceRun.objects.get(photo=photo)
    new_rows = list(Finding.objects.filter(photo=photo).values_list("pk", "c_refined"))
    assert len(new_rows) == len(run.result["findings"]) > 0
    # A third photo: the second photo's rows are kept exactly as written.
    third = photo_add(case=case, user=customer, upload=Upload("b2.jpg", io.BytesIO(vehicle_jpeg)))
    _process(case)
    assert list(Finding.objects.filter(photo=photo).values_list("pk", "c_refined")) == new_rows
    assert Finding.objects.filter(photo=third).count() == len(run.result["findings"])


def test_cases_sweep_finalises_case_whose_task_was_lost(  # type: ignore[no-untyped-def]
    customer, active_model, vehicle_jpeg
) -> None:
    case = _submit(customer, ("bus.jpg", vehicle_jpeg))
    run = InferenceRun.objects.get(photo__case=case)
    assert services.run_claim(run_id=run.pk)
    services.run_execute(run_id=run.pk)  # the case task it enqueued is never consumed here
    case.refresh_from_db()
    assert case.status == Case.Status.PROCESSING
    assert services.cases_sweep(now=timezone.now()) == []  # within the grace period
    later = timezone.now() + timedelta(seconds=settings.INFERENCE_CASE_GRACE_S + 1)
    assert services.cases_sweep(now=later) == [case.pk]
    services.case_finalise(case_id=case.pk)  # what the re-enqueued task does
    case.refresh_from_db()
    assert case.status in (Case.Status.NEEDS_REVIEW, Case.Status.RELEASED)
    assert services.cases_sweep(now=later) == []


def test_sweeper_gives_up_after_max_attempts(customer, active_model, vehicle_jpeg) -> None:  # type: ignore[no-untyped-def]
    case = _submit(customer, ("bus.jpg", vehicle_jpeg))
    run = InferenceRun.objects.get(photo__case=case)
    for _ in range(settings.INFERENCE_MAX_ATTEMPTS):
        assert services.run_claim(run_id=run.pk)  # claimed, then the worker dies
        later = timezone.now() + timedelta(seconds=settings.INFERENCE_RUN_TIMEOUT_S + 1)
        services.runs_sweep(now=later)
    run.refresh_from_db()
    photo = case.photos.get()
    assert (run.status, run.attempts) == (
        InferenceRun.Status.FAILED,
        settings.INFERENCE_MAX_ATTEMPTS,
    )
    assert (photo.status, photo.error) == (Photo.Status.FAILED, "gave up after repeated time-outs")


def test_broker_down_at_submit_keeps_the_case(  # type: ignore[no-untyped-def]
    customer, active_model, vehicle_jpeg, monkeypatch
) -> None:
    from kombu.exceptions import OperationalError

    from inference.tasks import photo_process_task

    def down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("Error 111 connecting to broker. Connection refused.")

    monkeypatch.setattr(photo_process_task, "delay", down)
    case = _submit(customer, ("bus.jpg", vehicle_jpeg))
    run = InferenceRun.objects.get(photo__case=case)
    assert run.status == InferenceRun.Status.QUEUED  # the sweeper sends it once the broker is back
    later = timezone.now() + timedelta(seconds=settings.INFERENCE_RUN_TIMEOUT_S + 1)
    monkeypatch.undo()
    assert services.runs_sweep(now=later) == [run.pk]


def test_heic_photo_is_processed(customer, active_model, vehicle_jpeg) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("pillow_heif", reason="pillow-heif is not installed: HEIC is refused")
    buffer = io.BytesIO()
    Image.open(io.BytesIO(vehicle_jpeg)).save(buffer, "HEIF")
    case = _submit(customer, ("IMG_0001.HEIC", buffer.getvalue()))
    _process(case)
    photo = case.photos.get()
    assert (photo.extension, photo.status) == ("heic", Photo.Status.DONE)
    with photo.display.open("rb") as fh, Image.open(fh) as display:
        assert (display.format, display.size) == ("JPEG", (360, 480))  # the fixture's size

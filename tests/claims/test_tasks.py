"""The Celery tasks called as functions: idempotency, retries on transient errors only."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.db import OperationalError

from claims.models import Case, Photo
from claims.services import Upload, case_submit
from config.celery import app
from inference import services, tasks
from inference.models import Finding, InferenceRun
from tests.conftest import python_fresh

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def case(customer, active_model, vehicle_jpeg) -> Case:  # type: ignore[no-untyped-def]
    return case_submit(
        customer=customer,
        policy_number="T-1",
        loss_date=dt.date(2026, 11, 1),
        loss_place="Yard",
        description="Side swipe",
        uploads=[Upload(name="bus.jpg", stream=io.BytesIO(vehicle_jpeg))],
    )


def test_photo_task_twice_gives_one_result(case) -> None:  # type: ignore[no-untyped-def]
    run = InferenceRun.objects.get(photo__case=case)
    tasks.photo_process_task(run.pk)
    run.refresh_from_db()
    first = (run.status, run.attempts, run.finished_at, run.result)
    assert first[:2] == (InferenceRun.Status.DONE, 1)
    tasks.photo_process_task(run.pk)  # a redelivered message
    run.refresh_from_db()
    assert (run.status, run.attempts, run.finished_at, run.result) == first
    assert InferenceRun.objects.filter(photo__case=case).count() == 1


def test_case_task_twice_writes_findings_once(case) -> None:  # type: ignore[no-untyped-def]
    run = InferenceRun.objects.get(photo__case=case)
    tasks.photo_process_task(run.pk)
    tasks.case_finalise_task(case.pk)
    ids = list(Finding.objects.filter(case=case).values_list("pk", flat=True))
    assert len(ids) == len(InferenceRun.objects.get(pk=run.pk).result["findings"]) > 0
    tasks.case_finalise_task(case.pk)
    assert list(Finding.objects.filter(case=case).values_list("pk", flat=True)) == ids
    assert case.audit_events.filter(verb="case.processed").count() == 1


def test_transient_error_requeues_and_retries(case, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def db_gone(*, run_id: int) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "run_execute", db_gone)
    run = InferenceRun.objects.get(photo__case=case)
    # Called directly, Celery's retry re-raises the error instead of scheduling a retry.
    with pytest.raises(OperationalError):
        tasks.photo_process_task(run.pk)
    run.refresh_from_db()
    assert (run.status, run.attempts) == (InferenceRun.Status.QUEUED, 1)
    assert run.error == "temporary error: server closed the connection unexpectedly"
    assert case.photos.get().status == Photo.Status.RUNNING  # still in progress, not failed


def test_transient_error_fails_after_max_attempts(case, monkeypatch, settings) -> None:  # type: ignore[no-untyped-def]
    def db_gone(*, run_id: int) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(services, "run_execute", db_gone)
    run = InferenceRun.objects.get(photo__case=case)
    for _ in range(settings.INFERENCE_MAX_ATTEMPTS - 1):
        with pytest.raises(OperationalError):
            tasks.photo_process_task(run.pk)
    tasks.photo_process_task(run.pk)  # the last attempt records the failure, no retry
    run.refresh_from_db()
    photo = case.photos.get()
    assert (run.status, run.attempts) == (InferenceRun.Status.FAILED, 3)
    assert run.error == "temporary error: connection refused"  # for staff
    assert (photo.status, photo.error) == (
        Photo.Status.FAILED,
        "the server was busy and gave up after several tries; press Retry",
    )


def test_other_errors_fail_at_once_with_the_reason(case, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(*, run_id: int) -> None:
        raise ValueError("expected an RGB image, got a 4-channel PNG; convert it first")

    monkeypatch.setattr(services, "run_execute", broken)
    run = InferenceRun.objects.get(photo__case=case)
    tasks.photo_process_task(run.pk)  # no exception: the failure is recorded, not retried
    run.refresh_from_db()
    photo = case.photos.get()
    assert (run.status, run.attempts) == (InferenceRun.Status.FAILED, 1)
    assert photo.status == Photo.Status.FAILED
    assert run.error == "ValueError: expected an RGB image, got a 4-channel PNG; convert it first"
    assert photo.error == "an unexpected error (ValueError); press Retry, or add the photo again"
    case.refresh_from_db()
    assert case.status == Case.Status.PROCESSING  # the case task (enqueued) decides next


def test_task_options() -> None:
    photo = app.tasks["inference.tasks.photo_process_task"]
    assert (photo.acks_late, photo.soft_time_limit, photo.time_limit) == (True, 240, 300)
    assert app.conf.task_serializer == "json"
    assert app.conf.task_reject_on_worker_lost is True
    route = app.amqp.router.route({}, "inference.tasks.photo_process_task")
    assert route["queue"].name == "cpu"
    assert "inference.tasks.runs_sweep_task" in {
        entry["task"] for entry in app.conf.beat_schedule.values()
    }


def test_failure_page_shows_reason_to_customer_and_details_to_staff(  # type: ignore[no-untyped-def]
    case, monkeypatch, customer, adjuster
) -> None:
    from django.test import Client

    def missing(*, run_id: int) -> None:
        raise FileNotFoundError("/srv/media/cases/x/originals/y.jpg")

    monkeypatch.setattr(services, "run_execute", missing)
    tasks.photo_process_task(InferenceRun.objects.get(photo__case=case).pk)
    pages = {}
    for user in (customer, adjuster):
        client = Client()
        client.force_login(user)
        pages[user.username] = client.get(f"/cases/{case.public_id}/").content.decode()
    reason = "Processing failed: an unexpected error (FileNotFoundError); press Retry"
    assert reason in pages["alice"]
    assert "/srv/media" not in pages["alice"]  # no server details for customers
    assert "/srv/media/cases/x/originals/y.jpg" in pages["charlie"]
    assert ">Retry</button>" in pages["alice"]


def test_a_fresh_web_process_knows_every_task_its_services_send_by_name() -> None:
    """Services send their app's tasks by name (`current_app.tasks[...]`); a web process
    that never imported a tasks module must still know them, or filing a claim fails."""
    names = [
        "inference.tasks.photo_process_task",
        "inference.tasks.case_finalise_task",
        "claims.tasks.webhook_delivery_task",
        "review.tasks.shadow_evaluation_task",
        "learning.tasks.training_run_task",
    ]
    code = (
        "import django, sys\n"
        "django.setup()\n"
        "from celery import current_app\n"
        f"missing = [n for n in {names!r} if n not in current_app.tasks]\n"
        "print(missing)\n"
    )
    printed = python_fresh(code, "config.settings.test")
    assert printed.strip().splitlines()[-1] == "[]"

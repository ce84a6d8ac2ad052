"""Recovery in under a minute: heartbeats, the sweeper, transient database errors, orphans."""

from __future__ import annotations

import datetime as dt
import io
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import DatabaseError, OperationalError, connection, connections
from django.utils import timezone

from claims.models import Case, Photo
from claims.services import Upload, case_submit
from inference import services, tasks
from inference.models import InferenceRun
from inference.services import runs

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Run ids handed to the broker; the messages themselves go nowhere (lost)."""
    ids: list[int] = []
    monkeypatch.setattr(tasks.photo_process_task, "delay", lambda run_id: ids.append(run_id))
    return ids


@pytest.fixture
def case(customer, active_model, vehicle_jpeg, sent) -> Case:  # type: ignore[no-untyped-def]
    return case_submit(
        customer=customer,
        policy_number="T-13",
        loss_date=dt.date(2026, 11, 1),
        loss_place="Yard",
        description="Side swipe",
        uploads=[Upload(name="bus.jpg", stream=io.BytesIO(vehicle_jpeg))],
    )


def _run(case: Case) -> InferenceRun:
    return InferenceRun.objects.get(photo__case=case)


def _age_heartbeat(run: InferenceRun, seconds: float) -> dt.datetime:
    """The worker's last beat was `seconds` ago (it died then, or is merely slow)."""
    beat = timezone.now() - timedelta(seconds=seconds)
    InferenceRun.objects.filter(pk=run.pk).update(heartbeat_at=beat)
    return beat


def _media_files() -> set[str]:
    root = Path(settings.MEDIA_ROOT)
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@contextmanager
def _fails_once(status: str, error: type[Exception] = OperationalError) -> Iterator[list[str]]:
    """The first UPDATE that sets a run to `status` fails as a dropped connection would."""
    failed: list[str] = []

    def execute(run: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if (
            not failed
            and sql.startswith('UPDATE "inference_inferencerun"')
            and status in (params or ())
        ):
            failed.append(sql)
            raise error("server closed the connection unexpectedly")
        return run(sql, params, many, context)

    with connection.execute_wrapper(execute):
        yield failed


# Dead worker or slow photo ------------------------------------------------------------------


def test_sweeper_requeues_a_run_whose_heartbeat_is_stale(case, sent) -> None:  # type: ignore[no-untyped-def]
    run = _run(case)
    assert services.run_claim(run_id=run.pk)
    _age_heartbeat(run, settings.INFERENCE_HEARTBEAT_STALE_S + 1)
    now = timezone.now()
    sent.clear()
    assert services.runs_sweep(now=now) == [run.pk]
    run.refresh_from_db()
    assert (run.status, run.attempts, run.queued_at) == (InferenceRun.Status.QUEUED, 1, now)
    assert case.photos.get().status == Photo.Status.QUEUED
    assert sent == [run.pk]
    assert services.runs_sweep(now=now) == []  # swept once
    assert sent == [run.pk]


def test_sweeper_leaves_a_run_with_a_fresh_heartbeat(case, sent) -> None:  # type: ignore[no-untyped-def]
    run = _run(case)
    assert services.run_claim(run_id=run.pk)
    beat = _age_heartbeat(run, settings.INFERENCE_HEARTBEAT_STALE_S - 5)
    sent.clear()
    assert services.runs_sweep() == []
    run.refresh_from_db()
    assert (run.status, run.attempts, run.heartbeat_at) == (InferenceRun.Status.RUNNING, 1, beat)
    assert case.photos.get().status == Photo.Status.RUNNING
    assert sent == []


def test_redelivered_message_takes_over_a_stale_run_at_once(case) -> None:  # type: ignore[no-untyped-def]
    run = _run(case)
    assert services.run_claim(run_id=run.pk)  # then the worker is killed
    _age_heartbeat(run, settings.INFERENCE_HEARTBEAT_STALE_S + 1)
    tasks.photo_process_task(run.pk)  # the broker redelivers the unacknowledged message
    run.refresh_from_db()
    assert (run.status, run.attempts) == (InferenceRun.Status.DONE, 2)
    assert case.photos.get().status in (Photo.Status.DONE, Photo.Status.SET_ASIDE)


def test_redelivered_message_for_a_live_run_does_nothing(case) -> None:  # type: ignore[no-untyped-def]
    run = _run(case)
    assert services.run_claim(run_id=run.pk)  # another worker is on it
    beat = _age_heartbeat(run, settings.INFERENCE_HEARTBEAT_STALE_S - 5)
    tasks.photo_process_task(run.pk)
    run.refresh_from_db()
    assert (run.status, run.attempts, run.heartbeat_at, run.result) == (
        InferenceRun.Status.RUNNING,
        1,
        beat,
        {},
    )


def test_a_slow_photo_keeps_its_heartbeat_fresh(case, settings) -> None:  # type: ignore[no-untyped-def]
    settings.INFERENCE_HEARTBEAT_S = 0.05
    run = _run(case)
    assert services.run_claim(run_id=run.pk)
    old = _age_heartbeat(run, 60)
    with runs._run_heartbeat(run_id=run.pk, attempt=1):
        time.sleep(0.5)  # one long pipeline stage
    run.refresh_from_db()
    assert run.heartbeat_at is not None
    assert run.heartbeat_at > old + timedelta(seconds=59)
    assert services.runs_sweep() == []


def test_a_taken_over_run_is_not_finished_by_the_old_worker(case, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    run = _run(case)
    assert services.run_claim(run_id=run.pk)
    load = runs._run_load

    def taken_over_meanwhile(*, run_id: int) -> InferenceRun:
        loaded = load(run_id=run_id)
        # Thought dead, this worker (attempt 1) computes on while attempt 2 holds the run.
        InferenceRun.objects.filter(pk=run_id).update(attempts=2)
        return loaded

    monkeypatch.setattr(runs, "_run_load", taken_over_meanwhile)
    before = _media_files()
    services.run_execute(run_id=run.pk)
    run.refresh_from_db()
    photo = case.photos.get()
    assert (run.status, run.attempts, run.result, photo.annotated.name) == (
        InferenceRun.Status.RUNNING,
        2,
        {},
        "",
    )
    # Its overlays and label maps are gone again; the photo's display copies are referenced.
    assert _media_files() - before == {photo.display.name, photo.thumbnail.name}


# Lost messages -------------------------------------------------------------------------------


def test_queued_run_whose_message_was_lost_is_sent_again(case, sent) -> None:  # type: ignore[no-untyped-def]
    run = _run(case)
    assert sent == [run.pk]  # sent at submission, then lost (a broker restart)
    sent.clear()
    early = run.queued_at + timedelta(seconds=settings.INFERENCE_QUEUED_STALE_S - 1)
    assert services.runs_sweep(now=early) == []
    later = run.queued_at + timedelta(seconds=settings.INFERENCE_QUEUED_STALE_S + 1)
    assert services.runs_sweep(now=later) == [run.pk]
    assert sent == [run.pk]
    assert services.runs_sweep(now=later) == []  # once per stale period, not once per sweep
    assert sent == [run.pk]
    tasks.photo_process_task(run.pk)  # the message sent again is processed
    tasks.photo_process_task(run.pk)  # and the lost one, should it turn up, does nothing
    run.refresh_from_db()
    assert (run.status, run.attempts) == (InferenceRun.Status.DONE, 1)


# Transient database errors -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # on_commit callbacks run for real
def test_a_broker_down_when_the_last_photo_finishes_is_left_to_the_case_sweep(
    case, monkeypatch, caplog
) -> None:  # type: ignore[no-untyped-def]
    from kombu.exceptions import OperationalError as BrokerError

    def unreachable(case_id: int) -> None:
        raise BrokerError("Connection refused")

    monkeypatch.setattr(tasks.case_finalise_task, "delay", unreachable)
    run = _run(case)
    tasks.photo_process_task(run.pk)  # no exception: the run is done, the case waits
    run.refresh_from_db()
    assert run.status == InferenceRun.Status.DONE
    assert "photo run" not in caplog.text  # not reported as a failed run
    assert f"case {case.pk} waits for the sweep" in caplog.text
    later = timezone.now() + timedelta(seconds=settings.INFERENCE_CASE_GRACE_S + 1)
    monkeypatch.setattr(tasks.case_finalise_task, "delay", lambda case_id: None)
    assert services.cases_sweep(now=later) == [case.pk]


@pytest.mark.parametrize("status", ["running", "done"], ids=["claim", "finish"])
def test_database_error_once_is_retried_and_the_run_finishes(case, status) -> None:  # type: ignore[no-untyped-def]
    run = _run(case)
    before = _media_files()
    with _fails_once(status) as failed:
        tasks.photo_process_task(run.pk)
    assert len(failed) == 1
    run.refresh_from_db()
    photo = case.photos.get()
    assert (run.status, run.attempts, run.error) == (InferenceRun.Status.DONE, 1, "")
    assert photo.status in (Photo.Status.DONE, Photo.Status.SET_ASIDE)
    written = {photo.display.name, photo.thumbnail.name, *run.result["files"].values()}
    assert _media_files() - before == written  # no file of a failed try left behind


def test_a_connection_postgresql_dropped_is_opened_again(case) -> None:  # type: ignore[no-untyped-def]
    """What a restart of PostgreSQL does to a worker's connection, for real."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): SQLite has no server to drop us")
    run = _run(case)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    admin = connections.create_connection("default")
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        admin.close()
    tasks.photo_process_task(run.pk)  # its first query finds the connection gone
    run.refresh_from_db()
    assert (run.status, run.attempts, run.error) == (InferenceRun.Status.DONE, 1, "")


def test_database_error_once_while_recording_a_failure_is_retried(case, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(*, run_id: int) -> None:
        raise ValueError("expected an RGB image, got a 4-channel PNG; convert it first")

    monkeypatch.setattr(services, "run_execute", broken)
    run = _run(case)
    with _fails_once("failed") as failed:
        tasks.photo_process_task(run.pk)
    assert len(failed) == 1
    run.refresh_from_db()
    photo = case.photos.get()
    assert (run.status, run.attempts) == (InferenceRun.Status.FAILED, 1)
    assert (photo.status, photo.error) == (
        Photo.Status.FAILED,
        "an unexpected error (ValueError); press Retry, or add the photo again",
    )


def test_a_commit_that_fails_for_good_removes_the_files_it_wrote(case) -> None:  # type: ignore[no-untyped-def]
    run = _run(case)
    before = _media_files()
    with _fails_once("done", DatabaseError) as failed:  # not transient: no retry
        tasks.photo_process_task(run.pk)
    assert len(failed) == 1
    run.refresh_from_db()
    photo = case.photos.get()
    assert (run.status, run.result, photo.status, photo.annotated.name) == (
        InferenceRun.Status.FAILED,
        {},
        Photo.Status.FAILED,
        "",
    )
    assert _media_files() - before == {photo.display.name, photo.thumbnail.name}


# Orphaned derived files ----------------------------------------------------------------------


def test_orphan_sweep_removes_only_unreferenced_old_derived_files(case) -> None:  # type: ignore[no-untyped-def]
    run = _run(case)
    tasks.photo_process_task(run.pk)
    run.refresh_from_db()
    photo = case.photos.get()
    media = Path(settings.MEDIA_ROOT)
    derived = f"cases/{case.public_id}/derived"
    orphan = f"{derived}/{photo.pk}-v{run.model_version_id}-annotated_x1y2z3.jpg"
    (media / orphan).write_bytes(b"left by a killed worker")
    unknown = f"cases/{uuid.uuid4()}/derived/1-display.jpg"  # a folder no case row names
    (media / unknown).parent.mkdir(parents=True)
    (media / unknown).write_bytes(b"not ours to judge")
    kept = {
        photo.original.name,
        photo.display.name,
        photo.thumbnail.name,
        photo.annotated.name,
        *run.result["files"].values(),
        unknown,
    }
    assert photo.original.name.startswith(f"cases/{case.public_id}/originals/")
    before = _media_files()
    assert kept | {orphan} <= before

    assert services.derived_files_sweep() == []  # everything is younger than an hour
    later = timezone.now() + timedelta(seconds=settings.INFERENCE_ORPHAN_AGE_S + 60)
    assert services.derived_files_sweep(now=later) == [orphan]
    assert _media_files() == before - {orphan}
    assert services.derived_files_sweep(now=later) == []


# A real worker, killed ------------------------------------------------------------------------


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [
        *(sys.executable, "-m", "celery", "-A", "config", "worker", "-B", "--pool", "solo"),
        *("--schedule", str(log.with_suffix(".beat")), "--loglevel", "INFO"),
        *("-n", f"{log.stem}@%h", "--without-gossip", "--without-mingle"),
    ]
    with log.open("wb") as out:
        # Its own process group: kill -9 takes the embedded beat with it, like a container.
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait_for(run_id: int, statuses: set[str], timeout: float) -> InferenceRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = InferenceRun.objects.get(pk=run_id)
        if run.status in statuses:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not reach {statuses} in {timeout} s: {run.status}")


@pytest.mark.slow
def test_a_killed_worker_s_photo_finishes_within_a_minute(case, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two real Celery workers (each with its beat) share the test database and a private
    filesystem broker: the first is killed with SIGKILL mid-photo, the second finishes it."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): the workers share the test database")
    db = connection.settings_dict
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL")},
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "DJANGO_VAR_DIR": str(tmp_path),  # its own filesystem broker under var/broker
        "DJANGO_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "INFERENCE_THREADS": "1",
        "INFERENCE_HEARTBEAT_S": "1",
        "INFERENCE_HEARTBEAT_STALE_S": "3",
        "INFERENCE_QUEUED_STALE_S": "2",
        "INFERENCE_SWEEP_S": "1",
        "YOLO_OFFLINE": "1",
    }
    run = _run(case)  # its message went nowhere: the first worker's sweeper sends it
    first = _worker(env, tmp_path / "first.log")
    second = None
    try:
        _wait_for(run.pk, {InferenceRun.Status.RUNNING}, timeout=90)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = time.monotonic()
        assert InferenceRun.objects.get(pk=run.pk).status == InferenceRun.Status.RUNNING
        second = _worker(env, tmp_path / "second.log")
        done = _wait_for(run.pk, {InferenceRun.Status.DONE, InferenceRun.Status.FAILED}, 60)
        assert time.monotonic() - killed_at < 60
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)
    log = (tmp_path / "second.log").read_text(errors="replace")
    assert (done.status, done.attempts, done.error) == (InferenceRun.Status.DONE, 2, ""), log
    assert case.photos.get().status in (Photo.Status.DONE, Photo.Status.SET_ASIDE)

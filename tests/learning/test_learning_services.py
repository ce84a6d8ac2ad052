"""Training-run rules: who may start one, what it may train on, the schedule's bounds,
cancelling, and the sweep that sends again a run whose worker died."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from claims.models import AuditEvent
from common.errors import ApplicationError
from inference.models import ModelVersion
from learning import services, tasks
from learning.models import TrainingRun
from tests.learning.conftest import TINY, make_snapshot

pytestmark = pytest.mark.django_db


def _refused(match: str, **kwargs: Any) -> None:
    before = (TrainingRun.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ApplicationError, match=match):
        services.training_run_create(**kwargs)
    assert (TrainingRun.objects.count(), AuditEvent.objects.count()) == before


def test_only_admins_start_a_run(adjuster, customer, active_model, tmp_path) -> None:
    snapshot = make_snapshot(root=tmp_path / "exports")
    for user in (adjuster, customer):
        _refused(
            "Only admins",
            user=user,
            start_version=active_model,
            snapshots=[snapshot],
            schedule=TINY,
        )


def test_start_version_must_be_segmentation(admin_user, active_model, tmp_path) -> None:
    detector = ModelVersion.objects.create(
        name="yolo",
        version="9",
        weights_sha256="0" * 64,
        part_taxonomy="parts_reduced_dsmlr",
        damage_taxonomy="damage_categorical",
        threshold=0.5,
        manifest_path=str(tmp_path / "nowhere"),
        damage_backend=ModelVersion.DamageBackend.DETECTION,
    )
    snapshot = make_snapshot(root=tmp_path / "exports")
    _refused(
        "finds damage with a detector",
        user=admin_user,
        start_version=detector,
        snapshots=[snapshot],
        schedule=TINY,
    )
    missing = ModelVersion.objects.create(
        name="gone",
        version="1",
        weights_sha256="0" * 64,
        part_taxonomy="parts_reduced_dsmlr",
        damage_taxonomy="damage_categorical",
        threshold=0.5,
        manifest_path=str(tmp_path / "nowhere"),
    )
    _refused(
        "has no PyTorch segmentation weights",
        user=admin_user,
        start_version=missing,
        snapshots=[snapshot],
        schedule=TINY,
    )


def test_something_to_train_on_is_required(admin_user, active_model) -> None:
    _refused(
        "at least one label snapshot or public dataset",
        user=admin_user,
        start_version=active_model,
        snapshots=[],
        schedule=TINY,
    )


def test_public_sources_must_exist_here(admin_user, active_model, tmp_path, monkeypatch) -> None:
    _refused(
        "No public dataset is called 'imagenet'",
        user=admin_user,
        start_version=active_model,
        snapshots=[],
        public=[{"name": "imagenet", "limit": 5}],
        schedule=TINY,
    )
    monkeypatch.setenv("DAMAGE_DATA_DIR", str(tmp_path))  # an empty data root
    _refused(
        "damage-bilgi train is not on this server",
        user=admin_user,
        start_version=active_model,
        snapshots=[],
        public=[{"name": "damage-bilgi train", "limit": 5}],
        schedule=TINY,
    )
    coco = tmp_path / "damage-bilgi" / "train" / "_annotations.coco.json"
    coco.parent.mkdir(parents=True)
    coco.write_text("{}")
    _refused(
        "image limit of damage-bilgi train must be between 1 and",
        user=admin_user,
        start_version=active_model,
        snapshots=[],
        public=[{"name": "damage-bilgi train", "limit": 0}],
        schedule=TINY,
    )


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"epochs": 0}, "epochs", "epochs must be between 1 and 50, got 0"),
        ({"epochs": 51}, "epochs", "epochs must be between 1 and 50, got 51"),
        ({"lr": 0.5}, "lr", "lr must be between 1e-06 and 0.01, got 0.5"),
        ({"batch_size": 1}, "batch_size", "batch_size must be between 2 and 16, got 1"),
        ({"crop": 128, "resize": 64}, "crop", "crop \\(128 px\\) must not exceed resize"),
        ({"epochs": "many"}, "epochs", "epochs must be a number, got 'many'"),
    ],
)
def test_schedule_bounds(admin_user, active_model, tmp_path, change, field, message) -> None:
    snapshot = make_snapshot(root=tmp_path / "exports")
    with pytest.raises(ApplicationError, match=message) as caught:
        services.training_run_create(
            user=admin_user,
            start_version=active_model,
            snapshots=[snapshot],
            schedule=TINY | change,
        )
    assert list(caught.value.errors) == [field]
    assert not TrainingRun.objects.exists()


def test_snapshot_taxonomy_must_match(admin_user, active_model, tmp_path) -> None:
    other = make_snapshot(root=tmp_path / "exports", categories=["dent", "scratch"])
    _refused(
        "Snapshot labels-1 labels dent, scratch, but .* uses damage_categorical",
        user=admin_user,
        start_version=active_model,
        snapshots=[other],
        schedule=TINY,
    )


def test_create_queues_and_sends_the_run(
    admin_user, active_model, tmp_path, sent, django_capture_on_commit_callbacks, settings
) -> None:
    snapshot = make_snapshot(root=tmp_path / "exports")
    with django_capture_on_commit_callbacks(execute=True):
        run = services.training_run_create(
            user=admin_user, start_version=active_model, snapshots=[snapshot], schedule=TINY
        )
    assert sent == [run.pk]
    assert run.status == TrainingRun.Status.QUEUED
    assert run.schedule == TINY
    assert list(run.snapshots.all()) == [snapshot]
    assert Path(run.out_dir) == Path(settings.TRAINING_ROOT) / "runs" / str(run.pk)
    assert Path(run.log_path) == Path(run.out_dir) / "train.log"
    event = AuditEvent.objects.get(verb="training.started")
    assert event.actor == admin_user
    assert event.data["run"] == run.pk
    assert event.data["snapshots"] == ["labels-1"]


def test_cancel_a_queued_run_at_once(admin_user, active_model, tmp_path, sent) -> None:
    snapshot = make_snapshot(root=tmp_path / "exports")
    run = services.training_run_create(
        user=admin_user, start_version=active_model, snapshots=[snapshot], schedule=TINY
    )
    run = services.training_run_cancel(run=run, user=admin_user)
    assert run.status == TrainingRun.Status.CANCELLED
    assert run.progress["phase"] == "cancelled"
    assert AuditEvent.objects.filter(verb="training.cancelled", data__run=run.pk).count() == 1
    # the message still in the queue finds nothing to do
    assert tasks.training_run_task(run.pk) is None
    assert TrainingRun.objects.get(pk=run.pk).attempts == 0
    with pytest.raises(ApplicationError, match="only a queued or running run can be cancelled"):
        services.training_run_cancel(run=run, user=admin_user)


def test_cancel_a_running_run_asks_its_worker(admin_user, active_model, tmp_path) -> None:
    snapshot = make_snapshot(root=tmp_path / "exports")
    run = services.training_run_create(
        user=admin_user, start_version=active_model, snapshots=[snapshot], schedule=TINY
    )
    assert services.training_run_claim(run_id=run.pk) == 1
    run = services.training_run_cancel(run=run, user=admin_user)
    assert run.status == TrainingRun.Status.CANCELLING  # the worker stops at its next step


def test_sweep_resends_a_run_whose_worker_died(
    admin_user, active_model, tmp_path, sent, django_capture_on_commit_callbacks
) -> None:
    snapshot = make_snapshot(root=tmp_path / "exports")
    runs = [
        services.training_run_create(
            user=admin_user, start_version=active_model, snapshots=[snapshot], schedule=TINY
        )
        for _ in range(4)
    ]
    dead, alive, cancelling, worn = runs
    for run in runs:
        assert services.training_run_claim(run_id=run.pk) == 1
    now = timezone.now()
    long_ago = now - dt.timedelta(seconds=settings.TRAINING_HEARTBEAT_STALE_S + 60)
    TrainingRun.objects.filter(pk__in=[dead.pk, cancelling.pk, worn.pk]).update(
        heartbeat_at=long_ago, queued_at=long_ago
    )
    TrainingRun.objects.filter(pk=cancelling.pk).update(status=TrainingRun.Status.CANCELLING)
    TrainingRun.objects.filter(pk=worn.pk).update(attempts=settings.TRAINING_MAX_ATTEMPTS)
    # a live worker holds `alive`: its message finds nothing to take over
    assert tasks.training_run_task(alive.pk) is None

    with django_capture_on_commit_callbacks(execute=True):
        assert services.training_runs_sweep(now=now) == [dead.pk]
    assert sent == [dead.pk]
    statuses = dict(TrainingRun.objects.values_list("pk", "status"))
    assert statuses == {
        dead.pk: "running",  # the resent task takes it over (stale heartbeat) and resumes
        alive.pk: "running",
        cancelling.pk: "cancelled",
        worn.pk: "failed",
    }
    assert "died 3 times" in TrainingRun.objects.get(pk=worn.pk).error
    # a second sweep right after sends nothing again
    with django_capture_on_commit_callbacks(execute=True):
        assert services.training_runs_sweep(now=now + dt.timedelta(seconds=1)) == []
    assert sent == [dead.pk]
    # the resent message takes the dead worker's run over: a second attempt
    assert services.training_run_claim(run_id=dead.pk, now=now) == 2


def test_sweep_resends_a_queued_run_only_when_no_worker_is_busy(
    admin_user, active_model, tmp_path, sent, django_capture_on_commit_callbacks
) -> None:
    snapshot = make_snapshot(root=tmp_path / "exports")
    busy, waiting = (
        services.training_run_create(
            user=admin_user, start_version=active_model, snapshots=[snapshot], schedule=TINY
        )
        for _ in range(2)
    )
    assert services.training_run_claim(run_id=busy.pk) == 1
    now = timezone.now()
    long_ago = now - dt.timedelta(seconds=settings.TRAINING_HEARTBEAT_STALE_S + 60)
    TrainingRun.objects.filter(pk=waiting.pk).update(queued_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.training_runs_sweep(now=now) == []  # it waits for the busy worker
    TrainingRun.objects.filter(pk=busy.pk).update(status=TrainingRun.Status.DONE)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.training_runs_sweep(now=now) == [waiting.pk]  # its message was lost
    assert sent == [waiting.pk]
    assert TrainingRun.objects.get(pk=waiting.pk).status == TrainingRun.Status.QUEUED

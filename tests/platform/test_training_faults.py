"""Fault injection for training runs (issue 11): a real `training` worker (Celery, prefork,
as docker/compose.yml runs it) on a private Redis, the test database on PostgreSQL. The
worker is killed (SIGKILL of its process group, as a container is killed) mid-run and a new
one started; the run must survive by resuming from its last checkpoint and register exactly
one candidate.

Recovery timings are shortened for the worker (heartbeat every 1 s, stale after 6 s) through
a settings module written under tmp (the TRAINING_HEARTBEAT_* settings have no environment
variables); the sweep is called here, as beat would call it every minute.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection

from inference.models import ModelVersion
from learning import services
from learning.models import DatasetSnapshot, TrainingRun
from tests.conftest import claim_processed
from tests.learning.conftest import review_and_export
from tests.platform.test_faults import Stack, _db, _free_port, broker_switched

pytestmark = [pytest.mark.fault, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT_S = 1
STALE_S = 6
EPOCHS = 3
# 8 copies of the photo, 4 steps of 2 crops of 64 px per epoch: an epoch takes seconds, so
# that a kill lands between two epochs' checkpoints.
SCHEDULE = {
    "epochs": EPOCHS,
    "max_steps_per_epoch": 4,
    "batch_size": 2,
    "resize": 128,
    "crop": 64,
    "lr": 1e-4,
}
COPIES = 8
WAIT_S = 120.0

WORKER_SETTINGS = f"""
from config.settings.local import *  # noqa: F403

TRAINING_HEARTBEAT_S = {HEARTBEAT_S}
TRAINING_HEARTBEAT_STALE_S = {STALE_S}
TRAINING_THREADS = 1
"""


class TrainingStack(Stack):
    """The fault suite's stack, with a worker on the `training` queue instead."""

    def worker_start(self) -> None:
        self.workers += 1
        name = f"training{self.workers}"
        self.worker = self._spawn(
            [
                *(sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "training"),
                *("--pool", "prefork", "--concurrency", "1", "-n", f"{name}@%h"),
                *("--without-gossip", "--without-mingle", "--loglevel", "INFO"),
            ],
            self.tmp / f"{name}.log",
        )


@pytest.fixture
def stack(
    transactional_db: None, tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TrainingStack]:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): the worker shares the test database")
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server on PATH: the stack runs a private one")
    db = connection.settings_dict
    port = _free_port()
    (tmp_path / "trainfault_settings.py").write_text(WORKER_SETTINGS, encoding="utf-8")
    inherited = {"REDIS_URL", "CELERY_BROKER_URL", "DATABASE_POOL_MAX", "DJANGO_DEBUG"}
    env = {
        **{k: v for k, v in os.environ.items() if k not in inherited},
        "DJANGO_SETTINGS_MODULE": "trainfault_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "DATABASE_URL": (
            f"postgres://{quote(db['USER'], safe='')}:{quote(db['PASSWORD'], safe='')}@"
            f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/1",
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "DJANGO_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_MEDIA_ROOT": str(django_settings.MEDIA_ROOT),
        "TRAINING_ROOT": str(tmp_path / "training"),
        "DAMAGE_CACHE_DIR": str(tmp_path / "cache"),
        "YOLO_OFFLINE": "1",
    }
    # This process: the same run folders, the sweep's stale limit, the exports under tmp.
    settings.TRAINING_ROOT = tmp_path / "training"
    settings.TRAINING_HEARTBEAT_STALE_S = STALE_S
    settings.REVIEW_EXPORT_ROOT = tmp_path / "exports"
    monkeypatch.setenv("DAMAGE_CACHE_DIR", str(tmp_path / "cache"))
    live = TrainingStack(tmp_path, env, port)
    with broker_switched(env["CELERY_BROKER_URL"]):
        try:
            live.redis_start()
            yield live
        finally:
            live.close()


@pytest.fixture
def snapshot(  # type: ignore[no-untyped-def]
    stack, customer, adjuster, admin_user, active_model, vehicle_jpeg, tmp_path
) -> DatasetSnapshot:
    """A reviewed claim's export, its photo copied COPIES times (more steps per epoch)."""
    active_model.threshold = 1.0  # every finding goes through a person
    active_model.save(update_fields=["threshold"])
    case = claim_processed(customer, vehicle_jpeg)
    exported = review_and_export(case, adjuster, admin_user)
    source = Path(exported.path)
    document = json.loads((source / "annotations.json").read_text())
    [image] = document["images"]
    folder = tmp_path / "copies"
    (folder / "images").mkdir(parents=True)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for i in range(COPIES):
        name = f"copy-{i}.jpg"
        shutil.copy(source / "images" / image["file_name"], folder / "images" / name)
        images.append(image | {"id": i + 1, "file_name": name})
        annotations += [
            ann | {"id": len(annotations) + n + 1, "image_id": i + 1}
            for n, ann in enumerate(document["annotations"])
        ]
    (folder / "annotations.json").write_text(
        json.dumps(document | {"images": images, "annotations": annotations})
    )
    return DatasetSnapshot.objects.create(
        version="copies",
        path=str(folder),
        images=COPIES,
        annotations=len(annotations),
        categories=exported.categories,
        cases=exported.cases,
    )


def _run(pk: int) -> TrainingRun:
    return _db(lambda: TrainingRun.objects.get(pk=pk))


def _epochs(run: TrainingRun) -> list[int]:
    path = Path(run.out_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["epoch"] for line in path.read_text().splitlines() if line]


def _until(what: str, done: Callable[[], bool], stack: Stack, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not _db(done):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s\n{stack.log_tail()}")
        time.sleep(0.02)


def _take_over(run: TrainingRun, stack: TrainingStack, killed_at: float) -> float:
    """Start a new worker; the sweep sends the run again once its heartbeat is stale (the
    killed worker's message stays unacknowledged in Redis for an hour). Seconds from the
    kill until the run is done."""
    stack.worker_start()
    resent: list[int] = []

    def swept() -> bool:
        resent.extend(services.training_runs_sweep())
        return run.pk in resent

    _until("the sweep sends the run again", swept, stack, timeout=STALE_S + 30)
    assert resent == [run.pk]
    _until(
        "the run is finished",
        lambda: _run(run.pk).finished,
        stack,
    )
    return time.monotonic() - killed_at


def _assert_one_candidate(run: TrainingRun, start: ModelVersion, stack: TrainingStack) -> None:
    assert (run.status, run.error) == (TrainingRun.Status.DONE, ""), stack.log_tail()
    assert run.attempts == 2
    assert run.candidate is not None
    assert run.candidate.status == ModelVersion.Status.CANDIDATE
    assert run.candidate.version == f"{start.version}-ft{run.pk}"
    assert list(ModelVersion.objects.filter(trained_by=run)) == [run.candidate]
    assert ModelVersion.objects.filter(name=start.name, version=run.candidate.version).count() == 1
    assert ModelVersion.objects.exclude(pk=start.pk).count() == 1  # nothing else registered
    versions = services.training_root() / "versions"
    assert [p.name for p in versions.iterdir()] == [run.candidate.version]  # no leftovers
    assert run.progress["phase"] == "done"
    log = Path(run.log_path).read_text()
    assert "attempt 2: resuming from last.pt" in log
    assert log.count("registered candidate") == 1


def test_a_training_worker_killed_between_epochs(  # type: ignore[no-untyped-def]
    stack, admin_user, active_model, snapshot
) -> None:
    """3 epochs; the worker is killed (SIGKILL, its whole process group) once epoch 1's
    checkpoint is written and before the last epoch's, a new one started. The sweep sends
    the run again after its heartbeat went stale; the new worker takes it over, resumes
    after the checkpointed epoch and registers one candidate. No epoch is trained twice."""
    run = services.training_run_create(
        user=admin_user, start_version=active_model, snapshots=[snapshot], schedule=SCHEDULE
    )
    last = Path(run.out_dir) / "last.pt"
    stack.worker_start()
    _until("epoch 1 checkpointed", last.is_file, stack)
    stack.worker_kill()
    killed_at = time.monotonic()
    before = _epochs(run)
    run = _run(run.pk)
    assert run.status == TrainingRun.Status.RUNNING
    assert run.attempts == 1
    assert 1 <= len(before) < EPOCHS, f"killed after epochs {before}: too late\n{stack.log_tail()}"
    assert before == list(range(1, len(before) + 1))

    took = _take_over(run, stack, killed_at)
    print(f"\n[fault] training worker killed after epochs {before}: done {took:.1f} s later")
    run = _run(run.pk)
    _assert_one_candidate(run, active_model, stack)
    assert _epochs(run) == list(range(1, EPOCHS + 1))  # each epoch once: none from scratch
    resumed = run.progress["resumed_from_epoch"]
    assert 1 <= resumed == len(before)
    # attempt 1 may have saved its epochs' rows before the kill or not; each epoch once
    history = [h["epoch"] for h in run.progress["history"]]
    assert history == sorted(set(history))
    assert set(range(resumed + 1, EPOCHS + 1)) <= set(history) <= set(range(1, EPOCHS + 1))
    assert (run.progress["epoch"], run.progress["epochs"]) == (EPOCHS, EPOCHS)


def test_a_training_worker_killed_while_packaging(  # type: ignore[no-untyped-def]
    stack, admin_user, active_model, snapshot
) -> None:
    """The worker is killed while it packages the trained weights as the candidate version;
    the new worker trains nothing again (every epoch is checkpointed), packages afresh and
    registers the candidate once."""
    run = services.training_run_create(
        user=admin_user,
        start_version=active_model,
        snapshots=[snapshot],
        schedule=SCHEDULE | {"epochs": 1},
    )
    stack.worker_start()
    _until(
        "packaging",
        lambda: _run(run.pk).progress.get("phase") in ("packaging", "calibrating", "done"),
        stack,
    )
    stack.worker_kill()
    killed_at = time.monotonic()
    run = _run(run.pk)
    assert run.progress["phase"] == "packaging", f"killed too late\n{stack.log_tail()}"
    assert run.candidate is None
    assert not ModelVersion.objects.filter(trained_by=run).exists()

    took = _take_over(run, stack, killed_at)
    print(f"\n[fault] training worker killed while packaging: done {took:.1f} s later")
    run = _run(run.pk)
    _assert_one_candidate(run, active_model, stack)
    assert _epochs(run) == [1]  # not trained again
    assert run.progress["resumed_from_epoch"] == 1

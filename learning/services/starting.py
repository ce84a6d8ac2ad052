"""Starting and cancelling a training run from the admin pages: `training_run_create`
(admins only) checks the request, stores a queued run with its out dir and log path, audits
it and sends the task (by name, `TRAINING_TASK`) on commit; `training_run_cancel` cancels a
queued run at once and asks a running one to stop. Also where runs live on disk
(`training_root`) and the progress-row update shared by the other modules.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from claims.audit import audit_record
from common.access import require_admin
from common.db import send_each
from common.errors import ApplicationError
from damage_vision.taxonomy import load_taxonomy
from inference.models import ModelVersion
from learning.models import DatasetSnapshot, TrainingRun
from learning.services.validation import (
    public_sources_clean,
    schedule_clean,
    start_version_manifest,
)

LOG = "train.log"
TRAINING_TASK = "learning.tasks.training_run_task"


def training_root() -> Path:
    return Path(settings.TRAINING_ROOT)


def training_run_create(
    *,
    user: User,
    start_version: ModelVersion,
    snapshots: Sequence[DatasetSnapshot],
    public: Sequence[dict[str, Any]] = (),
    schedule: dict[str, Any] | None = None,
) -> TrainingRun:
    """Queue a training run (admins only); the `training` worker picks it up."""
    require_admin(user)
    start_version_manifest(start_version)
    snapshots = list(snapshots)
    public_clean = public_sources_clean(public)
    if not snapshots and not public_clean:
        raise ApplicationError(
            "Choose at least one label snapshot or public dataset to train on "
            "(export reviewed labels first if there is no snapshot)."
        )
    damage_classes = list(load_taxonomy(start_version.damage_taxonomy).classes[1:])
    for snapshot in snapshots:
        if list(snapshot.categories) != damage_classes:
            raise ApplicationError(
                f"Snapshot {snapshot.version} labels {', '.join(snapshot.categories)}, but "
                f"{start_version} uses {start_version.damage_taxonomy} "
                f"({', '.join(damage_classes)}); choose a snapshot of that taxonomy."
            )
        if not (Path(snapshot.path) / "annotations.json").is_file():
            raise ApplicationError(
                f"Snapshot {snapshot.version} has no annotations.json under {snapshot.path}; "
                "export the labels again."
            )
    clean = schedule_clean(dict(schedule or {}))
    with transaction.atomic():
        run = TrainingRun.objects.create(
            start_version=start_version,
            public_sources=public_clean,
            schedule=clean,
            created_by=user,
            progress={"phase": "queued", "epochs": clean["epochs"]},
        )
        run.snapshots.set(snapshots)
        out = training_root() / "runs" / str(run.pk)
        TrainingRun.objects.filter(pk=run.pk).update(out_dir=str(out), log_path=str(out / LOG))
        audit_record(
            verb="training.started",
            actor=user,
            data={
                "run": run.pk,
                "from_version": str(start_version),
                "snapshots": [s.version for s in snapshots],
                "public": public_clean,
                "schedule": clean,
            },
        )
        transaction.on_commit(functools.partial(training_run_enqueue, run.pk))
    run.refresh_from_db()
    return run


def training_run_enqueue(run_id: int) -> None:
    """Send the training task for the run."""
    # The task (`learning.tasks`, which calls this module) looked up by name; a broker that
    # cannot be reached leaves the run queued for the sweep.
    send_each(current_app.tasks[TRAINING_TASK], [run_id], "training run")


def training_run_cancel(*, run: TrainingRun, user: User) -> TrainingRun:
    """A queued run is cancelled at once; a running one stops at its next step."""
    require_admin(user)
    now = timezone.now()
    with transaction.atomic():
        if TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(
            status=TrainingRun.Status.CANCELLED, finished_at=now
        ):
            training_run_progress_set(run_id=run.pk, phase="cancelled")
            audit_record(verb="training.cancelled", actor=user, data={"run": run.pk})
        elif not TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.RUNNING).update(
            status=TrainingRun.Status.CANCELLING
        ):
            run.refresh_from_db()
            if run.status != TrainingRun.Status.CANCELLING:
                raise ApplicationError(
                    f"Training run {run.pk} is {run.get_status_display().lower()}; only a "
                    "queued or running run can be cancelled."
                )
        else:
            audit_record(verb="training.cancel_requested", actor=user, data={"run": run.pk})
    run.refresh_from_db()
    return run


def training_run_progress_set(*, run_id: int, **values: Any) -> None:
    """Merge `values` into the run's progress row."""
    run = TrainingRun.objects.get(pk=run_id)
    TrainingRun.objects.filter(pk=run_id).update(progress=dict(run.progress or {}) | values)

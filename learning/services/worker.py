"""The run row's state on the worker side: `training_run_claim` takes a queued run, or a
running one whose worker died (stale heartbeat), counting attempts; `training_run_fail`
fails it; `training_runs_sweep` (the periodic task) resends runs whose worker died so that
they resume from `last.pt`, cancels dead cancelling ones, fails worn-out ones and resends a
queued run whose message was lost.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from claims.audit import audit_record
from learning.models import TrainingRun
from learning.services.starting import training_run_enqueue, training_run_progress_set


def _stale(now: Any) -> Q:
    return Q(heartbeat_at__lt=now - timedelta(seconds=settings.TRAINING_HEARTBEAT_STALE_S))


def training_run_claim(*, run_id: int, now: Any = None) -> int | None:
    """Take a queued run, or a running one whose worker died (stale heartbeat); returns the
    attempt number, or None when the run is finished or a live worker holds it."""
    now = now or timezone.now()
    takeover = Q(status=TrainingRun.Status.RUNNING) & _stale(now)
    claimed = (
        TrainingRun.objects.filter(pk=run_id)
        .filter(Q(status=TrainingRun.Status.QUEUED) | takeover)
        .filter(attempts__lt=settings.TRAINING_MAX_ATTEMPTS)
        .update(
            status=TrainingRun.Status.RUNNING,
            heartbeat_at=now,
            attempts=F("attempts") + 1,
        )
    )
    if not claimed:
        return None
    TrainingRun.objects.filter(pk=run_id, started_at__isnull=True).update(started_at=now)
    return TrainingRun.objects.get(pk=run_id).attempts


def held_by_attempt(run_id: int, attempt: int) -> Q:
    """The run, as long as `attempt` holds it (no later attempt took it over)."""
    return Q(pk=run_id, attempts=attempt)


def training_run_fail(*, run_id: int, attempt: int | None, error: str) -> bool:
    query = TrainingRun.objects.filter(pk=run_id).exclude(
        status__in=(
            TrainingRun.Status.DONE,
            TrainingRun.Status.CANCELLED,
            TrainingRun.Status.FAILED,
        )
    )
    if attempt is not None:
        query = query.filter(attempts=attempt)
    with transaction.atomic():
        failed = query.update(
            status=TrainingRun.Status.FAILED, error=error, finished_at=timezone.now()
        )
        if failed:
            training_run_progress_set(run_id=run_id, phase="failed", seconds_left=None)
            audit_record(verb="training.failed", data={"run": run_id, "error": error})
    return bool(failed)


def training_runs_sweep(*, now: Any = None) -> list[int]:
    """Send again every running run whose worker died (stale heartbeat): the redelivered
    task takes it over and resumes from `last.pt`. A cancelling run whose worker died is
    cancelled; one that used up its attempts fails. A queued run is sent again when no
    live worker trains anything (its message was lost: a broker outage at creation)."""
    now = now or timezone.now()
    stale_s = settings.TRAINING_HEARTBEAT_STALE_S
    # `queued_at` marks when a run was last sent: one message a stale period is enough.
    resend_before = now - timedelta(seconds=stale_s)
    resent: list[int] = []
    stale = TrainingRun.objects.filter(
        Q(status__in=(TrainingRun.Status.RUNNING, TrainingRun.Status.CANCELLING)) & _stale(now)
    )
    for run in stale:
        if run.status == TrainingRun.Status.CANCELLING:
            with transaction.atomic():
                if (
                    TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.CANCELLING)
                    .filter(_stale(now))
                    .update(status=TrainingRun.Status.CANCELLED, finished_at=now)
                ):
                    training_run_progress_set(run_id=run.pk, phase="cancelled", seconds_left=None)
                    audit_record(verb="training.cancelled", data={"run": run.pk})
            continue
        if run.attempts >= settings.TRAINING_MAX_ATTEMPTS:
            training_run_fail(
                run_id=run.pk,
                attempt=run.attempts,
                error=f"its worker died {run.attempts} times; see the log, then start a new run",
            )
            continue
        if _resend(run=run, now=now, before=resend_before, extra=_stale(now)):
            resent.append(run.pk)
    busy = (
        TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).exclude(_stale(now)).exists()
    )
    if not busy:  # a live worker trains one run at a time: the others wait their turn
        for run in TrainingRun.objects.filter(
            status=TrainingRun.Status.QUEUED, queued_at__lt=resend_before
        ).order_by("queued_at")[:1]:
            if _resend(run=run, now=now, before=resend_before, extra=Q(status=run.status)):
                resent.append(run.pk)
    return resent


def _resend(*, run: TrainingRun, now: Any, before: Any, extra: Q) -> bool:
    """Send the run again unless another sweep just did (a conditional update)."""
    with transaction.atomic():
        if (
            not TrainingRun.objects.filter(pk=run.pk, queued_at=run.queued_at, queued_at__lt=before)
            .filter(extra)
            .update(queued_at=now)
        ):
            return False
        transaction.on_commit(functools.partial(training_run_enqueue, run.pk))
    return True

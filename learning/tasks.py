"""Celery tasks of the model lifecycle: a training run (queue `training`, its own worker), the
sweep that sends again a run whose worker died, and a shadow evaluation (queue `cpu`)."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from common.db import db_retry
from learning import services, shadow

logger = logging.getLogger(__name__)

# A run is bounded by its schedule (SCHEDULE_BOUNDS); the limits only end a hung one.
SOFT_LIMIT_S = 24 * 3600


@shared_task(acks_late=True, soft_time_limit=SOFT_LIMIT_S, time_limit=SOFT_LIMIT_S + 600)
def training_run_task(run_id: int) -> str | None:
    """Train one run; a no-op when it is finished or a live worker holds it (idempotent).

    acks_late (and CELERY_TASK_REJECT_ON_WORKER_LOST): a worker killed mid-run leaves the
    message to be delivered again; that delivery, or the sweep's, takes the run over once
    its heartbeat is stale and resumes from the last checkpoint.
    """
    attempt = db_retry(services.training_run_claim, run_id=run_id)
    if attempt is None:
        return None
    try:
        run = services.training_run_execute(run_id=run_id, attempt=attempt)
    except SoftTimeLimitExceeded:
        db_retry(
            services.training_run_fail,
            run_id=run_id,
            attempt=attempt,
            error=f"the run took longer than {SOFT_LIMIT_S // 3600} hours; start a shorter one",
        )
        return "failed"
    except Exception:
        logger.exception("training run %s failed", run_id)  # recorded on the run already
        return "failed"
    return str(run.status)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def training_runs_sweep_task() -> int:
    """Periodic (beat, every minute): send again running runs whose worker died."""
    return len(db_retry(services.training_runs_sweep))


# Two versions on every photo of up to SHADOW_MAX_CASES cases, on a CPU worker (queue `cpu`,
# the default): long, but bounded. Registered under its name from before it left the review
# app, so that evaluations already queued under that name still run.
@shared_task(
    name="review.tasks.shadow_evaluation_task",
    acks_late=True,
    soft_time_limit=3 * 3600,
    time_limit=shadow.SHADOW_TIME_LIMIT_S,
)
def shadow_evaluation_task(evaluation_id: int) -> str | None:
    """Run a queued shadow evaluation; a no-op when it is not queued (idempotent)."""
    if not shadow.shadow_evaluation_claim(evaluation_id=evaluation_id):
        return None
    try:
        evaluation = shadow.shadow_evaluation_run(evaluation_id=evaluation_id)
    except SoftTimeLimitExceeded:
        shadow.shadow_evaluation_fail(
            evaluation_id=evaluation_id,
            error="the evaluation took too long; evaluate on fewer cases",
        )
        return "failed"
    except Exception as exc:
        logger.exception("shadow evaluation %s failed", evaluation_id)
        shadow.shadow_evaluation_fail(
            evaluation_id=evaluation_id, error=f"{type(exc).__name__}: {exc}"
        )
        return "failed"
    return str(evaluation.status)

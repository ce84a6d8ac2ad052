"""Celery tasks of the review app: they take ids, call one service, and own failures."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from review import shadow

logger = logging.getLogger(__name__)


# Two versions on every photo of up to SHADOW_MAX_CASES cases, on a CPU worker (queue `cpu`,
# the default): long, but bounded.
@shared_task(acks_late=True, soft_time_limit=3 * 3600, time_limit=shadow.SHADOW_TIME_LIMIT_S)
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

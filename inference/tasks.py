"""Celery tasks: they take ids, call one service, and own retries and failures."""

from __future__ import annotations

import logging

import requests
from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError, InterfaceError, OperationalError

from inference import services

logger = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


@shared_task(bind=True, acks_late=True, soft_time_limit=240, time_limit=300, max_retries=3)
def photo_process_task(self, run_id: int) -> None:  # type: ignore[no-untyped-def]
    if not services.run_claim(run_id=run_id):
        return  # done already, or another worker holds it: idempotent
    try:
        services.run_execute(run_id=run_id)
    except TRANSIENT as exc:
        if services.run_fail(
            run_id=run_id,
            error=f"temporary error: {exc}",
            retry=True,
            reason="the server was busy and gave up after several tries; press Retry",
        ):
            raise self.retry(exc=exc, countdown=5 * (self.request.retries + 1)) from exc
    except SoftTimeLimitExceeded:
        services.run_fail(
            run_id=run_id,
            error="processing took too long",
            retry=False,
            reason="processing took too long; press Retry, or add a smaller photo",
        )
    except Exception as exc:
        logger.exception("photo run %s failed", run_id)
        services.run_fail(
            run_id=run_id,
            error=f"{type(exc).__name__}: {exc}",
            retry=False,
            reason=f"an unexpected error ({type(exc).__name__}); press Retry, or add the photo again",
        )


@shared_task(bind=True, acks_late=True, soft_time_limit=120, time_limit=180, max_retries=5)
def case_finalise_task(self, case_id: int) -> None:  # type: ignore[no-untyped-def]
    try:
        services.case_finalise(case_id=case_id)
    except (*TRANSIENT, DatabaseError) as exc:
        raise self.retry(exc=exc, countdown=5) from exc


@shared_task(bind=True, acks_late=True, soft_time_limit=30, time_limit=60, max_retries=5)
def case_webhook_task(self, case_id: int) -> None:  # type: ignore[no-untyped-def]
    try:
        services.case_webhook_send(case_id=case_id)
    except requests.RequestException as exc:
        raise self.retry(exc=exc, countdown=30 * 2**self.request.retries) from exc


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def runs_sweep_task() -> int:
    """Periodic (beat): re-enqueue stale runs and finalise cases whose case task was lost."""
    return len(services.runs_sweep()) + len(services.cases_sweep())

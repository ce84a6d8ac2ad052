"""Celery tasks: they take ids, call one service, and own retries and failures."""

from __future__ import annotations

import logging

from botocore.exceptions import ConnectionError as StorageConnectionError
from botocore.exceptions import HTTPClientError as StorageHTTPClientError
from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError

from common.db import TRANSIENT, db_retry
from inference import services

logger = logging.getLogger(__name__)

# A bucket (DJANGO_STORAGE_URL) that cannot be reached or drops the connection: retried like
# the database. Its refusals (403, 404) are ClientError, not transient.
STORAGE_TRANSIENT = (StorageConnectionError, StorageHTTPClientError)


@shared_task(bind=True, acks_late=True, soft_time_limit=240, time_limit=300, max_retries=3)
def photo_process_task(self, run_id: int) -> None:  # type: ignore[no-untyped-def]
    """Process one run; a no-op when it is finished or a live worker holds it (idempotent).

    A redelivered message for a run whose worker died (stale heartbeat) takes it over at
    once. Every database touch is retried on a transient error (`services.db_retry`); if
    the database stays away longer, the run's heartbeat stops and the sweeper re-queues it.
    """
    if not db_retry(services.run_claim, run_id=run_id):
        return
    try:
        services.run_execute(run_id=run_id)
    except (*TRANSIENT, *STORAGE_TRANSIENT) as exc:
        if db_retry(
            services.run_fail,
            run_id=run_id,
            error=f"temporary error: {exc}",
            retry=True,
            reason="the server was busy and gave up after several tries; press Retry",
        ):
            raise self.retry(exc=exc, countdown=5 * (self.request.retries + 1)) from exc
    except SoftTimeLimitExceeded:
        db_retry(
            services.run_fail,
            run_id=run_id,
            error="processing took too long",
            retry=False,
            reason="processing took too long; press Retry, or add a smaller photo",
        )
    except Exception as exc:
        logger.exception("photo run %s failed", run_id)
        db_retry(
            services.run_fail,
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


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def runs_sweep_task() -> int:
    """Periodic (beat, every INFERENCE_SWEEP_S): re-enqueue runs whose worker died or whose
    message was lost, and finalise cases whose case task was lost."""
    runs = db_retry(services.runs_sweep)
    return len(runs) + len(db_retry(services.cases_sweep))


@shared_task(acks_late=True, soft_time_limit=300, time_limit=360)
def derived_files_sweep_task() -> int:
    """Periodic (beat, hourly): delete derived files no row refers to (never an original)."""
    return len(db_retry(services.derived_files_sweep))

"""Celery tasks: they take ids, call one service, and own retries and failures."""

from __future__ import annotations

import logging

from botocore.exceptions import ConnectionError as StorageConnectionError
from botocore.exceptions import HTTPClientError as StorageHTTPClientError
from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.utils import timezone

from claims.models import WebhookDelivery
from inference import services

logger = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
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
    if not services.db_retry(services.run_claim, run_id=run_id):
        return
    try:
        services.run_execute(run_id=run_id)
    except (*TRANSIENT, *STORAGE_TRANSIENT) as exc:
        if services.db_retry(
            services.run_fail,
            run_id=run_id,
            error=f"temporary error: {exc}",
            retry=True,
            reason="the server was busy and gave up after several tries; press Retry",
        ):
            raise self.retry(exc=exc, countdown=5 * (self.request.retries + 1)) from exc
    except SoftTimeLimitExceeded:
        services.db_retry(
            services.run_fail,
            run_id=run_id,
            error="processing took too long",
            retry=False,
            reason="processing took too long; press Retry, or add a smaller photo",
        )
    except Exception as exc:
        logger.exception("photo run %s failed", run_id)
        services.db_retry(
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


@shared_task(acks_late=True, soft_time_limit=30, time_limit=60)
def case_webhook_task(case_id: int) -> None:
    """Messages enqueued before the outbox: put the case's webhook in it."""
    services.case_webhook_enqueue(case_id=case_id)


@shared_task(bind=True, acks_late=True, soft_time_limit=30, time_limit=60, max_retries=5)
def webhook_delivery_task(self, delivery_id: int) -> str | None:  # type: ignore[no-untyped-def]
    """One attempt at a webhook delivery; a no-op unless it is pending and due (idempotent).

    The next attempt after a failure is enqueued with its countdown; if that message is
    lost too, the sweep finds the delivery once it is due.
    """
    try:
        # A database outage is waited out (~8 s): the claim is conditional, so a repeat
        # after an attempt was claimed finds nothing to do and the lease protects it.
        delivery = services.db_retry(services.webhook_delivery_attempt, delivery_id=delivery_id)
    except TRANSIENT as exc:  # the database, not the receiver: the lease lets the sweep retry
        raise self.retry(exc=exc, countdown=settings.CLAIMS_WEBHOOK_LEASE_S) from exc
    if delivery is None:
        return None
    if delivery.status == WebhookDelivery.Status.PENDING:
        countdown = max(0.0, (delivery.next_attempt_at - timezone.now()).total_seconds())
        webhook_delivery_task.apply_async((delivery_id,), countdown=countdown)
    return str(delivery.status)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def webhook_deliveries_sweep_task() -> int:
    """Periodic (beat): re-enqueue due webhook deliveries, e.g. one whose message was lost."""
    return len(services.db_retry(services.webhook_deliveries_sweep))


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def runs_sweep_task() -> int:
    """Periodic (beat, every INFERENCE_SWEEP_S): re-enqueue runs whose worker died or whose
    message was lost, and finalise cases whose case task was lost."""
    runs = services.db_retry(services.runs_sweep)
    return len(runs) + len(services.db_retry(services.cases_sweep))


@shared_task(acks_late=True, soft_time_limit=300, time_limit=360)
def derived_files_sweep_task() -> int:
    """Periodic (beat, hourly): delete derived files no row refers to (never an original)."""
    return len(services.db_retry(services.derived_files_sweep))

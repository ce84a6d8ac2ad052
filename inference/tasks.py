"""Celery tasks: they take ids, call one service, and own retries and failures."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.utils import timezone

from claims.models import WebhookDelivery
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
        delivery = services.webhook_delivery_attempt(delivery_id=delivery_id)
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
    return len(services.webhook_deliveries_sweep())


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def runs_sweep_task() -> int:
    """Periodic (beat): re-enqueue stale runs and finalise cases whose case task was lost."""
    return len(services.runs_sweep()) + len(services.cases_sweep())

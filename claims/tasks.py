"""Celery tasks of the webhook outbox: they take ids, call one service, and own retries."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from claims import outbox
from claims.models import WebhookDelivery
from common.db import TRANSIENT, db_retry


@shared_task(acks_late=True, soft_time_limit=30, time_limit=60)
def case_webhook_task(case_id: int) -> None:
    """Messages enqueued before the outbox: put the case's webhook in it."""
    outbox.case_webhook_enqueue(case_id=case_id)


@shared_task(bind=True, acks_late=True, soft_time_limit=30, time_limit=60, max_retries=5)
def webhook_delivery_task(self, delivery_id: int) -> str | None:  # type: ignore[no-untyped-def]
    """One attempt at a webhook delivery; a no-op unless it is pending and due (idempotent).

    The next attempt after a failure is enqueued with its countdown; if that message is
    lost too, the sweep finds the delivery once it is due.
    """
    try:
        # A database outage is waited out (~8 s): the claim is conditional, so a repeat
        # after an attempt was claimed finds nothing to do and the lease protects it.
        delivery = db_retry(outbox.webhook_delivery_attempt, delivery_id=delivery_id)
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
    return len(db_retry(outbox.webhook_deliveries_sweep))

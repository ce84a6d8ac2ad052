"""The webhook outbox: a finished case's `case.finished` POST to its API client, written in
the transaction that finishes the case (`webhook_delivery_create`), sent by
`claims.tasks.webhook_delivery_task` with retries and backoff, and re-sent by the sweep
when a message is lost. The target checks and the signed request are `claims.webhooks`'."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import requests
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from claims.audit import audit_record
from claims.models import ApiClient, Case, WebhookDelivery
from claims.webhooks import case_webhook_deliver
from common.db import db_retry, send_each

logger = logging.getLogger(__name__)

WEBHOOK_ERROR_CHARS = 2000  # last_error keeps the start of a long answer
# The task of `claims.tasks` (which calls this module), looked up by name when sent.
DELIVERY_TASK = "claims.tasks.webhook_delivery_task"


def _case_webhook_request(*, case: Case, client: ApiClient) -> tuple[bytes, dict[str, str]]:
    """The body and headers POSTed for a finished case, signed with the client's secret."""
    body = json.dumps(
        {
            "event": "case.finished",
            "case": str(case.public_id),
            "status": case.status,
            "dsi": case.dsi,
        }
    ).encode()
    headers = {"Content-Type": "application/json"}
    if client.webhook_secret:
        signature = hmac.new(client.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Claims-Signature"] = f"sha256={signature}"
    return body, headers


def case_webhook_send(*, case_id: int) -> bool:
    """POST the finished case to its API client's webhook; True when delivered (2xx)."""
    case = Case.objects.select_related("customer").get(pk=case_id)
    client = ApiClient.objects.filter(user=case.customer).first()
    if client is None or not client.webhook_url or case.webhook_sent_at is not None:
        return False
    body, headers = _case_webhook_request(case=case, client=client)
    # Checks the target again (DNS may have changed), pins the checked address, never
    # follows redirects; a refused target is recorded and not retried.
    if not case_webhook_deliver(case=case, url=client.webhook_url, body=body, headers=headers):
        return False
    Case.objects.filter(pk=case.pk, webhook_sent_at__isnull=True).update(
        webhook_sent_at=timezone.now()
    )
    return True


def webhook_delivery_create(*, case: Case) -> WebhookDelivery | None:
    """Put the finished case's webhook in the outbox; None when there is nothing to send.

    Call inside the transaction that finishes the case and enqueue the task on commit
    (`webhook_deliveries_enqueue`); an open delivery for the case is returned, not doubled.
    """
    client = ApiClient.objects.filter(user_id=case.customer_id).first()
    if client is None or not client.webhook_url or case.webhook_sent_at is not None:
        return None
    open_ = WebhookDelivery.objects.filter(case=case, status=WebhookDelivery.Status.PENDING)
    existing = open_.first()
    if existing is not None:
        return existing
    return WebhookDelivery.objects.create(
        case=case, url=client.webhook_url, next_attempt_at=timezone.now()
    )


def webhook_deliveries_enqueue(*, delivery_ids: Sequence[int]) -> None:
    """Enqueue an attempt for each delivery once the current transaction commits."""
    ids = list(delivery_ids)
    task = current_app.tasks[DELIVERY_TASK]
    transaction.on_commit(lambda: send_each(task, ids, "webhook delivery"))


def case_webhook_enqueue(*, case_id: int) -> WebhookDelivery | None:
    """Put a finished case's webhook in the outbox (for messages from before the outbox)."""
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        delivery = webhook_delivery_create(case=case)
        if delivery is not None:
            webhook_deliveries_enqueue(delivery_ids=[delivery.pk])
    return delivery


def webhook_delivery_backoff(*, attempt: int) -> timedelta:
    """How long after failed attempt `attempt` (1, 2, ...) to try again: 30 s, 1, 2, 4 ...
    minutes up to the cap, each within 10 % either way so failed deliveries spread out."""
    delay = min(
        settings.CLAIMS_WEBHOOK_BACKOFF_S * 2 ** (attempt - 1),
        settings.CLAIMS_WEBHOOK_BACKOFF_MAX_S,
    )
    return timedelta(seconds=delay * random.uniform(0.9, 1.1))  # jitter, not a secret


def webhook_delivery_claim(*, delivery_id: int, now: Any = None) -> int | None:
    """Take a due delivery for one attempt; its attempt number, or None (not due, taken, closed).

    The conditional update moves next_attempt_at to the end of a lease, so a second worker
    (a redelivered message, the sweep) finds nothing to claim while this attempt runs.
    """
    now = now or timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id,
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at__lte=now,
        attempts__lt=settings.CLAIMS_WEBHOOK_MAX_ATTEMPTS,
    ).update(
        attempts=F("attempts") + 1,
        next_attempt_at=now + timedelta(seconds=settings.CLAIMS_WEBHOOK_LEASE_S),
    )
    if not claimed:
        return None
    return int(WebhookDelivery.objects.values_list("attempts", flat=True).get(pk=delivery_id))


def _webhook_delivery_give_up(*, delivery: WebhookDelivery, attempt: int, error: str) -> None:
    WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.PENDING, attempts=attempt
    ).update(status=WebhookDelivery.Status.FAILED, last_error=error)
    logger.warning("webhook for case %s failed after %s attempts", delivery.case_id, attempt)
    audit_record(
        verb="case.webhook_failed",
        case=delivery.case,
        data={"url": delivery.url, "attempts": attempt, "error": error},
    )


def webhook_delivery_attempt(*, delivery_id: int) -> WebhookDelivery | None:
    """Claim the delivery and POST it once; the delivery afterwards, or None if not claimed.

    Delivered (2xx) also sets Case.webhook_sent_at; a refused target ends it at once; a
    transport error or a non-2xx answer schedules the next attempt (next_attempt_at), or
    fails it after CLAIMS_WEBHOOK_MAX_ATTEMPTS. Enqueueing the next attempt is the caller's.
    """
    attempt = webhook_delivery_claim(delivery_id=delivery_id)
    if attempt is None:
        return None
    delivery = WebhookDelivery.objects.select_related("case").get(pk=delivery_id)
    case = delivery.case
    # Only the holder of this attempt writes its outcome (a lease that ran out was re-claimed).
    ours = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.PENDING, attempts=attempt
    )
    client = ApiClient.objects.filter(user_id=case.customer_id).first()
    if case.webhook_sent_at is not None:  # sent by a task from before the outbox
        ours.update(status=WebhookDelivery.Status.DELIVERED, delivered_at=case.webhook_sent_at)
        return WebhookDelivery.objects.get(pk=delivery.pk)
    if client is None or not client.webhook_url:
        reason = "webhooks were turned off (no webhook URL) before the case could be sent"
        ours.update(status=WebhookDelivery.Status.REFUSED, last_error=reason)
        audit_record(
            verb="case.webhook_refused", case=case, data={"url": delivery.url, "reason": reason}
        )
        return WebhookDelivery.objects.get(pk=delivery.pk)
    body, headers = _case_webhook_request(case=case, client=client)
    try:
        sent = case_webhook_deliver(case=case, url=delivery.url, body=body, headers=headers)
    except requests.RequestException as exc:
        error = f"attempt {attempt}: {type(exc).__name__}: {exc}"[:WEBHOOK_ERROR_CHARS]
        if attempt >= settings.CLAIMS_WEBHOOK_MAX_ATTEMPTS:
            _webhook_delivery_give_up(delivery=delivery, attempt=attempt, error=error)
        else:
            ours.update(
                next_attempt_at=timezone.now() + webhook_delivery_backoff(attempt=attempt),
                last_error=error,
            )
        return WebhookDelivery.objects.get(pk=delivery.pk)
    if not sent:
        # case_webhook_deliver recorded why (case.webhook_refused); a refusal is not retried.
        refusal = case.audit_events.filter(verb="case.webhook_refused").last()
        reason = str(refusal.data.get("reason", "")) if refusal is not None else ""
        ours.update(
            status=WebhookDelivery.Status.REFUSED,
            last_error=f"refused: {reason}"[:WEBHOOK_ERROR_CHARS],
        )
        return WebhookDelivery.objects.get(pk=delivery.pk)
    now = timezone.now()

    def delivered() -> None:
        with transaction.atomic():
            if not ours.update(status=WebhookDelivery.Status.DELIVERED, delivered_at=now):
                return  # recorded by a try whose commit went through unanswered
            Case.objects.filter(pk=case.pk, webhook_sent_at__isnull=True).update(
                webhook_sent_at=now
            )
            audit_record(
                verb="case.webhook_delivered",
                case=case,
                data={"url": delivery.url, "attempts": attempt},
            )

    # The receiver has it: record that through a database outage rather than let the lease
    # run out and send it again.
    db_retry(delivered)
    return db_retry(WebhookDelivery.objects.get, pk=delivery.pk)


def webhook_deliveries_sweep(*, now: Any = None) -> list[int]:
    """Re-enqueue pending deliveries that are due (a lost message, a retry whose task is gone).

    A delivery whose last allowed attempt never reported back (its worker was killed) is
    failed here, since no task will.
    """
    now = now or timezone.now()
    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
    max_attempts = settings.CLAIMS_WEBHOOK_MAX_ATTEMPTS
    for delivery in pending.filter(next_attempt_at__lte=now, attempts__gte=max_attempts):
        _webhook_delivery_give_up(
            delivery=delivery,
            attempt=delivery.attempts,
            error=f"attempt {delivery.attempts} never finished (the worker stopped); gave up",
        )
    cutoff = now - timedelta(seconds=settings.CLAIMS_WEBHOOK_SWEEP_GRACE_S)
    due = list(
        pending.filter(next_attempt_at__lte=cutoff, attempts__lt=max_attempts)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)
    )
    if due:
        webhook_deliveries_enqueue(delivery_ids=due)
    return due

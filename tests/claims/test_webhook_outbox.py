"""The webhook outbox: one delivery per finished case, claimed once, retried, swept."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from django.utils import timezone

from claims import outbox
from claims import tasks as claims_tasks
from claims.models import ApiClient, AuditEvent, Case, WebhookDelivery
from claims.services import Upload, case_submit
from config.celery import app
from inference import services
from inference.models import InferenceRun

pytestmark = pytest.mark.django_db


class _Server:
    """A live HTTP server on 127.0.0.1 answering every POST with `status`."""

    def __init__(self, status: int = 204) -> None:
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                outer.received.append((dict(self.headers), self.rfile.read(length)))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    with _Server() as live:
        yield live


@pytest.fixture
def local_allowed(settings: Any) -> None:
    settings.CLAIMS_WEBHOOK_ALLOW_HTTP = True  # the receiver is local and plain http
    settings.CLAIMS_WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]


@pytest.fixture
def case(customer: Any) -> Case:
    return Case.objects.create(
        customer=customer,
        policy_number="O-1",
        loss_date=dt.date(2026, 11, 3),
        loss_place="Car park",
        description="Dented door",
        status=Case.Status.RELEASED,
        finished_at=timezone.now(),
    )


@pytest.fixture
def requeued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, float]]:
    """Next attempts the task enqueues (delivery id, countdown), recorded, not sent."""
    calls: list[tuple[int, float]] = []

    def apply_async(args: tuple[int], countdown: float) -> None:
        calls.append((args[0], countdown))

    monkeypatch.setattr(claims_tasks.webhook_delivery_task, "apply_async", apply_async)
    return calls


def _delivery(case: Case, url: str, secret: str = "s3cret") -> WebhookDelivery:
    ApiClient.objects.create(user=case.customer, webhook_url=url, webhook_secret=secret)
    delivery = outbox.webhook_delivery_create(case=case)
    assert delivery is not None
    return delivery


def _make_due(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_finished_case_puts_one_delivery_in_the_outbox(  # type: ignore[no-untyped-def]
    customer, active_model, vehicle_jpeg, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    ApiClient.objects.create(user=customer, webhook_url="https://hooks.example.com/claims")
    case = case_submit(
        customer=customer,
        policy_number="O-2",
        loss_date=dt.date(2026, 11, 3),
        loss_place="Yard",
        description="Side swipe",
        uploads=[Upload(name="bus.jpg", stream=io.BytesIO(vehicle_jpeg))],
    )
    run = InferenceRun.objects.get(photo__case=case)
    services.run_claim(run_id=run.pk)
    services.run_execute(run_id=run.pk)
    enqueued: list[int] = []
    monkeypatch.setattr(claims_tasks.webhook_delivery_task, "delay", enqueued.append)
    with django_capture_on_commit_callbacks(execute=True):
        services.case_finalise(case_id=case.pk)
    (delivery,) = WebhookDelivery.objects.filter(case=case)
    assert (delivery.status, delivery.attempts, delivery.url) == (
        WebhookDelivery.Status.PENDING,
        0,
        "https://hooks.example.com/claims",
    )
    assert delivery.next_attempt_at <= timezone.now()
    assert enqueued == [delivery.pk]  # enqueued once the transaction committed

    services.case_finalise(case_id=case.pk)  # a redelivered case task
    assert WebhookDelivery.objects.filter(case=case).count() == 1


def test_no_delivery_without_a_webhook_url(case: Case) -> None:
    assert outbox.webhook_delivery_create(case=case) is None
    ApiClient.objects.create(user=case.customer, webhook_url="")
    assert outbox.webhook_delivery_create(case=case) is None
    assert WebhookDelivery.objects.count() == 0


def test_one_open_delivery_per_case(case: Case) -> None:
    first = _delivery(case, "https://hooks.example.com/claims")
    assert outbox.webhook_delivery_create(case=case) == first
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        WebhookDelivery.objects.create(case=case, url=first.url, next_attempt_at=timezone.now())
    assert WebhookDelivery.objects.filter(case=case).count() == 1


def test_task_delivers_signed_once(  # type: ignore[no-untyped-def]
    case, server, local_allowed, requeued
) -> None:
    delivery = _delivery(case, server.url)
    assert claims_tasks.webhook_delivery_task(delivery.pk) == "delivered"
    assert claims_tasks.webhook_delivery_task(delivery.pk) is None  # a redelivered message: no-op
    ((headers, payload),) = server.received
    expected = hmac.new(b"s3cret", payload, hashlib.sha256).hexdigest()
    assert headers["X-Claims-Signature"] == f"sha256={expected}"
    delivery.refresh_from_db()
    case.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 1, "")
    assert delivery.delivered_at is not None
    assert case.webhook_sent_at == delivery.delivered_at
    (event,) = AuditEvent.objects.filter(case=case, verb="case.webhook_delivered")
    assert event.data == {"url": server.url, "attempts": 1}
    assert requeued == []
    assert outbox.webhook_deliveries_sweep(now=timezone.now() + timedelta(hours=1)) == []


def test_an_attempt_in_progress_is_not_sent_twice(  # type: ignore[no-untyped-def]
    case, server, local_allowed, requeued
) -> None:
    delivery = _delivery(case, server.url)
    assert outbox.webhook_delivery_claim(delivery_id=delivery.pk) == 1  # another worker
    assert claims_tasks.webhook_delivery_task(delivery.pk) is None
    assert server.received == []
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=100)  # the lease


def test_500_is_retried_with_backoff_then_fails(  # type: ignore[no-untyped-def]
    case, server, local_allowed, requeued, settings
) -> None:
    settings.CLAIMS_WEBHOOK_MAX_ATTEMPTS = 3
    server.status = 500
    delivery = _delivery(case, server.url)

    before = timezone.now()
    assert claims_tasks.webhook_delivery_task(delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert 27 <= wait <= 34  # 30 s, give or take the jitter
    assert delivery.last_error.startswith("attempt 1: HTTPError: webhook ")
    assert "answered 500" in delivery.last_error
    ((requeued_id, countdown),) = requeued
    assert requeued_id == delivery.pk
    assert 26 <= countdown <= 33
    assert claims_tasks.webhook_delivery_task(delivery.pk) is None  # not due yet
    assert len(server.received) == 1

    _make_due(delivery)
    before = timezone.now()
    assert claims_tasks.webhook_delivery_task(delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    assert 54 <= (delivery.next_attempt_at - before).total_seconds() <= 67  # 1 minute

    _make_due(delivery)
    assert claims_tasks.webhook_delivery_task(delivery.pk) == "failed"
    delivery.refresh_from_db()
    case.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert delivery.last_error.startswith("attempt 3: HTTPError")
    assert case.webhook_sent_at is None
    assert len(server.received) == 3
    assert len(requeued) == 2  # no attempt after the last
    (event,) = AuditEvent.objects.filter(case=case, verb="case.webhook_failed")
    assert event.data["attempts"] == 3
    assert "answered 500" in event.data["error"]
    assert claims_tasks.webhook_delivery_task(delivery.pk) is None
    assert outbox.webhook_deliveries_sweep(now=timezone.now() + timedelta(hours=2)) == []


def test_a_refused_target_is_not_retried(  # type: ignore[no-untyped-def]
    case, server, settings, requeued
) -> None:
    settings.CLAIMS_WEBHOOK_ALLOW_HTTP = True  # but 127.0.0.1 is not an allowed network
    delivery = _delivery(case, server.url)
    assert claims_tasks.webhook_delivery_task(delivery.pk) == "refused"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("refused", 1)
    assert delivery.last_error.startswith("refused: 127.0.0.1 is a loopback address")
    assert server.received == []
    assert requeued == []
    assert AuditEvent.objects.filter(case=case, verb="case.webhook_refused").count() == 1
    assert claims_tasks.webhook_delivery_task(delivery.pk) is None
    assert outbox.webhook_deliveries_sweep(now=timezone.now() + timedelta(hours=2)) == []
    assert Case.objects.get(pk=case.pk).webhook_sent_at is None


def test_sweep_sends_a_lost_message(  # type: ignore[no-untyped-def]
    case, server, local_allowed, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    delivery = _delivery(case, server.url)  # committed, but its message never arrived
    now = timezone.now()
    assert outbox.webhook_deliveries_sweep(now=now) == []  # the task may still be coming
    monkeypatch.setattr(
        claims_tasks.webhook_delivery_task, "delay", claims_tasks.webhook_delivery_task
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert claims_tasks.webhook_deliveries_sweep_task() == 0
        assert outbox.webhook_deliveries_sweep(now=now + timedelta(minutes=1)) == [delivery.pk]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert len(server.received) == 1
    assert Case.objects.get(pk=case.pk).webhook_sent_at is not None


def test_sweep_fails_a_last_attempt_whose_worker_died(case: Case, settings: Any) -> None:
    settings.CLAIMS_WEBHOOK_MAX_ATTEMPTS = 2
    delivery = _delivery(case, "https://hooks.example.com/claims")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=1)
    assert outbox.webhook_delivery_claim(delivery_id=delivery.pk) == 2  # then it died
    assert outbox.webhook_deliveries_sweep() == []
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == "pending"
    later = timezone.now() + timedelta(minutes=5)  # the lease ran out
    assert outbox.webhook_deliveries_sweep(now=later) == []
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert "never finished" in delivery.last_error
    assert AuditEvent.objects.filter(case=case, verb="case.webhook_failed").count() == 1


def test_backoff_doubles_up_to_an_hour() -> None:
    for attempt, seconds in [(1, 30), (2, 60), (3, 120), (4, 240), (8, 3600), (20, 3600)]:
        delay = outbox.webhook_delivery_backoff(attempt=attempt).total_seconds()
        assert seconds * 0.9 <= delay <= seconds * 1.1


def test_legacy_task_puts_the_case_in_the_outbox(case: Case, monkeypatch: Any) -> None:
    ApiClient.objects.create(user=case.customer, webhook_url="https://hooks.example.com/x")
    claims_tasks.case_webhook_task(case.pk)
    claims_tasks.case_webhook_task(case.pk)
    assert WebhookDelivery.objects.filter(case=case, status="pending").count() == 1


def test_sweep_is_scheduled_every_15_seconds() -> None:
    (entry,) = [
        entry
        for entry in app.conf.beat_schedule.values()
        if entry["task"] == "claims.tasks.webhook_deliveries_sweep_task"
    ]
    assert entry["schedule"] == 15.0
    assert entry["options"] == {"expires": 15.0}  # a late sweep is dropped, not stacked


def test_admin_lists_deliveries_by_status(case: Case, admin_user: Any) -> None:
    from django.test import Client

    _delivery(case, "https://hooks.example.com/claims")
    client = Client()
    client.force_login(admin_user)
    response = client.get("/django-admin/claims/webhookdelivery/?status__exact=pending")
    assert response.status_code == 200
    assert str(case) in response.content.decode()
    assert (
        client.get("/django-admin/claims/webhookdelivery/?status__exact=failed").status_code == 200
    )

"""Review writes that race, for real: threads against a live server on PostgreSQL.

Each test fires its requests from many threads released by one barrier, through the
same URLs the review screen posts to (session cookie, CSRF token, htmx header), and
then checks what the database holds: one current decision per finding, one reviewed
report per finished round, nothing written to a reviewed case.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import requests
from django.db import connection
from django.test import Client
from django.urls import reverse

from claims.models import AuditEvent, Case
from inference.models import Finding
from review import services
from review.models import ReviewDecision, ReviewedReport, ReviewRound

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 30


@pytest.fixture(autouse=True)
def _postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL (DATABASE_URL, as .ci/run sets it): SQLite runs one writer "
            "at a time, so nothing races there"
        )


@pytest.fixture
def post_all(live_server: Any, adjuster: Any) -> Callable[..., list[int]]:
    """POST `bodies[i]` to `urls[i]` from one thread each, all released at once, as the
    adjuster's browser would (their session, the CSRF token, htmx); the status codes."""
    client = Client()
    client.force_login(adjuster)
    session_id = client.cookies["sessionid"].value

    def post(urls: list[str], bodies: list[dict[str, str]]) -> list[int]:
        barrier = threading.Barrier(len(urls))
        codes: list[int] = [0] * len(urls)

        def one(i: int) -> None:
            with requests.Session() as http:
                http.cookies.set("sessionid", session_id)
                http.get(f"{live_server.url}{reverse('review:queue')}", timeout=30)
                token = http.cookies["csrftoken"]
                barrier.wait(timeout=30)
                response = http.post(
                    f"{live_server.url}{urls[i]}",
                    data=bodies[i],
                    headers={"X-CSRFToken": token, "HX-Request": "true"},
                    timeout=60,
                )
                codes[i] = response.status_code

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(urls))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        return codes

    return post


def _decide_url(finding: Finding) -> str:
    return reverse("review:finding_decide", args=[finding.pk])


def test_concurrent_decisions_on_one_finding_store_exactly_one(
    make_case, adjuster, post_all
) -> None:
    case = make_case()
    services.lease_claim(case=case, user=adjuster)
    finding = Finding.objects.get(case=case, damage="deformity")
    actions = ["accept" if i % 2 else "reject" for i in range(THREADS)]
    codes = post_all(
        [_decide_url(finding)] * THREADS,
        [{"action": a, "supersedes": ""} for a in actions],
    )
    # Every request saw the finding undecided: one decision lands, the others are told
    # that it was decided meanwhile.
    assert Counter(codes) == {200: 1, 409: THREADS - 1}
    rows = list(ReviewDecision.objects.filter(finding=finding))
    assert len(rows) == 1
    assert rows[0].current
    assert (
        AuditEvent.objects.filter(case=case, verb__in=["review.accept", "review.reject"]).count()
        == 1
    )


def test_concurrent_finishes_finish_the_review_once(make_case, adjuster, post_all) -> None:
    case = make_case()
    services.lease_claim(case=case, user=adjuster)
    for finding in Finding.objects.filter(case=case, c_refined__lt=0.6):
        services.finding_decide(finding=finding, user=adjuster, action="accept")
    codes = post_all(
        [reverse("review:case_finish", args=[case.public_id])] * THREADS, [{}] * THREADS
    )
    assert Counter(codes) == {200: 1, 409: THREADS - 1}
    assert ReviewedReport.objects.filter(case=case).count() == 1
    assert AuditEvent.objects.filter(case=case, verb="review.case_reviewed").count() == 1
    assert Case.objects.get(pk=case.pk).status == Case.Status.REVIEWED
    assert ReviewRound.objects.get(case=case).finished_at is not None


def test_decisions_racing_the_finish_never_change_a_reviewed_case(
    make_case, adjuster, post_all
) -> None:
    case = make_case()
    services.lease_claim(case=case, user=adjuster)
    decided = {
        f: services.finding_decide(finding=f, user=adjuster, action="accept")
        for f in Finding.objects.filter(case=case, c_refined__lt=0.6)
    }
    finish = reverse("review:case_finish", args=[case.public_id])
    urls = [finish] * 10
    bodies: list[dict[str, str]] = [{}] * 10
    for f, d in decided.items():  # each current decision replaced once, in the same burst
        urls += [_decide_url(f)] * 5
        bodies += [{"action": "reject", "supersedes": str(d.pk)}] * 5
    codes = post_all(urls, bodies)
    assert codes.count(200) >= 1
    assert set(codes) <= {200, 409}
    report = ReviewedReport.objects.get(case=case)
    review_round = ReviewRound.objects.get(case=case)
    assert review_round.finished_at is not None
    # What the report says is what the decisions say: none landed after the finish.
    current = ReviewDecision.objects.filter(case=case, current=True)
    assert all(d.decided_at <= review_round.finished_at for d in current)
    assert report.rejected == current.filter(action="reject").count()
    assert report.dsi == services.report_compute(case=case).dsi
    for f in decided:  # each finding: its first decision plus at most one replacement
        assert ReviewDecision.objects.filter(finding=f).count() in (1, 2)
        assert ReviewDecision.objects.filter(finding=f, current=True).count() == 1
    assert Case.objects.get(pk=case.pk).dsi == report.dsi


def test_concurrent_reopens_open_one_round(make_case, adjuster, post_all) -> None:
    case = make_case([("deformity", "hood", 0.3)])
    services.lease_claim(case=case, user=adjuster)
    services.finding_decide(finding=Finding.objects.get(case=case), user=adjuster, action="reject")
    services.case_finish_review(case=case, user=adjuster)
    codes = post_all(
        [reverse("review:case_reopen", args=[case.public_id])] * THREADS,
        [{"reason": f"look again {i}"} for i in range(THREADS)],
    )
    assert Counter(codes) == {200: 1, 409: THREADS - 1}
    assert list(
        ReviewRound.objects.filter(case=case).order_by("number").values_list("number", flat=True)
    ) == [1, 2]
    assert AuditEvent.objects.filter(case=case, verb="review.case_reopened").count() == 1
    assert Case.objects.get(pk=case.pk).status == Case.Status.NEEDS_REVIEW

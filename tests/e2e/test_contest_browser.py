"""A customer contests a row of their report in a real browser; an adjuster, in another
browser context, finds the case first in the queue marked "contested", answers, decides
and finishes; the customer reads the answer beside the reviewed report.

Screenshots go to /tmp/contest-*.png for people checking that the pages read well."""

from __future__ import annotations

import pytest

from claims.models import AuditEvent, Case
from review.models import Contest
from tests import factories
from tests.conftest import page_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_customer_contests_a_row_and_reads_the_answer(
    browser, server_url, customer, adjuster
) -> None:
    version = factories.model_version_create(threshold=0.6)
    routine = factories.case_create(
        customer=customer, version=version, findings=[("deformity", "hood", 0.1)]
    )
    case = factories.case_create(
        customer=customer,
        version=version,
        findings=[("deformity", "door_shell", 0.9), ("surface_damage", "bumper", 0.8)],
        status=Case.Status.RELEASED,
        photo_size=(640, 480),
        grid=(320, 240),
    )
    door = case.findings.get(part="door_shell")

    cust = page_as(browser, server_url, customer)
    cust.goto(f"{server_url}/cases/{case.public_id}/")
    row = cust.locator("#report-table tbody tr").filter(has=cust.locator(f"#contest-row-{door.pk}"))
    row.locator("summary", has_text="Contest this row").click()
    row.locator("textarea").fill("This dent was there before the accident.")
    row.locator("button", has_text="Send to an adjuster").click()
    cust.locator("ul.messages", has_text="an adjuster will look at it again").wait_for()
    assert "This dent was there before the accident." in cust.locator("#report-table").inner_text()
    cust.screenshot(path="/tmp/contest-1-customer-contested.png", full_page=True)

    adj = page_as(browser, server_url, adjuster)
    adj.goto(f"{server_url}/review/")
    first = adj.locator(".queue-row").first
    assert first.get_attribute("data-case") == str(case.public_id)
    assert "contested" in first.inner_text()
    assert (
        "contested" not in adj.locator(f'.queue-row[data-case="{routine.public_id}"]').inner_text()
    )
    adj.screenshot(path="/tmp/contest-2-queue.png", full_page=True)
    first.locator("button", has_text="Claim").click()
    adj.wait_for_url(f"**/review/cases/{case.public_id}/")
    contested = adj.locator(f'.finding[data-finding-id="f{door.pk}"]')
    assert "This dent was there before the accident." in contested.inner_text()
    assert "answer 1 contest before finishing" in adj.locator("#contest-note").inner_text()
    adj.screenshot(path="/tmp/contest-3-review.png", full_page=True)
    adj.locator("#finish-button").click()  # refused: the contest is not answered yet
    adj.locator("ul.messages", has_text="The customer contested 1 item").wait_for()
    contested = adj.locator(f'.finding[data-finding-id="f{door.pk}"]')
    contested.locator("textarea").fill("The photo shows fresh paint marks: the dent is new.")
    contested.locator("button", has_text="Send answer").click()
    adj.locator("ul.messages", has_text="Answer saved").wait_for()
    assert adj.locator("#contest-note").count() == 0
    contested = adj.locator(f'.finding[data-finding-id="f{door.pk}"]')
    contested.locator('button[data-action="accept"]').click()
    adj.locator(f'.finding[data-finding-id="f{door.pk}"][data-state="accepted"]').wait_for()
    adj.locator("#finish-button").click()
    adj.locator("[data-case-reviewed]").wait_for()
    adj.screenshot(path="/tmp/contest-4-reviewed.png", full_page=True)

    cust.goto(f"{server_url}/cases/{case.public_id}/")
    cust.locator("#reviewed-report").wait_for()
    table = cust.locator("#report-table").inner_text()
    assert "This dent was there before the accident." in table
    assert "The photo shows fresh paint marks: the dent is new." in table
    assert cust.locator("#case-status").get_attribute("data-status") == "reviewed"
    cust.screenshot(path="/tmp/contest-5-customer-answer.png", full_page=True)

    contest = Contest.objects.get()
    assert (contest.answered_by, contest.finding_id) == (adjuster, door.pk)
    verbs = list(AuditEvent.objects.filter(case=case).order_by("pk").values_list("verb", flat=True))
    assert verbs == [
        "case.contested",
        "review.contest_answered",
        "review.accept",
        "review.case_reviewed",
    ]

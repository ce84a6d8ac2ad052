"""A customer files a claim in a real browser and watches it processed to a report."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from claims.models import Case
from inference.models import Finding
from tests.conftest import VEHICLE_PHOTO

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _login(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pass-word-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/cases/")


def test_customer_files_claim_and_sees_report(  # type: ignore[no-untyped-def]
    browser, live_server, customer, active_model, celery_worker_thread, tmp_path: Path
) -> None:
    photos = []
    for name in ("front-left.jpg", "close-up.jpg"):
        target = tmp_path / name
        shutil.copy(VEHICLE_PHOTO, target)
        photos.append(str(target))
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")

    page = browser.new_page()
    base = live_server.url
    _login(page, base, customer.username)
    page.click("text=File a claim")
    page.fill("input[name=policy_number]", "POL-77")
    page.fill("input[name=loss_date]", "2026-11-01")
    page.fill("input[name=loss_place]", "Car park, Elm street")
    page.fill("textarea[name=description]", "Reversed into a bollard")

    # A bad file: the error names it, the typed answers are kept, nothing is filed.
    page.set_input_files("#photos", [*photos, str(bad)])
    assert page.locator("#thumbs li").count() == 3
    page.click("#submit-claim")
    assert "notes.jpg: this is not an image we can read" in page.inner_text("#photo-errors")
    assert page.input_value("input[name=policy_number]") == "POL-77"
    assert Case.objects.count() == 0

    page.set_input_files("#photos", photos)
    page.click("#submit-claim")
    page.wait_for_url(f"{base}/cases/*/")
    case = Case.objects.get()
    assert page.locator("#photo-" + str(case.photos.first().pk)).count() == 1

    # The worker processes the photos; the page refreshes itself until the report shows.
    page.wait_for_selector("#report", timeout=120_000)
    case.refresh_from_db()
    assert case.status in (Case.Status.NEEDS_REVIEW, Case.Status.RELEASED)
    assert page.inner_text("#case-dsi") == f"{case.dsi:.1f}"
    assert page.locator("img[alt*='with parts and damage marked']").count() == 2
    findings = Finding.objects.filter(case=case)
    rows = {(f.part, f.damage) for f in findings}
    if rows:
        assert page.locator("#report-table tbody tr").count() == len(rows)
    else:
        assert page.locator("#no-damage").count() == 1

"""A customer files a claim in a real browser and watches it processed to a report."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from PIL import Image

from claims.models import Case, Photo
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
    browser, server_url, customer, shipped_model, celery_worker_thread, tmp_path: Path
) -> None:
    photos = []
    for name in ("front-left.jpg", "close-up.jpg"):
        target = tmp_path / name
        shutil.copy(VEHICLE_PHOTO, target)
        photos.append(str(target))
    wall = tmp_path / "wall.jpg"  # no vehicle in it: set aside with the reason
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (128, 128, 128)).save(buffer, "JPEG")
    wall.write_bytes(buffer.getvalue())
    photos.append(str(wall))
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")

    page = browser.new_page()
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))
    base = server_url
    _login(page, base, customer.username)
    page.click("text=File a claim")
    assert "A close-up of each damage" in page.inner_text(".guidance")
    page.fill("input[name=policy_number]", "POL-77")
    page.fill("input[name=loss_date]", "2026-11-01")
    page.fill("input[name=loss_place]", "Car park, Elm street")
    page.fill("textarea[name=description]", "Reversed into a bollard")

    # A bad file: the error names it, the typed answers are kept, nothing is filed.
    page.set_input_files("#photos", [*photos, str(bad)])
    assert page.locator("#thumbs li").count() == 4
    assert page.locator("#thumbs img").count() == 4  # thumbnails drawn in the browser
    page.click("#submit-claim")
    assert "notes.jpg: this is not an image we can read" in page.inner_text("#photo-errors")
    assert page.input_value("input[name=policy_number]") == "POL-77"
    assert page.input_value("textarea[name=description]") == "Reversed into a bollard"
    assert Case.objects.count() == 0

    page.set_input_files("#photos", photos)
    page.click("#submit-claim")
    page.wait_for_url(f"{base}/cases/*/")
    case = Case.objects.get()
    assert page.locator("#photo-" + str(case.photos.first().pk)).count() == 1

    # The worker processes the photos; the page refreshes itself until the report shows.
    page.wait_for_selector("#report", timeout=180_000)
    case.refresh_from_db()
    assert case.status == Case.Status.NEEDS_REVIEW  # a photo was set aside: a person looks
    assert page.inner_text("#case-dsi") == str(int(case.dsi + 0.5))
    assert page.locator("img[alt*='with parts and damage marked']").count() == 3
    set_aside = case.photos.get(original_name="wall.jpg")
    assert set_aside.status == Photo.Status.SET_ASIDE
    caption = page.inner_text(f"#photo-{set_aside.pk} .set-aside")
    assert caption.startswith("Set aside: no vehicle found")
    assert "Please add another photo" in caption
    assert page.locator("form.add-photo input[name=photo]").count() == 1
    findings = Finding.objects.filter(case=case)
    rows = {(f.part, f.damage) for f in findings}
    # The report states what the shipped model found, whatever that is on an undamaged bus.
    if rows:
        assert page.locator("#report-table tbody tr").count() == len(rows)
    else:
        assert "No damage was found" in page.inner_text("#no-damage")
    for photo in case.photos.filter(status=Photo.Status.DONE):
        caption = page.inner_text(f"#photo-{photo.pk} .caption")
        assert f"Severity {int(photo.dsi + 0.5)} of 100" in caption
    # The annotated image is served (session-checked) as a JPEG.
    response = page.request.get(
        f"{base}/cases/{case.public_id}/photos/{set_aside.pk}/annotated.jpg"
    )
    assert (response.status, response.body()[:2]) == (200, b"\xff\xd8")
    if settings.CLAIMS_LIVE_PUSH:  # Daphne and Redis: the worker pushed updates to the page
        assert any("case.updated" in str(frame) for frame in frames)

"""Uploads in a real browser: a photo over the size limit is refused before anything is
sent (the claim form, adding a photo, a contest's photo), and the drop zone opens the file
chooser from the keyboard with Enter as with Space."""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.urls import reverse

from claims.models import Case, Photo
from tests.e2e.conftest import page_open

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LIMIT = 1024 * 1024  # 1 MB for the test (25 MB by default)
BIG = {"name": "big.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8" + b"0" * (3 * LIMIT)}


def _posts(page: Any) -> list[str]:
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    return sent


def test_a_photo_over_the_limit_is_refused_before_sending(
    browser: Any, live_server: Any, customer: Any, settings: Any, site: dict[str, Any]
) -> None:
    settings.CLAIMS_MAX_PHOTO_BYTES = LIMIT
    cases_before = Case.objects.count()
    page = page_open(browser, live_server.url, customer, reverse("portal:case_create"))
    posts = _posts(page)
    page.fill("input[name=policy_number]", "POL-9")
    page.fill("input[name=loss_date]", "2026-11-01")
    page.fill("input[name=loss_place]", "Elm street")
    page.fill("textarea[name=description]", "Scraped")
    page.set_input_files("#photos", [BIG])
    assert "larger than the limit" in page.inner_text("#thumbs")
    page.click("#submit-claim")
    refused = page.locator("[data-upload-refused]")
    refused.wait_for()
    assert refused.inner_text() == (
        "big.jpg is 3.0 MB; a photo can be at most 1 MB. Nothing was sent: choose a "
        "smaller photo and send again."
    )
    assert refused.get_attribute("role") == "alert"
    page.wait_for_timeout(500)
    assert posts == []
    assert page.url.endswith(reverse("portal:case_create"))
    assert page.input_value("input[name=policy_number]") == "POL-9"  # nothing lost
    assert Case.objects.count() == cases_before
    if os.environ.get("UPLOAD_SCREENSHOTS"):
        page.screenshot(path=f"{os.environ['UPLOAD_SCREENSHOTS']}/refused.png", full_page=True)
    page.context.close()

    # The case page: adding a photo, and a contest with a photo.
    case = site["waiting"]
    photos_before = Photo.objects.filter(case=case).count()
    page = page_open(
        browser, live_server.url, customer, reverse("portal:case_detail", args=[case.public_id])
    )
    posts = _posts(page)
    page.set_input_files("form.add-photo input[type=file]", [BIG])
    page.click("form.add-photo button")
    page.locator("form.add-photo [data-upload-refused]").wait_for()
    page.locator("#contest-missed summary").click()
    page.fill("#contest-reason-missed", "The mirror is broken too")
    page.set_input_files("#contest-missed input[type=file]", [BIG])
    page.click("#contest-missed button")
    page.locator("#contest-missed [data-upload-refused]").wait_for()
    page.wait_for_timeout(500)
    assert posts == []
    assert Photo.objects.filter(case=case).count() == photos_before
    assert not case.contests.exists()
    page.context.close()


@pytest.mark.parametrize("key", ["Enter", " "])
@pytest.mark.parametrize("target", ["#dropzone", "#photos"])
def test_enter_and_space_open_the_file_chooser(
    browser: Any, live_server: Any, customer: Any, key: str, target: str
) -> None:
    page = page_open(browser, live_server.url, customer, reverse("portal:case_create"))
    # Listening from before the page loads: Playwright intercepts choosers only once it
    # listens, and asking for the first one just before the key press races with that.
    choosers: list[Any] = []
    page.on("filechooser", lambda chooser: choosers.append(chooser))
    page.reload()
    page.wait_for_load_state("networkidle")
    page.evaluate(
        """() => { window.clicks = 0;
                   document.getElementById("photos").addEventListener("click", () => clicks++); }"""
    )
    page.focus(target)
    scrolled = page.evaluate("window.scrollY")
    page.keyboard.press(key)
    for _ in range(30):
        if choosers:
            break
        page.wait_for_timeout(100)
    page.wait_for_timeout(500)  # time for a second one, which there must not be
    assert [c.element.get_attribute("id") for c in choosers] == ["photos"]
    assert page.evaluate("window.clicks") == 1  # one chooser asked for, not two
    assert page.evaluate("window.scrollY") == scrolled  # Space did not scroll the page
    assert page.url.endswith(reverse("portal:case_create"))  # Enter did not send the form
    page.context.close()

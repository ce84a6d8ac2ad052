"""A form sent twice in a real browser (Back, then Send again) files one claim, and the
person sees the claim they already filed."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from PIL import Image

from claims.models import Case
from tests import factories
from tests.e2e.conftest import page_open

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_back_then_send_again_files_one_claim(
    browser: Any, live_server: Any, customer: Any, tmp_path: Path
) -> None:
    factories.model_version_create(status="active")
    photo = tmp_path / "front.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (120, 30, 30)).save(buffer, "JPEG")
    photo.write_bytes(buffer.getvalue())
    page = page_open(browser, live_server.url, customer, reverse("portal:case_create"))
    page.fill("input[name=policy_number]", "DUP-7")
    page.fill("input[name=loss_date]", "2026-11-01")
    page.fill("input[name=loss_place]", "Elm street")
    page.fill("textarea[name=description]", "Reversed into a bollard")
    page.set_input_files("#photos", [str(photo)])
    sent_key = page.input_value("input[name=submission_key]")
    page.click("#submit-claim")
    page.wait_for_url(f"{live_server.url}/cases/*-*/")
    case = Case.objects.get()
    first = page.url
    assert "filed. We are looking at your photos." in page.inner_text("ul.messages")

    page.go_back()
    page.locator("#claim-form").wait_for()
    assert page.input_value("input[name=policy_number]") == "DUP-7"
    # Chromium loads the form again from the server (a new key in its HTML) and puts back
    # the fields, the files and the key that was sent.
    assert page.evaluate("performance.getEntriesByType('navigation')[0].type") == "back_forward"
    assert page.input_value("input[name=submission_key]") == sent_key
    if not page.evaluate("document.getElementById('photos').files.length"):
        page.set_input_files("#photos", [str(photo)])  # a browser that forgets files
    page.click("#submit-claim")
    page.wait_for_url(first)

    assert Case.objects.count() == 1
    assert page.url == f"{live_server.url}{reverse('portal:case_detail', args=[case.public_id])}"
    assert page.inner_text("ul.messages") == (
        f"You sent this claim already: it is claim {case.reference}, below. "
        "Nothing was filed twice."
    )
    assert page.inner_text("h1") == f"Claim {case.reference}"
    page.context.close()


def test_reloading_or_resending_the_api_token_form_creates_one_token(
    browser: Any, live_server: Any, customer: Any
) -> None:
    from claims.models import ApiToken

    page = page_open(browser, live_server.url, customer, reverse("api_tokens"))
    page.fill("#token-name", "fleet sync")
    page.click("text=Create token")
    page.locator("#new-token").wait_for()
    secret = page.input_value("#token-secret")
    assert secret.startswith("dcr_")
    page.reload()  # a GET after the redirect: nothing is sent again
    assert page.locator("#new-token").count() == 0
    assert ApiToken.objects.count() == 1
    page.go_back()  # the form before it was sent; Create again
    page.locator("#token-name").wait_for()
    page.click("text=Create token")
    page.locator("ul.messages", has_text="You created this token already").wait_for()
    assert ApiToken.objects.count() == 1
    page.context.close()

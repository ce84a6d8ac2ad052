"""Chromium through Playwright: claim, paint, reject, accept; the customer sees the result."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from claims.roles import ADJUSTERS_GROUP
from review import seed
from review.models import MaskEdit, ReviewDecision
from tests.conftest import CHROMIUM, UserFactory, chromium_available

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def chromium() -> Iterator[Any]:
    if not chromium_available():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium to run browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


def _shot(page: Any, name: str) -> None:
    """Screenshots for people checking the UI: REVIEW_SCREENSHOTS=/some/dir."""
    target = os.environ.get("REVIEW_SCREENSHOTS")
    if target:
        page.screenshot(path=f"{target}/{name}.png", full_page=True)


def _page_as(browser: Any, base: str, user: Any) -> Any:
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}]
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    return page


def test_adjuster_clears_a_case_with_the_keyboard_and_brush(
    chromium, live_server, customer, adjuster, settings
) -> None:
    settings.REVIEW_EXPORT_ROOT = "/tmp/unused"
    second = UserFactory(username="erin")
    second.groups.add(Group.objects.get(name=ADJUSTERS_GROUP))
    version = seed.model_version_create(threshold=0.6)
    case = seed.case_create(
        customer=customer,
        version=version,
        findings=[
            ("deformity", "door_shell", 0.2),
            ("surface_damage", "bumper", 0.3),
            ("body_damage", "hood", 0.5),
            ("deformity", "trunk", 0.9),
        ],
        photo_size=(640, 480),
        grid=(320, 240),
    )
    base = live_server.url
    ids = {d: f.pk for d, f in ((f.part, f) for f in case.findings.all())}

    # A customer cannot reach the queue.
    cust = _page_as(chromium, base, customer)
    response = cust.goto(f"{base}/review/")
    assert response.status == 403
    cust.goto(f"{base}/cases/{case.public_id}/")
    assert cust.locator("#reviewed-report").count() == 0

    # The adjuster claims the next case with "n" and sees the shortcuts on screen.
    adj = _page_as(chromium, base, adjuster)
    adj.goto(f"{base}/review/")
    adj.keyboard.press("n")
    adj.wait_for_url(re.compile(rf".*/review/cases/{case.public_id}/$"))
    adj.keyboard.press("?")
    help_text = adj.locator("#help-overlay").inner_text()
    for words in (
        "accept the selected finding",
        "reject the selected finding",
        "edit the selected finding",
        "next: the next undecided finding",
        "show or hide this help",
    ):
        assert words in help_text
    adj.keyboard.press("Escape")
    assert adj.locator("#help-overlay").is_hidden()

    # Meanwhile a second adjuster cannot claim it.
    other = _page_as(chromium, base, second)
    other.goto(f"{base}/review/")
    assert "held by charlie" in other.locator("#queue-table").inner_text()
    other.locator(".queue-row button").first.click()
    assert "charlie is reviewing this case" in other.locator("ul.messages").inner_text()
    other.goto(f"{base}/review/cases/{case.public_id}/")
    assert "you can look but not decide" in other.locator("#lease-state").inner_text()

    # Lowest confidence first: door_shell is selected; e opens the editor, the brush paints.
    assert (
        adj.locator(".finding.selected").get_attribute("data-finding-id") == f"f{ids['door_shell']}"
    )
    adj.keyboard.press("e")
    canvas = adj.locator("#edit-layer")
    canvas.wait_for(state="visible")
    box = canvas.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5
    adj.mouse.move(x, y)
    adj.mouse.down()
    for step in range(1, 11):
        adj.mouse.move(x + step * 8, y + step * 3)
    adj.mouse.up()
    assert adj.evaluate("reviewApp.editor.ops.length") == 1
    _shot(adj, "1-editor")
    adj.keyboard.press("Enter")
    adj.locator(f'[data-finding-id="f{ids["door_shell"]}"][data-state="edited"]').wait_for()
    # Then reject the next one and accept the last.
    assert adj.locator(".finding.selected").get_attribute("data-finding-id") == f"f{ids['bumper']}"
    adj.keyboard.press("r")
    adj.locator(f'[data-finding-id="f{ids["bumper"]}"][data-state="rejected"]').wait_for()
    adj.keyboard.press("a")
    adj.locator(f'[data-finding-id="f{ids["hood"]}"][data-state="accepted"]').wait_for()
    adj.locator("[data-case-reviewed]").wait_for()
    _shot(adj, "2-reviewed")

    edit = MaskEdit.objects.get()
    assert (edit.width, edit.height) == (640, 480)  # stored at the photo's full size
    assert edit.area_px > 500
    assert list(ReviewDecision.objects.order_by("pk").values_list("action", flat=True)) == [
        "edit",
        "reject",
        "accept",
    ]

    # The customer's open page picks up the reviewed report without a reload.
    cust.locator("#reviewed-report").wait_for(timeout=20000)
    text = cust.locator("#reviewed-report").inner_text()
    assert "door_shell" in text
    assert "hood" in text
    assert "trunk" in text
    assert "bumper" not in text
    _shot(cust, "3-customer")

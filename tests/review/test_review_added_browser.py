"""The review screen in a real browser, as an adjuster corrects a damage they added: drawn,
re-typed, moved to another part and removed (also after reopening), numbered on the photo
as in the list, in plain words with the raw figures a click away; and the screen no longer
says the case is held once the review is finished.

REVIEW_SCREENSHOTS=/some/dir saves screenshots."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

from claims.models import AuditEvent
from review.models import ReviewDecision
from tests import factories
from tests.conftest import page_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _shot(page: Any, name: str) -> None:
    target = os.environ.get("REVIEW_SCREENSHOTS")
    if target:
        page.screenshot(path=f"{target}/added-{name}.png", full_page=True)


def _paint(page: Any, fx: float, fy: float) -> None:
    """A short brush stroke on the editor's canvas, from (fx, fy) as fractions of it."""
    canvas = page.locator("#edit-layer")
    canvas.wait_for(state="visible")
    box = canvas.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] * fx, box["y"] + box["height"] * fy
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 8):
        page.mouse.move(x + step * 6, y + step * 2)
    page.mouse.up()


def _row(page: Any, key: str) -> Any:
    return page.locator(f'.finding[data-finding-id="{key}"]')


def test_an_added_damage_is_corrected_and_removed_on_the_review_screen(
    browser: Any, live_server: Any, customer: Any, adjuster: Any
) -> None:
    version = factories.model_version_create(threshold=0.6)
    case = factories.case_create(
        customer=customer,
        version=version,
        findings=[("deformity", "door_shell", 0.2), ("surface_damage", "bumper", 0.3)],
        photo_size=(640, 480),
        grid=(320, 240),
    )
    page = page_as(browser, live_server.url, adjuster)
    page.goto(f"{live_server.url}/review/cases/{case.public_id}/")
    page.click("#claim-button")
    page.locator("[data-mine]").wait_for()

    # Plain words, figures explained on hover, the raw values one click away.
    door = page.locator(".finding", has_text="Door: dent or deformation")
    assert door.locator(".what").inner_text() == "1. Door: dent or deformation (photo 1)"
    sure = door.locator(".figure").first
    assert sure.inner_text() == "sure 20%"
    assert "a person decides" in (sure.get_attribute("title") or "")
    raw = door.locator("details.raw-values")
    assert not raw.locator("code").is_visible()
    raw.locator("summary").click()
    assert raw.locator("code").inner_text() == "deformity on door_shell"
    assert "K_agree 1.000" in raw.inner_text()

    # Reject the bumper (the model's 2): the numbers on the photo stay the rows' numbers.
    page.locator(".finding", has_text="Bumper").locator("[data-action=reject]").click()
    page.locator('.finding[data-state="rejected"]').wait_for()

    # Add a missed damage: numbered 3 on the photo and in the list.
    page.click("#add-damage")
    _paint(page, 0.55, 0.6)
    page.select_option("#editor-damage", "body_damage")
    page.select_option("#editor-part", "hood")
    page.click("#editor-save")
    added = page.locator('.finding[data-state="added"]')
    added.wait_for()
    key = added.get_attribute("data-finding-id")
    assert (
        added.locator(".what").inner_text() == "3. Bonnet: broken or missing part (photo 1, added)"
    )
    # Decided rows by number, as on the photo: 1 (door, still to decide, first), 2, 3.
    page.wait_for_function("document.getElementById('damage-layer').dataset.numbers === '1 2 3'")
    rows = page.locator(".finding[data-number]")
    assert sorted(rows.nth(i).get_attribute("data-number") for i in range(rows.count())) == [
        "1",
        "2",
        "3",
    ]
    _shot(page, "1-added")

    # Re-typed and moved to another part, redrawn: the same row, the new words.
    added.locator("[data-action=edit]").click()
    page.locator("#editor-toolbar").wait_for()
    assert page.input_value("#editor-damage") == "body_damage"
    assert page.input_value("#editor-part") == "hood"
    _paint(page, 0.2, 0.2)
    page.select_option("#editor-damage", "surface_damage")
    page.select_option("#editor-part", "trunk")
    page.click("#editor-save")
    _row(page, key).filter(has_text="Boot lid").wait_for()
    assert _row(page, key).locator(".what").inner_text() == (
        "3. Boot lid: scratch or paint damage (photo 1, added)"
    )
    page.locator(".finding", has_text="Door").locator("[data-action=accept]").click()
    page.locator("[data-ready-to-finish]").wait_for()
    page.click("#finish-button")
    page.locator("[data-case-reviewed]").wait_for()
    # Finished: the screen no longer says the adjuster holds the case.
    assert page.locator("#lease-state").count() == 0
    assert "You hold this case" not in page.inner_text("#findings-panel")
    _shot(page, "2-finished")

    # Reopened, the added damage is removed with the r key; the audit trail keeps it all.
    page.fill("#reopen-reason", "the boot was damaged before")
    page.click("#reopen-button")
    page.locator("[data-mine]").wait_for()
    _row(page, key).click()
    page.keyboard.press("r")
    _row(page, key).wait_for(state="detached")
    assert page.locator('.finding[data-state="added"]').count() == 0
    assert re.search(r"Removed 3\. Boot lid", page.inner_text("#review-status"))
    _shot(page, "3-removed")
    actions = list(
        ReviewDecision.objects.filter(finding__isnull=True)
        .order_by("pk")
        .values_list("action", "current", "round")
    )
    assert actions == [("add", False, 1), ("add", False, 1), ("remove", True, 2)]
    assert list(
        AuditEvent.objects.filter(case=case, verb__in=["review.add", "review.remove"])
        .order_by("pk")
        .values_list("verb", flat=True)
    ) == ["review.add", "review.add", "review.remove"]
    page.context.close()

"""axe-core in Chromium on the real pages: no serious or critical accessibility violation.

axe-core (static/vendor/axe-core, MPL-2.0) is injected into each page after it has loaded
and settled; its "serious" and "critical" findings fail the test, with the rule, the help
text and the elements it names. A11Y_SCREENSHOTS=/some/dir also saves screenshots.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parents[2] / "static" / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
FOCUS_RING = "rgb(26, 79, 160)"  # --focus-ring in static/css/app.css


def _shot(page: Any, name: str) -> None:
    target = os.environ.get("A11Y_SCREENSHOTS")
    if target:
        page.screenshot(path=f"{target}/a11y-{name}.png")


def _axe(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (WCAG 2.x A/AA and best practices)."""
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return list(result["violations"])


def _describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"  {v['impact']} {v['id']}: {v['help']} "
        f"({len(v['nodes'])}x, e.g. {v['nodes'][0]['target']}: {v['nodes'][0]['failureSummary']})"
        for v in violations
    )


@pytest.fixture
def open_as(browser: Any, live_server: Any) -> Callable[[Any, str], Any]:
    """A page at `path`, logged in as `user` (None: anonymous), with its title and icon."""

    def open_page(user: Any, path: str) -> Any:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        if user is not None:
            client = Client()
            client.force_login(user)
            context.add_cookies(
                [
                    {
                        "name": "sessionid",
                        "value": client.cookies["sessionid"].value,
                        "url": live_server.url,
                    }
                ]
            )
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        return page

    return open_page


@pytest.fixture
def reviewed_scene(customer: Any) -> dict[str, Any]:
    """A processed case with findings and a set-aside photo, its photo drawn annotated, and
    one case in each other status for the badges of the case list."""
    version = factories.model_version_create(threshold=0.6, status="active")
    case = factories.case_create(
        customer=customer,
        version=version,
        findings=[
            ("deformity", "door_shell", 0.3),
            ("surface_damage", "bumper", 0.5),
            ("body_damage", "hood", 0.9),
        ],
        photo_size=(640, 480),
        grid=(320, 240),
        set_aside=1,
    )
    photo = case.photos.get(position=0)
    image = factories.jpeg_bytes(640, 480, (150, 60, 60))
    photo.thumbnail.save("t0.jpg", ContentFile(image), save=False)
    photo.annotated.save("a0.jpg", ContentFile(image), save=False)
    photo.save()
    for status in ("released", "reviewed", "needs_photos", "processing"):
        factories.case_create(customer=customer, version=version, findings=[], status=status)
    return {"version": version, "case": case, "photo": photo}


def test_pages_have_no_serious_accessibility_violations(
    open_as: Callable[[Any, str], Any],
    customer: Any,
    adjuster: Any,
    admin_user: Any,
    reviewed_scene: dict[str, Any],
) -> None:
    case, photo, version = (reviewed_scene[k] for k in ("case", "photo", "version"))
    pages = [
        ("login", None, reverse("login")),
        ("signup", None, reverse("signup")),
        ("claim-form", customer, reverse("portal:case_create")),
        ("case-list", customer, reverse("portal:case_list")),
        ("case", customer, reverse("portal:case_detail", args=[case.public_id])),
        ("not-found", customer, reverse("portal:case_detail", args=[uuid.uuid4()])),
        ("queue", adjuster, reverse("review:queue")),
        ("review", adjuster, reverse("review:case", args=[case.public_id])),
        ("model-versions", admin_user, reverse("learning:model_versions")),
        ("model-version", admin_user, reverse("learning:model_version", args=[version.pk])),
    ]
    blocking: dict[str, str] = {}
    seen: dict[str, int] = {}
    for name, user, path in pages:
        page = open_as(user, path)
        if name == "case":
            # The owner's photo comes through the permission-checked view, DEBUG off.
            img = page.locator(f"#photo-{photo.pk} img")
            assert img.evaluate("el => el.complete && el.naturalWidth") == 640
        if name == "review":
            page.click("#claim-button")  # the adjuster's own view: decision buttons shown
            page.locator("[data-mine]").wait_for()
            page.locator(".finding .actions").first.wait_for()
            page.wait_for_load_state("networkidle")
        title = page.title()
        assert title.endswith(" · Damage claims"), (name, title)
        assert len(title) > len(" · Damage claims"), (name, title)
        assert page.locator('link[rel="icon"]').get_attribute("href") == "/static/favicon.svg"
        violations = _axe(page)
        for v in violations:
            seen[f"{v['impact']} {v['id']}"] = seen.get(f"{v['impact']} {v['id']}", 0) + len(
                v["nodes"]
            )
        serious = [v for v in violations if v["impact"] in BLOCKING]
        if serious:
            blocking[name] = _describe(serious)
        _shot(page, name)
        page.context.close()
    print("axe violations (impact rule: elements):", seen or "none")
    assert not blocking, "\n".join(f"{name}:\n{text}" for name, text in blocking.items())


def test_focus_is_visible_and_the_icon_is_served(
    open_as: Callable[[Any, str], Any], customer: Any, live_server: Any
) -> None:
    page = open_as(None, reverse("login"))
    assert page.evaluate("document.activeElement.name") == "username"  # autofocus
    page.fill("input[name=username]", "alice")
    page.keyboard.press("Tab")
    focused = page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
                   return [document.activeElement.name, s.outlineStyle, s.outlineWidth,
                           s.outlineColor]; }"""
    )
    assert focused == ["password", "solid", "3px", FOCUS_RING]
    _shot(page, "login-focus")
    icon = page.request.get(f"{live_server.url}/static/favicon.svg")
    assert icon.status == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    page.context.close()

    # The first Tab on a page shows the skip link, which moves focus to the content.
    page = open_as(customer, reverse("portal:case_list"))
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    box = skip.bounding_box()
    assert box is not None
    assert box["y"] >= 0
    assert skip.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"
    _shot(page, "skip-link")
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
    page.context.close()

"""axe-core in Chromium on the real pages: no accessibility violation of any impact.

axe-core (static/vendor/axe-core, MPL-2.0) is injected into each page after it has loaded
and settled; any finding fails the test, with the rule, the help text and the elements it
names. The pages are those of the scene in tests/e2e/conftest.py (`site_pages`: every page
the customer, the adjuster, the admin and a visitor reach). A11Y_SCREENSHOTS=/some/dir also
saves screenshots.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from tests.e2e.conftest import page_open

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parents[2] / "static" / "vendor" / "axe-core" / "axe.min.js"
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
    """A page at `path`, logged in as `user` (None: anonymous), loaded and settled."""

    def open_page(user: Any, path: str) -> Any:
        return page_open(browser, live_server.url, user, path)

    return open_page


@pytest.mark.slow
def test_pages_have_no_accessibility_violations(
    browser: Any, live_server: Any, site: dict[str, Any], site_pages: list[tuple[str, Any, str]]
) -> None:
    """Every page of the scene at desktop and at phone width, and the review screen with its
    mask editor open and the brush chosen: no axe violation, whatever its impact."""
    photo = site["waiting"].photos.get(position=0)
    found: dict[str, str] = {}

    def check(page: Any, label: str) -> None:
        violations = _axe(page)
        if violations:
            found[label] = _describe(violations)
        _shot(page, label)

    for name, user, path in site_pages:
        for width, height in ((1280, 900), (360, 800)):
            page = page_open(browser, live_server.url, user, path, width=width, height=height)
            title = page.title()
            assert title.endswith(" · Damage claims"), (name, title)
            assert len(title) > len(" · Damage claims"), (name, title)
            assert page.locator('link[rel="icon"]').get_attribute("href") == "/static/favicon.svg"
            check(page, f"{name}-{width}")
            if name == "case" and width == 1280:
                # The owner's photo comes through the permission-checked view, DEBUG off.
                img = page.locator(f"#photo-{photo.pk} img")
                assert img.evaluate("el => el.complete && el.naturalWidth") == 640
            if name == "review" and width == 1280:
                page.locator(".finding[data-state=pending] [data-action=edit]").first.click()
                page.locator("#editor-toolbar").wait_for()
                page.click("[data-tool=brush]")
                check(page, "review-editing")
            page.context.close()
    assert not found, "\n".join(f"{name}:\n{text}" for name, text in found.items())


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

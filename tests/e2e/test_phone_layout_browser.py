"""Every page on a phone 360 px wide: nothing wider than the window (no sideways scrolling),
the header's links all inside it and clear of the brand, the long place name wrapped.

PHONE_SCREENSHOTS=/some/dir saves a full-page screenshot of each page."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.e2e.conftest import LONG_PLACE, page_open

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTH, HEIGHT = 360, 800

# The elements whose right edge passes the window's, innermost first (for the message).
OVERFLOWING = """() => {
  const width = window.innerWidth;
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.width && box.right > width + 0.5 && !el.closest(".visually-hidden, .skip-link")) {
      out.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : ""} right=${Math.round(box.right)}`);
    }
  }
  return out.slice(-6);
}"""

HEADER = """() => {
  const brand = document.querySelector(".topbar .brand").getBoundingClientRect();
  const links = [...document.querySelectorAll(".topbar nav a, .topbar nav button, .topbar nav .who")]
    .map((el) => el.getBoundingClientRect());
  const clear = links.every((b) => b.left >= brand.right + 8 || b.top >= brand.bottom + 2);
  const inside = links.every((b) => b.left >= 0 && b.right <= window.innerWidth);
  return {clear, inside};
}"""


@pytest.mark.slow
def test_every_page_fits_a_phone_360_px_wide(
    browser: Any, live_server: Any, site_pages: list[tuple[str, Any, str]]
) -> None:
    shots = os.environ.get("PHONE_SCREENSHOTS")
    too_wide: dict[str, str] = {}
    header: dict[str, dict[str, bool]] = {}
    for name, user, path in site_pages:
        page = page_open(browser, live_server.url, user, path, width=WIDTH, height=HEIGHT)
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert inner == WIDTH
        if scroll > inner:
            too_wide[name] = f"{scroll} px: {page.evaluate(OVERFLOWING)}"
        where = page.evaluate(HEADER)
        if where != {"clear": True, "inside": True}:
            header[name] = where
        if name == "case":
            place = page.locator("p.meta", has_text=LONG_PLACE)
            box = place.bounding_box()
            assert box is not None
            assert box["x"] + box["width"] <= WIDTH
            assert box["height"] > 40  # wrapped over several lines
        if shots:
            page.screenshot(path=f"{shots}/phone-{name}.png", full_page=True)
        page.context.close()
    assert not too_wide, "wider than 360 px:\n" + "\n".join(
        f"  {name}: {text}" for name, text in too_wide.items()
    )
    assert not header, f"header links overlapping the brand or outside the window: {header}"

"""The customer's report in a real browser, before and after review, and its PDF.

REPORT_SCREENSHOTS=/tmp keeps screenshots of the page and the rendered PDF pages
(report-*.png) for people checking that they read well."""

from __future__ import annotations

import os
from typing import Any

import pypdfium2 as pdfium
import pytest

from portal import customer_report
from tests.conftest import claim_processed, page_as
from tests.portal.test_customer_report import _review, build_case, pdf_pages_text

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _shots() -> str:
    return os.environ.get("REPORT_SCREENSHOTS", "")


def _rows(page: Any) -> list[str]:
    return [
        " ".join(t.split()) for t in page.locator("#report-table .row-sentence").all_inner_texts()
    ]


def _check_thumbnails(page: Any, base: str) -> None:
    thumbs = page.locator("#report-table .row-photos img")
    assert thumbs.count() >= 1
    for i in range(thumbs.count()):
        assert thumbs.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
    for href in page.locator("#report-table .row-photos a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    ):
        response = page.request.get(f"{base}{href}")
        assert (response.status, response.body()[:2]) == (200, b"\xff\xd8")


def test_customer_reads_the_report_before_and_after_review(
    browser, server_url, customer, adjuster
) -> None:
    case = build_case(customer)
    page = page_as(browser, server_url, customer)
    page.goto(f"{server_url}/cases/{case.public_id}/")
    before = customer_report.case_customer_report(case=case)
    assert _rows(page) == [r.sentence for r in before.rows]
    badges = page.locator("#report-table .badge.confidence").all_inner_texts()
    assert badges == ["high", "high", "to be checked"]
    assert page.inner_text("#case-dsi") == str(before.dsi_number)
    assert page.locator("#reviewed-report").count() == 0
    _check_thumbnails(page, server_url)
    if _shots():
        page.screenshot(path=f"{_shots()}/report-page-before-review.png", full_page=True)

    _review(case, adjuster)
    case.refresh_from_db()
    page.reload()
    page.locator("#reviewed-report").wait_for()
    after = customer_report.case_customer_report(case=case)
    assert _rows(page) == [r.sentence for r in after.rows]
    assert page.locator("#report-table .badge.changed").all_inner_texts() == [
        "added by the adjuster",
        "changed by the adjuster",
    ]
    assert page.inner_text("#case-dsi") == str(after.dsi_number)
    assert "Bonnet" not in page.inner_text("#report")
    _check_thumbnails(page, server_url)
    if _shots():
        page.screenshot(path=f"{_shots()}/report-page-after-review.png", full_page=True)

    # The PDF the page links to says the same, row for row.
    href = page.get_attribute("#report a.button", "href")
    response = page.request.get(f"{server_url}{href}")
    assert response.headers["content-type"] == "application/pdf"
    data = response.body()
    text = " ".join(pdf_pages_text(data))
    for sentence in _rows(page):
        assert sentence in text
    assert " ".join(page.inner_text("#photo-dsi").split()) in text
    doc = pdfium.PdfDocument(data)
    try:
        assert len(doc) >= 2
        for index, pdf_page in enumerate(doc):
            image = pdf_page.render(scale=1.5).to_pil()
            if _shots():
                image.save(f"{_shots()}/report-pdf-page-{index + 1}.png")
    finally:
        doc.close()


def test_a_processed_claim_reads_plainly_in_the_browser(
    browser, server_url, customer, active_model, vehicle_jpeg
) -> None:
    case = claim_processed(customer, vehicle_jpeg)
    page = page_as(browser, server_url, customer)
    page.goto(f"{server_url}/cases/{case.public_id}/")
    report = customer_report.case_customer_report(case=case)
    assert _rows(page) == [r.sentence for r in report.rows]
    text = page.inner_text("main")
    for word in ("_", "%", "DSI", "probability", "C_refined", "K_agree"):
        assert word not in text, word
    _check_thumbnails(page, server_url)
    if _shots():
        page.screenshot(path=f"{_shots()}/report-page-processed-claim.png", full_page=True)
        response = page.request.get(f"{server_url}/cases/{case.public_id}/report.pdf")
        doc = pdfium.PdfDocument(response.body())
        try:
            for index, pdf_page in enumerate(doc):
                pdf_page.render(scale=1.5).to_pil().save(
                    f"{_shots()}/report-pdf-processed-claim-page-{index + 1}.png"
                )
        finally:
            doc.close()


def test_hovering_or_focusing_a_row_highlights_its_damage_on_the_photo(
    browser, server_url, customer, active_model, vehicle_jpeg
) -> None:
    case = claim_processed(customer, vehicle_jpeg)
    report = customer_report.case_customer_report(case=case)
    assert report.rows
    page = page_as(browser, server_url, customer)
    page.goto(f"{server_url}/cases/{case.public_id}/")
    rows = page.locator("#report-table tbody tr")
    assert rows.count() == len(report.rows)
    index, row = max(enumerate(report.rows), key=lambda item: len(item[1].regions))
    (photo,) = [p.photo for p in report.photos if p.number == row.regions[0]["photo"]]
    img = page.locator(f"#photo-{photo.pk} img")
    # Laid out and decoded; a live update of the page may replace the photo just then (its
    # box is None for a moment), so it is measured again until it is there.
    shown = None
    for _ in range(20):
        img.wait_for(state="visible")
        img.evaluate("img => img.decode()")
        shown = img.bounding_box()
        if shown is not None:
            break
        page.wait_for_timeout(100)
    assert shown is not None
    # The photo part of the annotated image: the legend strip lies under it.
    photo_height = shown["width"] * photo.height / photo.width
    assert shown["height"] > photo_height + 10

    def check(show: Any) -> None:
        """`show()` highlights the row; a live update of the page (the WebSocket re-renders
        the case body when the worker reports) may replace the row and the photo meanwhile,
        so the highlight is asked for again when its elements went away under the test."""
        for attempt in range(3):
            show()
            try:
                measure()
                return
            except TypeError:  # bounding_box() of an element that was just replaced
                if attempt == 2:
                    raise

    def measure() -> None:
        marks = page.locator(f"#photo-{photo.pk} .report-highlight-region")
        marks.first.wait_for(state="visible")
        shown = img.bounding_box()  # after the hover or focus scrolled the row into view
        regions = [r for r in row.regions if r["photo"] == row.regions[0]["photo"]]
        assert marks.count() == len(regions)
        assert page.locator(".report-highlight-region").count() == len(row.regions)
        for i, region in enumerate(regions):
            x0, y0, x1, y1 = region["box"]
            box = marks.nth(i).bounding_box()
            expected = {
                "x": shown["x"] + x0 * shown["width"],
                "y": shown["y"] + y0 * photo_height,
                "width": (x1 - x0) * shown["width"],
                "height": (y1 - y0) * photo_height,
            }
            for key, value in expected.items():
                assert abs(box[key] - value) <= 2, (key, box, expected)
            assert marks.nth(i).get_attribute("data-number") == str(region["number"])

    check(lambda: rows.nth(index).hover())
    page.mouse.move(1, 1)
    page.locator(".report-highlight").first.wait_for(state="detached")
    # The keyboard reaches the rows too (tabindex="0"), and focus highlights the same way.
    assert rows.nth(index).get_attribute("tabindex") == "0"
    check(lambda: rows.nth(index).focus())
    if _shots():
        # Focused, not hovered: scrolling to take the picture moves the row from the pointer.
        page.locator(f"#photo-{photo.pk}").screenshot(path=f"{_shots()}/report-highlight.png")
        with (
            photo.annotated.open("rb") as fh,
            open(f"{_shots()}/annotated-processed-claim.jpg", "wb") as out,
        ):
            out.write(fh.read())
    page.locator("#report a.button").focus()
    page.locator(".report-highlight").first.wait_for(state="detached")

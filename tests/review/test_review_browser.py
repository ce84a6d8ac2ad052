"""One capability's tests, sharing its fixtures: each test is one whole review journey in Chromium
on the shared live server, browser and case factories, so each is long.

Chromium through Playwright: claim, paint, reject, accept; the customer sees the result."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db.models import Count

from claims.models import Case
from common.access import ADJUSTERS_GROUP
from inference.models import Finding
from review import rle as rle_codec
from review import services
from review.models import MaskEdit, ReviewDecision, ReviewedReport
from review.selectors import QueueFilters, queue_cases
from tests import factories
from tests.conftest import UserFactory, claim_processed, page_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _shot(page: Any, name: str) -> None:
    """Screenshots for people checking the UI: REVIEW_SCREENSHOTS=/some/dir."""
    target = os.environ.get("REVIEW_SCREENSHOTS")
    if target:
        page.screenshot(path=f"{target}/{name}.png", full_page=True)


@pytest.mark.slow
def test_adjuster_clears_a_case_with_the_keyboard_and_brush(
    browser, live_server, customer, adjuster, settings
) -> None:
    settings.REVIEW_EXPORT_ROOT = "/tmp/unused"
    second = UserFactory(username="erin")
    second.groups.add(Group.objects.get(name=ADJUSTERS_GROUP))
    version = factories.model_version_create(threshold=0.6)
    case = factories.case_create(
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
    cust = page_as(browser, base, customer)
    response = cust.goto(f"{base}/review/")
    assert response.status == 403
    cust.goto(f"{base}/cases/{case.public_id}/")
    assert cust.locator("#reviewed-report").count() == 0

    # The adjuster claims the next case with "n" and sees the shortcuts on screen.
    adj = page_as(browser, base, adjuster)
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
    other = page_as(browser, base, second)
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
    adj.locator("[data-ready-to-finish]").wait_for()
    assert "Press f to finish the review" in adj.locator("#review-status").inner_text()
    # A mis-click is corrected before finishing: the hood stays selected; r, then a again.
    adj.keyboard.press("r")
    adj.locator(f'[data-finding-id="f{ids["hood"]}"][data-state="rejected"]').wait_for()
    adj.keyboard.press("a")
    adj.locator(f'[data-finding-id="f{ids["hood"]}"][data-state="accepted"]').wait_for()
    _shot(adj, "2-ready-to-finish")
    adj.keyboard.press("f")
    adj.locator("[data-case-reviewed]").wait_for()
    assert adj.locator(".finding [data-action]").count() == 0  # read-only
    _shot(adj, "2-reviewed")

    edit = MaskEdit.objects.get()
    assert (edit.width, edit.height) == (640, 480)  # stored at the photo's full size
    assert edit.area_px > 500
    assert list(ReviewDecision.objects.order_by("pk").values_list("action", "current")) == [
        ("edit", True),
        ("reject", True),
        ("accept", False),
        ("reject", False),
        ("accept", True),
    ]

    # The customer's open page picks up the reviewed report without a reload.
    cust.locator("#reviewed-report").wait_for(timeout=20000)
    text = cust.locator("#reviewed-report").inner_text()
    assert "Door: " in text
    assert "Bonnet: " in text
    assert "Boot lid: " in text
    assert "Bumper" not in text
    _shot(cust, "3-customer")


# A queue of real claims, cleared with the keyboard alone -------------------------------


def _decide_with_key(page: Any, key: str) -> str:
    """Press `key` on the selected finding and wait until the server's answer shows."""
    selected = page.locator(".finding.selected").get_attribute("data-finding-id")
    page.keyboard.press(key)
    state = {"a": "accepted", "r": "rejected"}[key]
    page.locator(f'[data-finding-id="{selected}"][data-state="{state}"]').wait_for()
    return selected


@pytest.mark.slow
def test_adjuster_clears_a_queue_of_real_claims_with_the_keyboard_alone(
    browser, live_server, customer, adjuster, active_model, vehicle_jpeg
) -> None:
    # Every finding below the threshold, so that every one of them waits for a person.
    active_model.threshold = 1.0  # C_refined stays below 1 here (asserted below)
    active_model.save(update_fields=["threshold"])
    cases = [claim_processed(customer, vehicle_jpeg, f"POL-{i}") for i in (1, 2)]
    findings = {c.pk: list(Finding.objects.filter(case=c)) for c in cases}
    for case in cases:
        assert case.status == Case.Status.NEEDS_REVIEW
        assert len(findings[case.pk]) > 2
        assert all(f.c_refined < 1.0 for f in findings[case.pk])
    assert len(queue_cases(filters=QueueFilters())) == 2
    base = live_server.url

    adj = page_as(browser, base, adjuster)
    adj.goto(f"{base}/review/")
    assert adj.locator(".queue-row").count() == 2
    seen = []
    for number in (1, 2):
        adj.keyboard.press("n")  # from the queue page, then from the reviewed case
        adj.wait_for_url(re.compile(r".*/review/cases/[0-9a-f-]+/$"))
        adj.locator("#lease-state[data-mine]").wait_for()
        public_id = adj.url.rstrip("/").rsplit("/", 1)[1]
        case = Case.objects.get(public_id=public_id)
        assert case.pk not in seen
        seen.append(case.pk)
        if number == 1:
            adj.keyboard.press("?")
            help_text = adj.locator("#help-overlay").inner_text()
            assert "next: the next undecided finding, then the next case" in help_text
            assert "accept the selected finding (or confirm a set-aside photo)" in help_text
            adj.keyboard.press("?")
            assert adj.locator("#help-overlay").is_hidden()
            # Keys typed faster than the server answers go to successive findings.
            first, second = (
                adj.locator(".finding[data-state='pending']")
                .nth(i)
                .get_attribute("data-finding-id")
                for i in (0, 1)
            )
            adj.keyboard.press("a")
            adj.keyboard.press("r")
            adj.locator(f'[data-finding-id="{first}"][data-state="accepted"]').wait_for()
            adj.locator(f'[data-finding-id="{second}"][data-state="rejected"]').wait_for()
        pressed = 0
        while adj.locator("[data-ready-to-finish]").count() == 0:
            _decide_with_key(adj, "ar"[pressed % 2])
            pressed += 1
        adj.keyboard.press("f")
        adj.locator("[data-case-reviewed]").wait_for()
        _shot(adj, f"queue-{number}-reviewed")
        assert "Press n for the next case" in adj.locator("[data-case-reviewed]").inner_text()

    adj.keyboard.press("n")  # nothing left: back to the queue, which says so
    adj.wait_for_url(re.compile(r".*/review/$"))
    adj.locator("#queue-empty").wait_for()
    assert "The queue is empty" in adj.locator("ul.messages li.info").inner_text()
    _shot(adj, "queue-3-empty")

    assert sorted(seen) == sorted(c.pk for c in cases)
    for case in cases:
        case.refresh_from_db()
        assert case.status == Case.Status.REVIEWED
        decided = dict(
            ReviewDecision.objects.filter(case=case)
            .values("finding_id")
            .annotate(n=Count("pk"))
            .values_list("finding_id", "n")
        )
        assert decided == {f.pk: 1 for f in findings[case.pk]}  # each once, none twice
        assert ReviewedReport.objects.filter(case=case).count() == 1
    quick = {int(first[1:]): "accept", int(second[1:]): "reject"}
    assert (
        dict(
            ReviewDecision.objects.filter(finding_id__in=quick).values_list("finding_id", "action")
        )
        == quick
    )
    assert len(queue_cases(filters=QueueFilters())) == 0


# A detection version's box findings -----------------------------------------------------


def _street_photo(width: int, height: int) -> bytes:
    """A photo-like picture (sky, road, a dark car body) so that overlays read on it."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (150, 175, 200))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, height * 0.6, width, height), fill=(95, 95, 100))
    draw.rounded_rectangle(
        (width * 0.08, height * 0.3, width * 0.92, height * 0.78), radius=40, fill=(40, 60, 90)
    )
    for cx in (0.25, 0.75):
        draw.ellipse(
            (width * cx - 45, height * 0.7, width * cx + 45, height * 0.7 + 90), fill=(20, 20, 20)
        )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


# The damage layer's alpha on the left edge and at the centre of a finding's box.
OUTLINE_PROBE = """(id) => {
  const f = reviewApp.findings.find((x) => x.id === id);
  const d = ReviewRle.decode(f.edit_mask || f.mask);
  const box = ReviewRle.bbox(d.mask, d.width, d.height);
  const layer = document.getElementById("damage-layer");
  const sx = layer.width / d.width, sy = layer.height / d.height;
  const ctx = layer.getContext("2d");
  const alpha = (x, y) => ctx.getImageData(Math.round(x), Math.round(y), 1, 1).data[3];
  const midY = ((box[1] + box[3]) / 2) * sy;
  return {
    edge: alpha(box[0] * sx + 1, midY),
    centre: alpha(((box[0] + box[2]) / 2) * sx, midY),
  };
}"""


def test_box_findings_are_outlined_and_corrected_with_the_box_tool(
    browser, live_server, customer, adjuster, settings
) -> None:
    settings.REVIEW_EXPORT_ROOT = "/tmp/unused"
    version = factories.model_version_create(threshold=0.6, damage_backend="detection")
    case = factories.case_create(
        customer=customer,
        version=version,
        findings=[("deformity", "door_shell", 0.3), ("surface_damage", "bumper", 0.45)],
        photo_size=(640, 480),
        grid=(320, 240),
        shape="box",
        image=_street_photo(640, 480),
    )
    door = Finding.objects.get(case=case, part="door_shell")
    assert (door.shape, door.box) == ("box", [2, 60, 82, 180])
    services.lease_claim(case=case, user=adjuster)
    base = live_server.url

    adj = page_as(browser, base, adjuster)
    adj.goto(f"{base}/review/cases/{case.public_id}/")
    # Both boxes are drawn as outlines: the edge is painted, the inside left clear.
    adj.wait_for_function("document.getElementById('damage-layer').dataset.boxes === '2'")
    for finding in Finding.objects.filter(case=case):
        probe = adj.evaluate(OUTLINE_PROBE, f"f{finding.pk}")
        assert probe["edge"] > 0, finding
        assert probe["centre"] == 0, finding
    _shot(adj, "box-1-review")
    assert adj.locator("#editor-toolbar").is_hidden()
    # A missed damage on a detection version's case is drawn as a box too.
    adj.keyboard.press("m")
    adj.locator("#editor-toolbar").wait_for(state="visible")
    assert adj.evaluate("[reviewApp.editor.tool, reviewApp.editor.shape()]") == ["box", "mask"]
    adj.keyboard.press("Escape")
    adj.locator("#editor-toolbar").wait_for(state="hidden")

    # e opens the editor on the box tool, with the finding's box and its handles.
    assert adj.locator(".finding.selected").get_attribute("data-finding-id") == f"f{door.pk}"
    adj.keyboard.press("e")
    canvas = adj.locator("#edit-layer")
    canvas.wait_for(state="visible")
    assert adj.evaluate("reviewApp.editor.tool") == "box"
    assert adj.locator('[data-tool="box"]').get_attribute("aria-pressed") == "true"
    assert adj.evaluate("reviewApp.editor.box()") == [4, 120, 164, 360]  # the grid's box x2
    adj.keyboard.press("?")
    assert "box (drag a rectangle" in adj.locator("#help-overlay").inner_text()
    adj.keyboard.press("Escape")

    # Drag a new box on the right of the photo; it replaces the finding's box.
    rect = canvas.bounding_box()
    assert rect is not None
    scale = 640 / rect["width"]  # photo pixels per screen pixel

    def screen(fx: float, fy: float) -> tuple[float, float]:
        return rect["x"] + rect["width"] * fx, rect["y"] + rect["height"] * fy

    def drag(start: tuple[float, float], end: tuple[float, float]) -> None:
        adj.mouse.move(*start)
        adj.mouse.down()
        for step in range(1, 9):
            t = step / 8
            adj.mouse.move(start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t)
        adj.mouse.up()

    start, end = screen(0.5, 0.35), screen(0.8, 0.7)
    drag(start, end)
    expected = [
        round((start[0] - rect["x"]) * scale),
        round((start[1] - rect["y"]) * scale),
        round((end[0] - rect["x"]) * scale),
        round((end[1] - rect["y"]) * scale),
    ]
    drawn = adj.evaluate("reviewApp.editor.box()")
    assert all(abs(a - b) <= 1 for a, b in zip(drawn, expected, strict=True)), (drawn, expected)
    # Its bottom-right handle makes it larger.
    handle = (rect["x"] + drawn[2] / scale, rect["y"] + drawn[3] / scale)
    drag(handle, (handle[0] + 30, handle[1] + 20))
    box = adj.evaluate("reviewApp.editor.box()")
    assert box[:2] == drawn[:2]
    assert abs(box[2] - (drawn[2] + 30 * scale)) <= 1
    assert abs(box[3] - (drawn[3] + 20 * scale)) <= 1
    assert adj.evaluate("reviewApp.editor.ops.length") == 2
    assert adj.evaluate("reviewApp.editor.shape()") == "box"
    _shot(adj, "box-2-editor")

    adj.keyboard.press("Enter")
    adj.locator(f'[data-finding-id="f{door.pk}"][data-state="edited"]').wait_for()
    assert adj.locator("#editor-toolbar").is_hidden()
    edit = MaskEdit.objects.get()
    x0, y0, x1, y1 = box
    assert (edit.shape, edit.box, edit.area_px) == ("box", box, (x1 - x0) * (y1 - y0))
    mask = rle_codec.decode(rle_codec.Rle(edit.height, edit.width, edit.counts))
    assert mask.shape == (480, 640)
    assert mask[y0:y1, x0:x1].all()
    assert int(mask.sum()) == (x1 - x0) * (y1 - y0)  # the rectangle and nothing else
    assert ReviewDecision.objects.get().action == "edit"
    # The correction is drawn as a box too.
    adj.wait_for_function("document.getElementById('damage-layer').dataset.boxes === '2'")
    probe = adj.evaluate(OUTLINE_PROBE, f"f{door.pk}")
    assert probe["edge"] > 0
    assert probe["centre"] == 0
    _shot(adj, "box-3-saved")

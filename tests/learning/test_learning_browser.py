"""One capability's tests, each one whole journey in Chromium on the shared live server and
browser: an admin on the model-version pages (threshold, target precision, promotion, label
export, headline figures and plots)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from claims.models import AuditEvent
from inference.models import Finding, ModelVersion
from learning.models import DatasetSnapshot
from review import services
from tests import factories
from tests.conftest import page_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _shot(page: Any, name: str) -> None:
    """Screenshots for people checking the UI: REVIEW_SCREENSHOTS=/some/dir."""
    target = os.environ.get("REVIEW_SCREENSHOTS")
    if target:
        page.screenshot(path=f"{target}/{name}.png", full_page=True)


def test_admin_tunes_the_threshold_promotes_and_exports_in_the_browser(
    browser, live_server, customer, adjuster, admin_user, settings
) -> None:
    version = factories.model_version_create(threshold=0.6)
    case = factories.case_create(
        customer=customer,
        version=version,
        findings=[
            ("deformity", "hood", 0.2),
            ("deformity", "door_shell", 0.4),
            ("deformity", "bumper", 0.5),
        ],
    )
    services.lease_claim(case=case, user=adjuster)
    by_part = {f.part: f for f in Finding.objects.filter(case=case)}
    services.finding_decide(finding=by_part["hood"], user=adjuster, action="reject")
    services.finding_decide(finding=by_part["door_shell"], user=adjuster, action="accept")
    services.finding_decide(finding=by_part["bumper"], user=adjuster, action="accept")
    services.case_finish_review(case=case, user=adjuster)
    base = live_server.url

    admin = page_as(browser, base, admin_user)
    admin.goto(f"{base}/review/models/")
    admin.get_by_role("link", name=version.name).click()
    admin.wait_for_url(re.compile(rf".*/review/models/{version.pk}/$"))
    # Metrics (every stored figure, folded), the three plots and the suggested threshold.
    admin.locator("#all-metrics summary").click()
    assert "miou" in admin.locator("#metrics").inner_text()
    captions = admin.locator(".plots figcaption").all_inner_texts()
    assert captions == [
        "Reliability of C_refined on reviewed findings",
        "Per-class IoU",
        "Confusion matrix",
    ]
    assert admin.locator(".plots svg").count() == 3
    assert "Uncalibrated (confidence = C_base, the mean pixel probability)" in (
        admin.locator("#calibration").inner_text()
    )
    # Three decisions are too few for Learn-then-Test to promise anything.
    assert (
        "No threshold keeps precision 0.90 with 90% confidence on 3 calibration findings"
        in admin.locator("#suggestion").inner_text()
    )
    admin.locator("#target-precision").fill("0.5")
    admin.get_by_role("button", name="Save target precision").click()
    admin.locator("ul.messages").filter(has_text="Target precision").wait_for()
    assert "Target precision of seed 1 set to 0.5." in admin.locator("ul.messages").inner_text()
    assert ModelVersion.objects.get(pk=version.pk).target_precision == 0.5
    assert (
        "No threshold keeps precision 0.50 with 90% confidence on 3 calibration findings"
        in admin.locator("#suggestion").inner_text()
    )
    _shot(admin, "model-1-page")

    admin.locator("#threshold").fill("0.45")
    admin.get_by_role("button", name="Save threshold").click()
    admin.locator("ul.messages").filter(has_text="set to 0.45").wait_for()
    assert "Threshold of seed 1 set to 0.45." in admin.locator("ul.messages").inner_text()
    assert admin.locator("#threshold").input_value() == "0.45"
    assert (
        "model.threshold_changed · dana · 0.6 → 0.45" in admin.locator("#model-audit").inner_text()
    )
    assert ModelVersion.objects.get(pk=version.pk).threshold == 0.45
    event = AuditEvent.objects.get(verb="model.threshold_changed")
    assert (event.actor, event.data["from"], event.data["to"]) == (admin_user, 0.6, 0.45)

    admin.get_by_role("button", name="Promote to active").click()
    admin.locator("h1 small").filter(has_text="Active").wait_for()
    assert ModelVersion.objects.get(pk=version.pk).status == ModelVersion.Status.ACTIVE
    assert AuditEvent.objects.filter(verb="model.promoted", actor=admin_user).count() == 1

    # An adjuster reviews with the threshold but may not change it.
    adj = page_as(browser, base, adjuster)
    response = adj.goto(f"{base}/review/models/{version.pk}/")
    assert response.status == 403
    assert "Only admins manage model versions" in adj.locator("#forbidden").inner_text()
    assert adj.locator("#threshold").count() == 0
    assert adj.goto(f"{base}/review/models/").status == 403

    # The admin exports the reviewed labels from the model-versions page.
    admin.locator("#nav-models").click()  # the top bar link, shown to admins only
    admin.locator("input[name=version]").fill("browser-1")
    admin.locator("#export-button").click()
    admin.locator("ul.messages").wait_for()
    assert (
        "Exported snapshot browser-1: 1 photos, 2 labels"
        in admin.locator("ul.messages").inner_text()
    )
    assert "browser-1" in admin.locator("#snapshots").inner_text()
    _shot(admin, "model-2-exported")
    root = Path(settings.REVIEW_EXPORT_ROOT) / "browser-1"
    assert sorted(p.name for p in root.iterdir()) == [
        "annotations.json",
        "data.yaml",
        "images",
        "labels",
        "manifest.json",
        "masks",
    ]
    assert len(json.loads((root / "annotations.json").read_text())["annotations"]) == 2
    snapshot = DatasetSnapshot.objects.get()
    assert (snapshot.version, snapshot.created_by, snapshot.cases) == (
        "browser-1",
        admin_user,
        [case.pk],
    )
    assert ModelVersion.objects.get(pk=version.pk).threshold == 0.45  # the adjuster changed nothing


def test_admin_reads_headline_figures_and_plots_on_the_model_pages(
    browser, live_server, admin_user, shipped_model
) -> None:
    page = page_as(browser, live_server.url, admin_user)
    page.goto(f"{live_server.url}/review/models/")
    parts = page.locator(f"tr:has-text('{shipped_model.version}') [data-metric='parts mIoU']")
    assert (
        parts.first.inner_text()
        == f"{shipped_model.metrics['segmentation_validation']['parts_miou']:.3f}"
    )
    _shot(page, "models-1-list")
    page.locator(f"a[href='/review/models/{shipped_model.pk}/']").click()
    page.locator("#headline").wait_for()
    figures = page.locator(".plots figure")
    assert figures.count() >= 3  # stored reliability, parts IoU, damage IoU
    for i in range(figures.count()):
        svg = figures.nth(i).locator("svg")
        assert svg.is_visible()
        assert svg.locator("text").count() >= 4  # title, axis labels and ticks
    # The per-class IoU plots name the classes a person reviews, not the background.
    words = page.evaluate(
        "[...document.querySelectorAll('.plots svg text')].map((t) => t.textContent.trim())"
    )
    assert "bumper" in words
    assert "surface_damage" in words
    assert "background" not in words
    assert "no_damage" not in words
    # The reliability diagram's legend is clear of its bars.
    overlaps = page.evaluate(
        """() => {
          const svg = [...document.querySelectorAll(".plots figure")]
            .find((f) => f.textContent.includes("Reliability")).querySelector("svg");
          const legend = [...svg.querySelectorAll("text")]
            .filter((t) => t.textContent.includes("perfectly calibrated"))[0].parentElement
            .getBoundingClientRect();
          const bars = [...svg.querySelectorAll("rect[fill='#42a5f5']")]
            .filter((r) => !r.closest(".legend"))
            .map((r) => r.getBoundingClientRect()).filter((b) => b.height > 0);
          const hit = bars.filter((b) => b.left < legend.right && b.right > legend.left
            && b.top < legend.bottom && b.bottom > legend.top);
          return [bars.length, hit.length];
        }"""
    )
    assert overlaps[0] >= 5  # the shipped version's stored bins
    assert overlaps[1] == 0  # no bar under the legend
    _shot(page, "models-2-detail")
    page.locator("#all-metrics summary").click()
    assert page.locator("#metrics tr").count() > 20

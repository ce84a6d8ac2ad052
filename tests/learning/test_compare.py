"""Two versions side by side and promotion with evidence (issue 11, point 4)."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image

from claims.models import AuditEvent, Photo
from inference.models import Finding, ModelVersion
from inference.services.rendering import output_size
from learning import services, shadow, tasks
from learning.models import ShadowEvaluation
from review import services as review_services
from tests import factories
from tests.conftest import claim_processed

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def evaluated(shipped_model, customer, adjuster, admin_user, vehicle_jpeg) -> ShadowEvaluation:
    """The shipped detector candidate run in shadow beside the active shipped version on
    the bus, whose finding an adjuster accepted."""
    case = claim_processed(customer, vehicle_jpeg)
    review_services.lease_claim(case=case, user=adjuster)
    for finding in Finding.objects.filter(case=case):
        review_services.finding_decide(finding=finding, user=adjuster, action="accept")
    review_services.case_finish_review(case=case, user=adjuster)
    candidate = ModelVersion.objects.get(version="0.3.0-yolov9cs")
    evaluation = shadow.shadow_evaluation_create(candidate=candidate, n=3, user=admin_user)
    assert tasks.shadow_evaluation_task(evaluation.pk) == "done"
    evaluation.refresh_from_db()
    return evaluation


def _compare_url(a: ModelVersion, b: ModelVersion) -> str:
    return f"{reverse('learning:model_compare')}?a={a.pk}&b={b.pk}"


def _svgs(body: str) -> list[ET.Element]:
    section = body.split('id="compare-plots"')[1].split("</div>")[0]
    return [ET.fromstring(svg) for svg in re.findall(r"<svg .*?</svg>", section, re.S)]


def _row(body: str, name: str) -> list[str]:
    row = body.split(f'data-figure="{name}">')[1].split("</tr>")[0]
    return [re.sub(r"<.*?>", "", cell) for cell in re.findall(r"<td[^>]*>.*?</td>", row)]


def test_comparison_page_shows_figures_plots_and_disagreements(
    evaluated, shipped_model, admin_user, login
) -> None:
    candidate = evaluated.candidate
    client = login(admin_user)
    response = client.get(_compare_url(shipped_model, candidate))
    assert response.status_code == 200
    body = response.content.decode()
    fa, fb = evaluated.figures["baseline"], evaluated.figures["candidate"]
    # A is the active version, B the candidate: B - A.
    assert _row(body, "precision")[:3] == [
        f"{fa['precision']:.3f}",
        f"{fb['precision']:.3f}",
        f"{fb['precision'] - fa['precision']:+.3f}",
    ]
    assert _row(body, "findings")[:2] == [str(fa["findings"]), str(fb["findings"])]
    assert "too few cases for an interval (1; at least 5)" in _row(body, "precision")[3]
    # Six plots, each with axes: tick labels and a legend or named rows and columns.
    svgs = _svgs(body)
    titles = [svg.find(f"{SVG}title").text for svg in svgs]  # type: ignore[union-attr]
    assert titles == [
        "Per-class IoU on the reviewed photos",
        f"Confusion matrix of A: {shipped_model}",
        f"Confusion matrix of B: {candidate}",
        f"Reliability of A: {shipped_model}",
        f"Reliability of B: {candidate}",
        "Precision-coverage curves",
    ]
    for svg in svgs:
        texts = {t.text for t in svg.iter(f"{SVG}text")}
        assert texts & {"0", "0.5", "1", "0.0", "1.0", "no_damage"}, svg.find(f"{SVG}title")
    curve_texts = {t.text for t in svgs[-1].iter(f"{SVG}text")}
    assert {"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"} <= curve_texts
    assert {f"A: {shipped_model}", f"B: {candidate}", "target precision 0.90"} <= curve_texts
    assert {"predicted", "truth (adjusters)"} <= {t.text for t in svgs[1].iter(f"{SVG}text")}
    # The detector's boxes and the accepted mask differ: the case is shown, photo by photo.
    assert evaluated.figures["disagreements"]
    photo = Photo.objects.get(pk=evaluated.figures["disagreements"][0]["photo"])
    overlays = re.findall(r'<img src="([^"]+\.jpg)"', body)
    assert len(overlays) == 2
    images = []
    for url in overlays:
        image = client.get(url)
        assert image["Content-Type"] == "image/jpeg"
        decoded = Image.open(io.BytesIO(image.content))
        assert decoded.width == output_size((photo.width, photo.height), 560)[0]
        assert decoded.height > decoded.width  # the upright bus, with the legend under it
        images.append(np.asarray(decoded.convert("RGB"), dtype=np.int16))
    height = min(i.shape[0] for i in images)
    assert np.abs(images[0][:height] - images[1][:height]).mean() > 1.0  # different overlays
    # Stored validation figures side by side.
    assert "findings_evaluation · precision" in body
    # The other order flips the difference.
    flipped = client.get(_compare_url(candidate, shipped_model)).content.decode()
    assert _row(flipped, "precision")[2] == f"{fa['precision'] - fb['precision']:+.3f}"


def test_promotion_from_the_comparison_records_the_figures(
    evaluated, shipped_model, admin_user, login
) -> None:
    candidate = evaluated.candidate
    client = login(admin_user)
    # The model page now leads to the comparison instead of promoting at once.
    page = client.get(reverse("learning:model_version", args=[candidate.pk])).content.decode()
    assert (
        f'href="{reverse("learning:model_compare")}?a={shipped_model.pk}&amp;b={candidate.pk}"'
        in page
    )
    assert reverse("learning:model_version_status", args=[candidate.pk, "promote"]) not in page
    assert f'data-evaluation="{evaluated.pk}" data-status="done"' in page
    body = client.get(_compare_url(shipped_model, candidate)).content.decode()
    assert f'<input type="hidden" name="evaluation" value="{evaluated.pk}">' in body
    response = client.post(
        reverse("learning:model_version_status", args=[candidate.pk, "promote"]),
        {"evaluation": str(evaluated.pk)},
        follow=True,
    )
    assert "yolov9t-cs-categorical 0.3.0-yolov9cs is now active." in response.content.decode()
    event = AuditEvent.objects.get(verb="model.promoted")
    recorded = event.data["shadow"]
    assert (recorded["evaluation"], recorded["baseline"], recorded["cases"]) == (
        evaluated.pk,
        shipped_model.pk,
        1,
    )
    for key, side in (("candidate", "candidate"), ("baseline_figures", "baseline")):
        figures = evaluated.figures[side]
        assert recorded[key] == {
            "precision": figures["precision"],
            "recall": figures["recall"],
            "coverage_at_target_precision": figures["coverage_at_target_precision"],
            "findings_per_photo": figures["findings_per_photo"],
            "dsi_mean_abs_difference": figures["dsi_mean_abs_difference"],
            "findings": figures["findings"],
            "cases": 1,
        }
    assert event.data["validation"]["active"]["damage mIoU"] == pytest.approx(
        shipped_model.metrics["segmentation_validation"]["damage_miou"]
    )
    assert event.data["retired"] == [shipped_model.pk]


def test_promotion_without_a_shadow_evaluation_says_so(version, admin_user) -> None:
    live = factories.model_version_create(name="live", status=ModelVersion.Status.ACTIVE)
    services.model_version_promote(version=version, user=admin_user)
    event = AuditEvent.objects.get(verb="model.promoted")
    assert event.data["shadow"] is None
    assert event.data["shadow_note"] == (
        "promoted without a finished shadow evaluation against the active version"
    )
    assert event.data["validation"]["candidate"]["parts mIoU"] is None
    assert event.data["retired"] == [live.pk]


def test_promotion_on_an_evaluation_that_is_not_against_the_active_version_is_refused(
    version, admin_user
) -> None:
    live = factories.model_version_create(name="live", status=ModelVersion.Status.ACTIVE)
    other = factories.model_version_create(name="other")
    stale = ShadowEvaluation.objects.create(
        candidate=version,
        baseline=other,
        n_cases=1,
        status=ShadowEvaluation.Status.DONE,
        created_by=admin_user,
    )
    with pytest.raises(Exception, match=f"Shadow evaluation {stale.pk} is not a finished"):
        services.model_version_promote(version=version, user=admin_user, evaluation_id=stale.pk)
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE) == live
    assert not AuditEvent.objects.filter(verb="model.promoted").exists()


def test_comparison_without_an_evaluation_shows_stored_figures(version, admin_user, login) -> None:
    live = factories.model_version_create(name="live", status=ModelVersion.Status.ACTIVE)
    metrics = dict(live.metrics)
    metrics["per_class_iou"] = {"surface_damage": 0.5, "deformity": 0.45, "body_damage": 0.40}
    ModelVersion.objects.filter(pk=live.pk).update(metrics=metrics)
    client = login(admin_user)
    listing = client.get(reverse("learning:model_versions")).content.decode()
    assert f'href="{reverse("learning:model_compare")}?b={version.pk}" data-compare=' in listing
    # One version named: compared with the active one.
    response = client.get(f"{reverse('learning:model_compare')}?b={version.pk}")
    assert response.status_code == 302
    assert response["Location"] == _compare_url(live, version)
    body = client.get(response["Location"]).content.decode()
    assert 'id="no-evaluation"' in body
    assert 'id="compare-plots"' not in body
    surface = body.split("<th>per_class_iou · surface_damage</th>")[1].split("</tr>")[0]
    assert re.sub(r"<.*?>", "|", surface).split("|")[1::2][:3] == ["0.5", "0.32", "-0.1800"]
    plot = body.split('id="validation-plots"')[1].split("</figure>")[0]
    svg = ET.fromstring(re.search(r"<svg .*?</svg>", plot, re.S).group(0))  # type: ignore[union-attr]
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert {f"A: {live}", f"B: {version}", "0.25", "IoU", "surface_damage"} <= set(texts)
    assert {"0.50", "0.32"} <= set(texts)  # each version's surface_damage bar, labelled
    assert 'id="confirm-promote"' in body
    assert "the promotion is recorded without shadow figures" in body


def test_only_admins_compare(version, adjuster, customer, login) -> None:
    live = factories.model_version_create(name="live", status=ModelVersion.Status.ACTIVE)
    for user in (adjuster, customer):
        assert login(user).get(_compare_url(live, version)).status_code == 403
    assert login(None).get(_compare_url(live, version)).status_code == 302  # to log in

"""One capability's tests, sharing their fixtures: the model lifecycle's pages under /review/
(model versions, thresholds, target precision, promotion, label snapshots and their API) for
every role, and what each page shows."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from claims.models import AuditEvent
from damage_vision.pipeline.risk_control import precision_threshold
from inference.models import Finding, ModelVersion
from review import services
from review.models import ReviewDecision
from tests import factories

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "customer", "adjuster", "admin"]


@pytest.fixture
def world(make_case, customer, adjuster, admin_user) -> dict[str, Any]:
    case = make_case(set_aside=1)
    users = {"anonymous": None, "customer": customer, "adjuster": adjuster, "admin": admin_user}
    return {"case": case, "users": users}


def _endpoints(world: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    version = world["case"].model_version
    return [
        # (name, method, url, data): every one admin-only
        ("models", "get", reverse("learning:model_versions"), {}),
        ("model", "get", reverse("learning:model_version", args=[version.pk]), {}),
        (
            "threshold",
            "post",
            reverse("learning:model_version_threshold", args=[version.pk]),
            {"threshold": "0.5"},
        ),
        (
            "target_precision",
            "post",
            reverse("learning:model_version_target_precision", args=[version.pk]),
            {"target_precision": "0.8"},
        ),
        (
            "promote",
            "post",
            reverse("learning:model_version_status", args=[version.pk, "promote"]),
            {},
        ),
        (
            "retire",
            "post",
            reverse("learning:model_version_status", args=[version.pk, "retire"]),
            {},
        ),
        ("export", "post", reverse("learning:snapshot_create"), {"version": "perm"}),
        ("download", "get", reverse("learning:snapshot_download", args=["perm"]), {}),
        ("api_snapshots", "get", reverse("learning:api_snapshots"), {}),
        ("api_archive", "get", reverse("learning:api_snapshot_archive", args=["perm"]), {}),
    ]


MAYBE_MISSING = {"download", "api_archive"}
API = {"api_snapshots", "api_archive"}


@pytest.mark.parametrize("role", ROLES)
def test_every_endpoint_for_every_role(world, login, role) -> None:
    client = login(world["users"][role])
    for name, method, url, data in _endpoints(world):
        response = getattr(client, method)(url, data)
        if role == "anonymous":
            expected = {401} if name in API else {302}
            assert response.status_code in expected, (name, response.status_code)
            if name not in API:
                assert response["Location"].startswith("/accounts/login/"), name
        elif role in ("customer", "adjuster"):
            assert response.status_code == 403, (role, name, response.status_code)
        else:
            # The snapshot "perm" exists only when the export above found reviewed photos.
            allowed = {200, 201, 302, 409} | ({404} if name in MAYBE_MISSING else set())
            assert response.status_code in allowed, (role, name, response.status_code)
    if role in ("anonymous", "customer"):
        unchanged = ModelVersion.objects.get(pk=world["case"].model_version.pk)
        assert (unchanged.threshold, unchanged.target_precision) == (0.6, 0.9)


def test_model_version_page_shows_suggestion_and_plots(
    make_case, adjuster, admin_user, login
) -> None:
    # 50 sure findings kept; at 0.8, 10 kept and 2 rejected; at 0.7, 5 kept and 2
    # rejected: the 0.7 findings reach precision 65/69 >= 0.9 on their own, but too few to
    # promise it with 90% confidence (tests/learning/test_learning_thresholds.py).
    decisions = (
        [(0.995, "accept")] * 50
        + [(0.8, "accept")] * 10
        + [(0.8, "reject")] * 2
        + [(0.7, "accept")] * 5
        + [(0.7, "reject")] * 2
    )
    case = make_case([("deformity", "hood", c) for c, _ in decisions])
    services.lease_claim(case=case, user=adjuster)
    findings = Finding.objects.filter(case=case).order_by("index")
    ReviewDecision.objects.bulk_create(
        ReviewDecision(
            case=case,
            finding=f,
            photo_id=f.photo_id,
            action=action,
            damage_type=f.damage,
            part=f.part,
            c_refined=f.c_refined,
            reviewer=adjuster,
        )
        for f, (_, action) in zip(findings, decisions, strict=True)
    )
    expected = precision_threshold(
        [c for c, _ in decisions],
        [a == "accept" for _, a in decisions],
        target_precision=0.9,
        confidence_level=0.9,
    )
    assert expected.threshold == 0.71
    page = login(admin_user).get(reverse("learning:model_version", args=[case.model_version.pk]))
    body = page.content.decode()
    suggestion = body[body.index('<div id="suggestion">') :]
    assert "From the 69 findings people decided (65 kept)" in suggestion
    assert "suggested threshold <strong>0.71</strong>." in suggestion
    assert (
        "Findings at or above 0.71 are released without review; on 69 calibration findings "
        "their precision is at least 0.90 with 90% confidence; about 90% of findings are "
        "released."
    ) in suggestion
    assert '<input type="hidden" name="threshold" value="0.71">' in suggestion
    assert body.count("<svg") == 3


def test_model_version_page_without_decisions_suggests_nothing(version, admin_user, login) -> None:
    body = login(admin_user).get(reverse("learning:model_version", args=[version.pk])).content
    assert b"No finding of this version has been reviewed yet" in body


PROMISE = {
    "threshold": 0.6,
    "target_precision": 0.9,
    "confidence_level": 0.9,
    "calibration_findings": 412,
    "released_share": 0.384,
    "precision": 0.951,
    "method": "Learn-then-Test, Hoeffding-Bentkus p-values, fixed-sequence testing (MAPIE 1.6)",
}


PROMISE_TEXT = (
    "Findings at or above 0.60 are released without review; on 412 calibration findings "
    "their precision is at least 0.90 with 90% confidence; about 38% of findings are released."
)


def test_model_page_shows_the_promise_of_a_calibrated_version(admin_user, login) -> None:
    version = factories.model_version_create(
        name="calibrated", threshold=0.6, calibrated=True, threshold_promise=PROMISE
    )
    client = login(admin_user)
    body = client.get(reverse("learning:model_version", args=[version.pk])).content.decode()
    promise = body[body.index('<div id="promise">') : body.index('<div id="suggestion">')]
    assert PROMISE_TEXT in promise
    assert "does not apply" not in promise
    assert "Calibrated: a finding's confidence is the probability that it is correct" in body
    assert "uncalibrated" not in body.lower()

    # Set by hand to another value: the promise stays on the page, marked as not applying.
    client.post(
        reverse("learning:model_version_threshold", args=[version.pk]), {"threshold": "0.5"}
    )
    body = client.get(reverse("learning:model_version", args=[version.pk])).content.decode()
    promise = body[body.index('<div id="promise">') : body.index('<div id="suggestion">')]
    assert PROMISE_TEXT in promise
    assert (
        "The threshold in use, 0.5, differs from the promised one (0.60): the promise does "
        "not apply to it."
    ) in promise


def test_model_pages_mark_an_uncalibrated_version(version, admin_user, login) -> None:
    client = login(admin_user)
    listing = client.get(reverse("learning:model_versions")).content.decode()
    assert (
        '<span class="uncalibrated">uncalibrated (confidence = C_base, the mean pixel '
        "probability)</span>"
    ) in listing
    calibrated = factories.model_version_create(name="calibrated", calibrated=True)
    listing = client.get(reverse("learning:model_versions")).content.decode()
    assert listing.count("uncalibrated (confidence = C_base") == 1
    assert f'<a href="{reverse("learning:model_version", args=[calibrated.pk])}">' in listing
    body = client.get(reverse("learning:model_version", args=[version.pk])).content.decode()
    assert (
        '<p id="calibration" class="uncalibrated">Uncalibrated (confidence = C_base, the mean '
        "pixel probability); C_refined = C_base &times; K_agree.</p>"
    ) in body
    assert (
        "This version's manifest holds no threshold promise: nothing is known about the "
        "precision of the findings that threshold 0.6 releases."
    ) in body


def test_target_precision_form_changes_audits_and_drives_the_suggestion(
    make_case, adjuster, admin_user, login
) -> None:
    case = make_case([("deformity", "hood", 0.2)])
    version = case.model_version
    services.lease_claim(case=case, user=adjuster)
    services.finding_decide(finding=Finding.objects.get(case=case), user=adjuster, action="accept")
    client = login(admin_user)
    response = client.post(
        reverse("learning:model_version_target_precision", args=[version.pk]),
        {"target_precision": "0.8"},
    )
    assert response.status_code == 302
    assert ModelVersion.objects.get(pk=version.pk).target_precision == 0.8
    body = client.get(reverse("learning:model_version", args=[version.pk])).content.decode()
    assert "model.target_precision_changed · dana · 0.9 &rarr; 0.8" in body
    assert "target precision 0.80):" in body
    assert (
        "No threshold keeps precision 0.80 with 90% confidence on 1 calibration findings: "
        "every finding goes to review."
    ) in body


OUT_OF_RANGE = "The target precision is a share strictly between 0 and 1, such as 0.9."


NOT_A_NUMBER = "The target precision is a number between 0 and 1, such as 0.9."


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1", OUT_OF_RANGE),
        ("0", OUT_OF_RANGE),
        ("1.5", OUT_OF_RANGE),
        ("-0.2", OUT_OF_RANGE),
        ("high", NOT_A_NUMBER),
    ],
)
def test_target_precision_outside_zero_one_is_refused(
    version, admin_user, login, value, message
) -> None:
    response = login(admin_user).post(
        reverse("learning:model_version_target_precision", args=[version.pk]),
        {"target_precision": value},
        follow=True,
    )
    assert message in response.content.decode()
    assert ModelVersion.objects.get(pk=version.pk).target_precision == 0.9
    assert not AuditEvent.objects.filter(verb="model.target_precision_changed").exists()


def test_threshold_form_changes_and_audits(version, admin_user, login) -> None:
    client = login(admin_user)
    response = client.post(
        reverse("learning:model_version_threshold", args=[version.pk]), {"threshold": "0.45"}
    )
    assert response.status_code == 302
    assert ModelVersion.objects.get(pk=version.pk).threshold == 0.45
    page = client.get(reverse("learning:model_version", args=[version.pk]))
    assert "model.threshold_changed · dana · 0.6 &rarr; 0.45" in page.content.decode()


def test_model_page_shows_the_stored_findings_evaluation_and_a_kept_no_threshold_promise(
    admin_user, login
) -> None:
    none_kept = {**PROMISE, "threshold": None, "precision": None, "released_share": 0.0}
    version = factories.model_version_create(
        name="weak", threshold=1.0, calibrated=True, threshold_promise=none_kept
    )
    version.metrics = {
        "findings_evaluation": {
            "photos": 246,
            "instances": 590,
            "findings": 639,
            "findings_per_photo": {"median": 2.0, "p90": 5.0, "mean": 2.6},
            "precision": 0.327074,
            "recall": 0.60339,
            "auroc": 0.711072,
            "calibration": {
                "ece": 0.057097,
                "bins": [
                    {"low": 0.1, "high": 0.2, "count": 137, "confidence": 0.16, "accuracy": 0.15},
                    {"low": 0.2, "high": 0.3, "count": 0, "confidence": None, "accuracy": None},
                ],
            },
            "precision_coverage": {"coverage_at_precision": {"0.90": 0.001565, "0.95": 0.0}},
        }
    }
    version.save()
    body = login(admin_user).get(reverse("learning:model_version", args=[version.pk]))
    text = body.content.decode()
    table = text[text.index('<table id="finding-figures">') :]
    table = table[: table.index("</table>")]
    for label, value in [
        ("findings per photo, median / p90", "2.0 / 5.0"),
        ("precision (at least half on labelled damage of its class)", "0.327"),
        ("recall of labelled instances", "0.603"),
        ("AUROC of the confidence for correctness", "0.711"),
        ("expected calibration error (10 bins)", "0.057"),
        ("coverage at precision 0.90", "0.002"),
    ]:
        assert f"<tr><th>{label}</th><td>{value}</td></tr>" in table
    assert "Reliability of the finding confidence on labelled photos" in text
    assert "137" in text  # the one non-empty bin is drawn (its tooltip names its count)
    promise = text[text.index('<div id="promise">') : text.index('<div id="suggestion">')]
    assert "every finding goes to review" in promise
    assert "does not apply" not in promise


def test_model_pages_show_the_damage_backend_and_promote_a_detection_version(
    version, admin_user, login
) -> None:
    ModelVersion.objects.filter(pk=version.pk).update(status=ModelVersion.Status.ACTIVE)
    detector = factories.model_version_create(name="yolov9t-cs", damage_backend="detection")
    client = login(admin_user)
    listing = client.get(reverse("learning:model_versions")).content.decode()
    assert '<td data-damage-backend="detection">Detection (boxes)</td>' in listing
    assert '<td data-damage-backend="segmentation">Segmentation (masks)</td>' in listing
    page = reverse("learning:model_version", args=[detector.pk])
    body = client.get(page).content.decode()
    assert (
        '<strong id="damage-backend" data-damage-backend="detection">Detection (boxes)</strong>'
    ) in body
    assert (
        "Promoting this version switches new claims from seed 1's segmentation (masks) to "
        "detection (boxes): damage is then found as boxes"
    ) in body
    response = client.post(
        reverse("learning:model_version_status", args=[detector.pk, "promote"]), follow=True
    )
    assert (
        "yolov9t-cs 1 is now active. New claims go through its damage back end: Detection (boxes)."
    ) in response.content.decode()
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE).pk == detector.pk
    event = AuditEvent.objects.get(verb="model.promoted")
    assert (event.data["model_version"], event.data["damage_backend"]) == (
        detector.pk,
        "detection",
    )
    # Once active, the page no longer warns about a switch.
    assert 'id="backend-switch"' not in client.get(page).content.decode()


def test_model_pages_show_headline_figures_and_every_stored_metric(
    shipped_model, admin_user, login
) -> None:
    client = login(admin_user)
    listing = client.get(reverse("learning:model_versions")).content.decode()
    metrics = shipped_model.metrics
    parts = metrics["segmentation_validation"]["parts_miou"]
    assert f'data-metric="parts mIoU">{parts:.3f}</td>' in listing
    precision = metrics["findings_evaluation"]["precision"]
    assert f'data-metric="finding precision">{precision:.3f}</td>' in listing
    detail = client.get(reverse("learning:model_version", args=[shipped_model.pk])).content.decode()
    # Nested figures are flattened into rows; per-class IoU of parts and damage are drawn.
    surface = metrics["segmentation_validation"]["damage_iou"]["surface_damage"]
    shown = f"{surface:.4f}".rstrip("0")
    assert (
        f"<th>segmentation_validation · damage_iou · surface_damage</th><td>{shown}</td>" in detail
    )
    assert "Per-class IoU of the parts (validation)" in detail
    assert "Per-class IoU of the damage (validation)" in detail


def test_metric_rows_flatten_round_and_count() -> None:
    from learning.selectors import headline_metrics, metric_rows

    rows = dict(metric_rows({"a": {"b": 0.123456, "c": [1, 2]}, "d": list(range(50)), "e": True}))
    assert rows == {"a · b": "0.1235", "a · c": "1, 2", "d": "50 items", "e": "true"}
    assert dict(headline_metrics({}))["parts mIoU"] is None
    assert (
        dict(headline_metrics({"vehicle_validation": {"accuracy": 0.97}}))["vehicle accuracy"]
        == 0.97
    )


def test_snapshots_are_listed_with_their_counts_and_downloaded_as_one_zip(
    make_case, adjuster, admin_user, login, settings
) -> None:
    import io
    import zipfile

    case = make_case()
    services.lease_claim(case=case, user=adjuster)
    for finding in Finding.objects.filter(case=case, c_refined__lt=0.6):
        services.finding_decide(finding=finding, user=adjuster, action="accept")
    services.case_finish_review(case=case, user=adjuster)
    client = login(admin_user)
    assert client.post(reverse("learning:snapshot_create"), {"version": "s1"}).status_code == 302
    page = client.get(reverse("learning:model_versions")).content.decode()
    row = page.split('data-snapshot="s1"')[1].split("</tr>")[0]
    # 3 labels: two accepted below the threshold, the hood released by the model.
    assert "body_damage 1 · deformity 1 · surface_damage 1" in row
    assert "charlie" in row
    assert "s1.zip</a>" in row
    download = client.get(reverse("learning:snapshot_download", args=["s1"]))
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="s1.zip"'
    names = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))).namelist()
    assert {"s1/annotations.json", "s1/manifest.json", "s1/data.yaml"} <= set(names)
    assert any(n.startswith("s1/masks/") and n.endswith(".png") for n in names)
    assert any(n.startswith("s1/labels/") and n.endswith(".txt") for n in names)
    assert any(n.startswith("s1/images/") for n in names)
    listed = client.get(reverse("learning:api_snapshots")).json()
    assert [(s["version"], s["images"], s["summary"]["reviewers"]) for s in listed] == [
        ("s1", 1, ["charlie"])
    ]
    assert listed[0]["archive"] == reverse("learning:api_snapshot_archive", args=["s1"])
    again = client.get(listed[0]["archive"])
    assert b"".join(again.streaming_content) == b"".join(
        client.get(reverse("learning:snapshot_download", args=["s1"])).streaming_content
    )
    assert (
        login(adjuster).get(reverse("learning:snapshot_download", args=["s1"])).status_code == 403
    )

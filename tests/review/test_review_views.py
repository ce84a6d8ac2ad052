"""One capability's tests, sharing its fixtures: the review app's HTTP endpoints, on the `world` of
cases and roles and the endpoint table that the role checks walk.

Every review endpoint for every role, the queue's order and filters, and htmx fragments."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pytest
from django.urls import reverse

from claims.models import Case
from inference.models import Finding, ModelVersion
from review import rle as rle_codec
from review import services
from review.models import Contest, ReviewDecision, ReviewRound
from review.selectors import QueueFilters, queue_cases
from tests import factories

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "customer", "adjuster", "admin"]


@pytest.fixture
def world(make_case, customer, adjuster, admin_user) -> dict[str, Any]:
    case = make_case(set_aside=1)
    users = {"anonymous": None, "customer": customer, "adjuster": adjuster, "admin": admin_user}
    return {"case": case, "users": users, "finding": Finding.objects.filter(case=case).first()}


def _contest(case: Case) -> Contest:
    """An open contest of the customer's (written directly: no round is opened)."""
    contest, _ = Contest.objects.get_or_create(
        case=case, finding=None, defaults={"reason": "permissions", "created_by": case.customer}
    )
    return contest


def _endpoints(world: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    case = world["case"]
    photo = case.photos.get(position=0)
    aside = case.photos.get(position=1)
    f = world["finding"]
    return [
        # (name, method, url, data): the reviewers' endpoints; the admins' model-lifecycle
        # ones under /review/ are tests/learning/test_learning_model_pages.py's
        ("queue", "get", reverse("review:queue"), {}),
        ("next", "post", reverse("review:queue_next"), {}),
        ("case", "get", reverse("review:case", args=[case.public_id]), {}),
        ("claim", "post", reverse("review:case_claim", args=[case.public_id]), {}),
        ("heartbeat", "post", reverse("review:case_heartbeat", args=[case.public_id]), {}),
        ("release", "post", reverse("review:case_release", args=[case.public_id]), {}),
        ("decide", "post", reverse("review:finding_decide", args=[f.pk]), {"action": "accept"}),
        ("edit", "post", reverse("review:finding_edit", args=[f.pk]), {}),
        ("add", "post", reverse("review:photo_add_damage", args=[photo.pk]), {}),
        ("confirm", "post", reverse("review:photo_confirm", args=[aside.pk]), {}),
        ("finish", "post", reverse("review:case_finish", args=[case.public_id]), {}),
        (
            "reopen",
            "post",
            reverse("review:case_reopen", args=[case.public_id]),
            {"reason": "permissions"},
        ),
        (
            "answer",
            "post",
            reverse("review:contest_answer", args=[_contest(case).pk]),
            {"answer": "permissions"},
        ),
        ("api_queue", "get", reverse("review:api_queue"), {}),
        ("api_finish", "post", reverse("review:api_case_finish", args=[case.public_id]), {}),
        (
            "api_reopen",
            "post",
            reverse("review:api_case_reopen", args=[case.public_id]),
            {"reason": "permissions"},
        ),
        (
            "api_decide",
            "post",
            reverse("review:api_finding_decision", args=[f.pk]),
            {"action": "accept"},
        ),
    ]


API = {"api_queue", "api_decide", "api_finish", "api_reopen"}


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
        elif role == "customer":
            assert response.status_code == 403, (role, name, response.status_code)
        else:
            allowed = {200, 201, 302, 409}
            assert response.status_code in allowed, (role, name, response.status_code)
    if role in ("anonymous", "customer"):
        assert not ReviewDecision.objects.exists()
        assert not ReviewRound.objects.exists()
        assert not Contest.objects.filter(answered_at__isnull=False).exists()
        unchanged = ModelVersion.objects.get(pk=world["case"].model_version.pk)
        assert (unchanged.threshold, unchanged.target_precision) == (0.6, 0.9)


def test_customer_sees_403_on_the_queue_with_a_reason(world, login) -> None:
    response = login(world["users"]["customer"]).get(reverse("review:queue"))
    assert response.status_code == 403


def test_queue_order_lowest_confidence_then_oldest(make_case) -> None:
    a = make_case([("deformity", "hood", 0.5)], age=dt.timedelta(days=1))
    b = make_case([("deformity", "hood", 0.2)])
    c = make_case([("deformity", "hood", 0.5)], age=dt.timedelta(days=3))
    make_case([("deformity", "hood", 0.95)])  # above the threshold: not in the queue
    d = make_case([("deformity", "hood", 0.9)], set_aside=1)  # set-aside photo: confidence 0
    got = list(queue_cases(filters=QueueFilters()))
    assert [x.pk for x in got] == [d.pk, b.pk, c.pk, a.pk]
    assert [(x.pending_findings, x.pending_photos) for x in got] == [(0, 1), (1, 0), (1, 0), (1, 0)]


def test_queue_filters(make_case, admin_user) -> None:
    other = factories.model_version_create(name="other", threshold=0.7)
    a = make_case([("deformity", "hood", 0.5)])
    b = make_case([("surface_damage", "bumper", 0.4)], age=dt.timedelta(days=10))
    c = make_case([("deformity", "bumper", 0.65)], model_version=other)
    ids = lambda f: [x.pk for x in queue_cases(filters=f)]  # noqa: E731
    assert ids(QueueFilters(damage="deformity")) == [a.pk, c.pk]
    assert ids(QueueFilters(part="bumper")) == [b.pk, c.pk]
    assert ids(QueueFilters(model_version=other.pk)) == [c.pk]
    assert ids(QueueFilters(age="gt7d")) == [b.pk]
    assert ids(QueueFilters(age="lt1d")) == [a.pk, c.pk]


def test_threshold_change_moves_findings_in_and_out(make_case, version) -> None:
    case = make_case([("deformity", "hood", 0.65)])
    assert list(queue_cases(filters=QueueFilters())) == []
    ModelVersion.objects.filter(pk=version.pk).update(threshold=0.7)
    assert [x.pk for x in queue_cases(filters=QueueFilters())] == [case.pk]


def test_decided_cases_wait_to_be_finished_and_reviewed_ones_leave_the_queue(
    make_case, adjuster
) -> None:
    case = make_case([("deformity", "hood", 0.3)])
    waiting = make_case([("deformity", "hood", 0.4)])
    services.lease_claim(case=case, user=adjuster)
    services.finding_decide(finding=Finding.objects.get(case=case), user=adjuster, action="reject")
    # Decided, not finished: first in the queue (the last step is quick), nothing pending.
    got = list(queue_cases(filters=QueueFilters()))
    assert [(x.pk, x.pending_findings, x.pending_photos) for x in got] == [
        (case.pk, 0, 0),
        (waiting.pk, 1, 0),
    ]
    services.case_finish_review(case=case, user=adjuster)
    assert Case.objects.get(pk=case.pk).status == "reviewed"
    assert [x.pk for x in queue_cases(filters=QueueFilters())] == [waiting.pk]
    services.case_reopen(case=case, user=adjuster, reason="second look")
    assert [x.pk for x in queue_cases(filters=QueueFilters())] == [case.pk, waiting.pk]


def test_queue_page_and_htmx_fragment(make_case, adjuster, login) -> None:
    case = make_case()
    client = login(adjuster)
    page = client.get(reverse("review:queue"))
    assert page.status_code == 200
    assert case.reference in page.content.decode()
    assert b"<kbd>?</kbd>" in page.content
    fragment = client.get(reverse("review:queue"), {"damage": "deformity"}, HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200
    assert b"<html" not in fragment.content
    assert case.reference.encode() in fragment.content


def test_second_adjuster_gets_a_conflict(make_case, adjuster, admin_user, login) -> None:
    case = make_case()
    assert (
        login(adjuster).post(reverse("review:case_claim", args=[case.public_id])).status_code == 302
    )
    second = login(admin_user)
    response = second.post(
        reverse("review:case_claim", args=[case.public_id]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 409
    assert b"charlie is reviewing this case" in response.content
    page = second.get(reverse("review:case", args=[case.public_id]))
    assert b"charlie is reviewing this case; you can look but not decide" in page.content


def test_decide_and_edit_return_the_findings_fragment(make_case, adjuster, login) -> None:
    case = make_case()
    client = login(adjuster)
    client.post(reverse("review:case_claim", args=[case.public_id]))
    f = Finding.objects.get(case=case, damage="deformity")
    response = client.post(
        reverse("review:finding_decide", args=[f.pk]), {"action": "reject"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    data = json.loads(
        response.content.decode()
        .split('id="findings-data" type="application/json">')[1]
        .split("</script>")[0]
    )
    assert {row["id"]: row["state"] for row in data}[f"f{f.pk}"] == "rejected"
    g = Finding.objects.get(case=case, damage="surface_damage")
    mask = np.zeros((48, 64), dtype=bool)
    mask[0:10, 0:10] = True
    response = client.post(
        reverse("review:finding_edit", args=[g.pk]),
        data=json.dumps(
            {"mask": rle_codec.encode(mask).as_coco(), "damage_type": "deformity", "part": "hood"}
        ),
        content_type="application/json",
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert b"data-ready-to-finish" in response.content
    assert b"data-case-reviewed" not in response.content
    finished = client.post(
        reverse("review:case_finish", args=[case.public_id]), HTTP_HX_REQUEST="true"
    )
    assert finished.status_code == 200
    assert b"data-case-reviewed" in finished.content
    assert b'id="reopen-form"' in finished.content
    assert b'data-action="accept"' not in finished.content  # read-only now
    again = client.post(
        reverse("review:case_finish", args=[case.public_id]), HTTP_HX_REQUEST="true"
    )
    assert again.status_code == 409
    assert b"read-only" in again.content
    reopened = client.post(reverse("review:case_reopen", args=[case.public_id]), {"reason": ""})
    assert reopened.status_code == 302
    assert Case.objects.get(pk=case.pk).status == "reviewed"  # a reason is required
    reopened = client.post(
        reverse("review:case_reopen", args=[case.public_id]), {"reason": "wrong part"}
    )
    assert reopened.status_code == 302
    page = client.get(reverse("review:case", args=[case.public_id])).content.decode()
    assert "Review round 2, reopened by charlie: wrong part" in page
    assert 'data-action="accept"' in page
    bad = client.post(
        reverse("review:finding_edit", args=[g.pk]),
        data="nope",
        content_type="application/json",
        HTTP_HX_REQUEST="true",
    )
    assert bad.status_code == 409
    assert b"must be JSON" in bad.content


def test_review_page_speaks_plain_names_and_keeps_the_raw_values_a_click_away(
    make_case, adjuster, login
) -> None:
    case = make_case([("deformity", "hood", 0.3), ("surface_damage", "door_shell", 0.4)])
    Finding.objects.filter(case=case, part="hood").update(c_base=0.92, k_agree=0.5)
    body = login(adjuster).get(reverse("review:case", args=[case.public_id])).content.decode()
    panel = body[body.index('<ol class="findings"') : body.index("</ol>")]
    assert '<div class="what">1. Bonnet: dent or deformation (photo 1)</div>' in panel
    assert '<div class="what">2. Door: scratch or paint damage (photo 1)</div>' in panel
    # The figures in words, each explained on hover.
    assert 'sure <span class="conf low">30%</span></span>' in panel
    assert "this photo 30%</span>" in panel
    assert "photos agreeing 50%</span>" in panel
    assert panel.count(' title="') >= 6
    assert "Below this version's threshold (60%) a person decides." in panel
    # The class names and raw figures are one click away, and nowhere else.
    assert (
        '<details class="raw-values"><summary>Raw values</summary><p><code>deformity on '
        "hood</code> · C_refined 0.300 · confidence 0.300 · C_base 0.920 · K_agree 0.500 · "
        "threshold 0.6</p></details>"
    ) in panel
    shown = panel
    while "<details" in shown:
        shown = shown[: shown.index("<details")] + shown[shown.index("</details>") + 10 :]
    for code in ("C_refined", "K_agree", "C_base", "door_shell", "surface_damage", "deformity"):
        assert code not in shown, code


def test_customer_case_page_shows_the_reviewed_report(make_case, customer, adjuster, login) -> None:
    case = make_case([("deformity", "hood", 0.3)])
    services.lease_claim(case=case, user=adjuster)
    services.finding_decide(finding=Finding.objects.get(case=case), user=adjuster, action="accept")
    services.case_finish_review(case=case, user=adjuster)
    page = login(customer).get(reverse("portal:case_detail", args=[case.public_id]))
    body = page.content.decode()
    assert 'id="reviewed-report"' in body
    assert '<span class="row-sentence">Bonnet: dent or deformation, medium</span>' in body
    assert "checked by an adjuster" in body


@pytest.mark.parametrize(
    ("role", "queue_link", "models_link"),
    [("customer", False, False), ("adjuster", True, False), ("admin", True, True)],
)
def test_top_bar_links_to_the_pages_of_each_role(
    world: dict[str, Any], login: Any, role: str, queue_link: bool, models_link: bool
) -> None:
    html = login(world["users"][role]).get(reverse("portal:case_list")).content.decode()
    assert (f'href="{reverse("review:queue")}" id="nav-queue"' in html) is queue_link
    assert (f'href="{reverse("learning:model_versions")}" id="nav-models"' in html) is models_link


def test_next_on_an_empty_queue_is_good_news_not_an_error(adjuster, login) -> None:
    response = login(adjuster).post(reverse("review:queue_next"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("review:queue")
    [message] = list(response.context["messages"])
    assert (message.level_tag, "queue is empty" in message.message) == ("info", True)


# A detection version (boxes) -------------------------------------------------------------


def _findings_payload(body: str) -> list[dict[str, Any]]:
    return json.loads(
        body.split('id="findings-data" type="application/json">')[1].split("</script>")[0]
    )


def test_review_page_sends_each_findings_shape(make_case, version, adjuster, login) -> None:
    ModelVersion.objects.filter(pk=version.pk).update(damage_backend="detection")
    case = make_case([("deformity", "hood", 0.3)], shape="box")
    client = login(adjuster)
    body = client.get(reverse("review:case", args=[case.public_id])).content.decode()
    (row,) = _findings_payload(body)
    assert (row["shape"], row["edit_shape"]) == ("box", None)
    page_data = json.loads(
        body.split('id="review-data" type="application/json">')[1].split("</script>")[0]
    )
    assert page_data["damage_backend"] == "detection"
    assert 'data-tool="box"' in body

    # A box drawn with the editor's box tool is saved as one.
    client.post(reverse("review:case_claim", args=[case.public_id]))
    mask = np.zeros((48, 64), dtype=bool)
    mask[5:20, 10:40] = True
    f = Finding.objects.get(case=case)
    response = client.post(
        reverse("review:finding_edit", args=[f.pk]),
        data=json.dumps(
            {
                "mask": rle_codec.encode(mask).as_coco(),
                "damage_type": "deformity",
                "part": "hood",
                "shape": "box",
            }
        ),
        content_type="application/json",
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    (row,) = _findings_payload(response.content.decode())
    assert (row["state"], row["shape"], row["edit_shape"]) == ("edited", "box", "box")


def test_a_script_decides_finishes_and_reopens_through_the_api(make_case, adjuster, login) -> None:
    case = make_case([("deformity", "hood", 0.3)])
    finding = Finding.objects.get(case=case)
    client = login(adjuster)
    finish = reverse("review:api_case_finish", args=[case.public_id])
    reopen = reverse("review:api_case_reopen", args=[case.public_id])
    decide = reverse("review:api_finding_decision", args=[finding.pk])
    early = client.post(finish)
    assert early.status_code == 409
    assert early.json() == {
        "detail": "1 item still to decide; decide it before finishing the review."
    }
    accepted = client.post(decide, {"action": "accept"}, content_type="application/json")
    assert accepted.status_code == 201
    assert accepted.json()["round"] == 1
    stale = client.post(decide, {"action": "reject"}, content_type="application/json")
    assert stale.status_code == 409
    assert "meanwhile" in stale.json()["detail"]
    report = client.post(finish)
    assert report.status_code == 201
    assert (report.json()["kept"], report.json()["reviewed_by"]) == (1, "charlie")
    assert client.post(reopen, {}, content_type="application/json").status_code == 400
    opened = client.post(reopen, {"reason": "photo 2 arrived"}, content_type="application/json")
    assert opened.status_code == 201
    assert (opened.json()["number"], opened.json()["reason"]) == (2, "photo 2 arrived")
    changed = client.post(
        decide,
        {"action": "reject", "supersedes": accepted.json()["id"]},
        content_type="application/json",
    )
    assert changed.status_code == 201
    assert changed.json()["round"] == 2


def test_the_review_api_takes_bearer_tokens_and_their_scope(make_case, adjuster) -> None:
    from django.test import Client

    from portal.api.tokens import api_token_create

    case = make_case([("deformity", "hood", 0.3)])
    finding = Finding.objects.get(case=case)
    decide = reverse("review:api_finding_decision", args=[finding.pk])
    read = api_token_create(user=adjuster, name="dashboard", scope="read").secret
    write = api_token_create(user=adjuster, name="triage", scope="write").secret
    reader = Client(HTTP_AUTHORIZATION=f"Bearer {read}")
    writer = Client(HTTP_AUTHORIZATION=f"Bearer {write}")
    assert reader.get(reverse("review:api_queue")).status_code == 200
    assert (
        reader.post(decide, {"action": "accept"}, content_type="application/json").status_code
        == 403
    )
    assert (
        writer.post(decide, {"action": "accept"}, content_type="application/json").status_code
        == 201
    )
    assert ReviewDecision.objects.get().reviewer == adjuster


def test_the_review_screen_overlays_the_models_own_numbered_render(
    make_case, adjuster, customer, login
) -> None:
    """The parts overlay is the model's render (numbered as the rows), for staff only; the
    customer gets their reviewed photo from `annotated.jpg`."""
    from django.core.files.base import ContentFile

    case = make_case([("deformity", "hood", 0.3)])
    photo = case.photos.get(position=0)
    photo.annotated.save("a.jpg", ContentFile(factories.jpeg_bytes(64, 48)), save=True)
    url = reverse("portal:photo_image", args=[case.public_id, photo.pk, "model"])
    page = login(adjuster).get(reverse("review:case", args=[case.public_id])).content.decode()
    assert f'"annotated_url": "{url}"' in page
    assert login(adjuster).get(url).status_code == 200
    assert login(customer).get(url).status_code == 404

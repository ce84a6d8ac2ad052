"""Every review endpoint for every role, the queue's order and filters, and htmx fragments."""

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
from review import seed, services
from review.models import ReviewDecision
from review.selectors import QueueFilters, queue_cases

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "customer", "adjuster", "admin"]


@pytest.fixture
def world(make_case, customer, adjuster, admin_user) -> dict[str, Any]:
    case = make_case(set_aside=1)
    users = {"anonymous": None, "customer": customer, "adjuster": adjuster, "admin": admin_user}
    return {"case": case, "users": users, "finding": Finding.objects.filter(case=case).first()}


def _endpoints(world: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    case = world["case"]
    photo = case.photos.get(position=0)
    aside = case.photos.get(position=1)
    version = case.model_version
    f = world["finding"]
    return [
        # (name, method, url, data); "reviewer" endpoints first, then admin-only ones
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
        ("api_queue", "get", reverse("review:api_queue"), {}),
        (
            "api_decide",
            "post",
            reverse("review:api_finding_decision", args=[f.pk]),
            {"action": "accept"},
        ),
        ("models", "get", reverse("review:model_versions"), {}),
        ("model", "get", reverse("review:model_version", args=[version.pk]), {}),
        (
            "threshold",
            "post",
            reverse("review:model_version_threshold", args=[version.pk]),
            {"threshold": "0.5"},
        ),
        (
            "promote",
            "post",
            reverse("review:model_version_status", args=[version.pk, "promote"]),
            {},
        ),
        ("retire", "post", reverse("review:model_version_status", args=[version.pk, "retire"]), {}),
        ("export", "post", reverse("review:snapshot_create"), {"version": "perm"}),
    ]


ADMIN_ONLY = {"models", "model", "threshold", "promote", "retire", "export"}
API = {"api_queue", "api_decide"}


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
        elif role == "customer" or (role == "adjuster" and name in ADMIN_ONLY):
            assert response.status_code == 403, (role, name, response.status_code)
        else:
            assert response.status_code in (200, 201, 302, 409), (role, name, response.status_code)
    if role in ("anonymous", "customer"):
        assert not ReviewDecision.objects.exists()
        assert ModelVersion.objects.get(pk=world["case"].model_version.pk).threshold == 0.6


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
    other = seed.model_version_create(name="other", threshold=0.7)
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


def test_decided_and_reviewed_cases_leave_the_queue(make_case, adjuster) -> None:
    case = make_case([("deformity", "hood", 0.3)])
    services.lease_claim(case=case, user=adjuster)
    services.finding_decide(finding=Finding.objects.get(case=case), user=adjuster, action="reject")
    assert Case.objects.get(pk=case.pk).status == "reviewed"
    assert list(queue_cases(filters=QueueFilters())) == []


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
    assert b"data-case-reviewed" in response.content
    bad = client.post(
        reverse("review:finding_edit", args=[g.pk]),
        data="nope",
        content_type="application/json",
        HTTP_HX_REQUEST="true",
    )
    assert bad.status_code == 409
    assert b"must be JSON" in bad.content


def test_model_version_page_shows_suggestion_and_plots(
    make_case, adjuster, admin_user, login
) -> None:
    case = make_case(
        [("deformity", "hood", 0.2), ("deformity", "door_shell", 0.4), ("deformity", "bumper", 0.5)]
    )
    services.lease_claim(case=case, user=adjuster)
    f = {x.part: x for x in Finding.objects.filter(case=case)}
    services.finding_decide(finding=f["hood"], user=adjuster, action="reject")
    services.finding_decide(finding=f["door_shell"], user=adjuster, action="accept")
    services.finding_decide(finding=f["bumper"], user=adjuster, action="accept")
    page = login(admin_user).get(
        reverse("review:model_version", args=[case.model_version.pk]), {"precision": "0.9"}
    )
    body = page.content.decode()
    assert "Suggested threshold <strong>0.400</strong>" in body
    assert "precision 1.000 (2 of 2 kept by reviewers; recall 1.00)" in body
    assert body.count("<svg") == 3


def test_threshold_form_changes_and_audits(version, admin_user, login) -> None:
    client = login(admin_user)
    response = client.post(
        reverse("review:model_version_threshold", args=[version.pk]), {"threshold": "0.45"}
    )
    assert response.status_code == 302
    assert ModelVersion.objects.get(pk=version.pk).threshold == 0.45
    page = client.get(reverse("review:model_version", args=[version.pk]))
    assert "model.threshold_changed · dana · 0.6 &rarr; 0.45" in page.content.decode()


def test_customer_case_page_shows_the_reviewed_report(make_case, customer, adjuster, login) -> None:
    case = make_case([("deformity", "hood", 0.3)])
    services.lease_claim(case=case, user=adjuster)
    services.finding_decide(finding=Finding.objects.get(case=case), user=adjuster, action="accept")
    page = login(customer).get(reverse("claims:case_detail", args=[case.public_id]))
    body = page.content.decode()
    assert 'id="reviewed-report"' in body
    assert "<td>hood</td><td>deformity</td><td>1</td>" in body


@pytest.mark.parametrize(
    ("role", "queue_link", "models_link"),
    [("customer", False, False), ("adjuster", True, False), ("admin", True, True)],
)
def test_top_bar_links_to_the_pages_of_each_role(
    world: dict[str, Any], login: Any, role: str, queue_link: bool, models_link: bool
) -> None:
    html = login(world["users"][role]).get(reverse("claims:case_list")).content.decode()
    assert (f'href="{reverse("review:queue")}" id="nav-queue"' in html) is queue_link
    assert (f'href="{reverse("review:model_versions")}" id="nav-models"' in html) is models_link


def test_next_on_an_empty_queue_is_good_news_not_an_error(adjuster, login) -> None:
    response = login(adjuster).post(reverse("review:queue_next"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("review:queue")
    [message] = list(response.context["messages"])
    assert (message.level_tag, "queue is empty" in message.message) == ("info", True)

"""Every HTML and API endpoint, for each role: anonymous, owner, other customer, adjuster, admin."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from claims.models import Case
from claims.services import Upload, case_submit

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "owner", "other_customer", "adjuster", "admin"]


@pytest.fixture
def case(customer, active_model, vehicle_jpeg) -> Case:  # type: ignore[no-untyped-def]
    return case_submit(
        customer=customer,
        policy_number="P-9",
        loss_date=dt.date(2026, 10, 2),
        loss_place="Depot",
        description="Scraped a pole",
        uploads=[Upload(name="bus.jpg", stream=io.BytesIO(vehicle_jpeg))],
    )


@pytest.fixture
def users(customer, other_customer, adjuster, admin_user):  # type: ignore[no-untyped-def]
    return {
        "anonymous": None,
        "owner": customer,
        "other_customer": other_customer,
        "adjuster": adjuster,
        "admin": admin_user,
    }


def _client(users, role: str) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    if users[role] is not None:
        client.force_login(users[role])
    return client


def _api_client(users, role: str) -> Client:  # type: ignore[no-untyped-def]
    if users[role] is None:
        return Client()
    token, _ = Token.objects.get_or_create(user=users[role])
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}")


# expected status per role: anonymous, owner, other_customer, adjuster, admin
CASE_PAGES = {
    "detail": ("/cases/{id}/", (302, 200, 404, 200, 200)),
    "list": ("/cases/", (302, 200, 200, 200, 200)),
    "new": ("/cases/new/", (302, 200, 200, 403, 403)),  # staff do not file claims
}


@pytest.mark.parametrize("page", sorted(CASE_PAGES))
@pytest.mark.parametrize("role", ROLES)
def test_html_pages(page: str, role: str, users, case) -> None:  # type: ignore[no-untyped-def]
    url, expected = CASE_PAGES[page]
    response = _client(users, role).get(url.format(id=case.public_id))
    assert response.status_code == expected[ROLES.index(role)]
    if response.status_code == 302:
        assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("role", ROLES)
def test_case_fragment_for_htmx(role: str, users, case) -> None:  # type: ignore[no-untyped-def]
    response = _client(users, role).get(f"/cases/{case.public_id}/", HTTP_HX_REQUEST="true")
    assert response.status_code == (302, 200, 404, 200, 200)[ROLES.index(role)]
    if response.status_code == 200:
        html = response.content.decode()
        assert html.startswith('<div id="case-body"')  # the fragment, not the whole page
        assert "<html" not in html


def _claim_form(make_jpeg) -> dict[str, object]:  # type: ignore[no-untyped-def]
    upload = io.BytesIO(make_jpeg())
    upload.name = "front.jpg"
    return {
        "policy_number": "P-10",
        "loss_date": "2026-10-01",
        "loss_place": "Quay",
        "description": "Hail",
        "photos": [upload],
    }


@pytest.mark.parametrize("role", ROLES)
def test_case_create_post(role: str, users, active_model, make_jpeg) -> None:  # type: ignore[no-untyped-def]
    response = _client(users, role).post("/cases/new/", _claim_form(make_jpeg))
    assert response.status_code == (302, 302, 302, 403, 403)[ROLES.index(role)]
    if role in ("owner", "other_customer"):
        case = Case.objects.get()
        assert case.customer == users[role]
        assert response["Location"] == f"/cases/{case.public_id}/"
    else:
        assert Case.objects.count() == 0
    if role in ("adjuster", "admin"):
        assert "log in with a customer account" in response.content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_api_case_create(role: str, users, active_model, make_jpeg) -> None:  # type: ignore[no-untyped-def]
    response = _api_client(users, role).post("/api/cases/", _claim_form(make_jpeg))
    assert response.status_code == (401, 201, 201, 403, 403)[ROLES.index(role)]
    assert Case.objects.count() == (1 if response.status_code == 201 else 0)


@pytest.mark.parametrize("role", ROLES)
def test_api_webhook_put(role: str, users, fake_dns) -> None:  # type: ignore[no-untyped-def]
    from claims.models import ApiClient

    fake_dns["example.org"] = ["93.184.215.14"]
    response = _api_client(users, role).put(
        "/api/webhook/",
        {"webhook_url": "https://example.org/hook"},
        content_type="application/json",
    )
    assert response.status_code == (401, 200, 200, 200, 200)[ROLES.index(role)]
    expected = 0 if role == "anonymous" else 1
    assert ApiClient.objects.filter(webhook_url="https://example.org/hook").count() == expected


@pytest.mark.parametrize("kind", ["thumb", "display", "annotated"])
@pytest.mark.parametrize("role", ROLES)
def test_photo_image(role: str, kind: str, users, case) -> None:  # type: ignore[no-untyped-def]
    from inference import services
    from inference.models import InferenceRun

    run = InferenceRun.objects.get(photo__case=case)
    services.run_claim(run_id=run.pk)
    services.run_execute(run_id=run.pk)  # writes the display, thumbnail and annotated copies
    photo = case.photos.get()
    response = _client(users, role).get(f"/cases/{case.public_id}/photos/{photo.pk}/{kind}.jpg")
    assert response.status_code == (302, 200, 404, 200, 200)[ROLES.index(role)]
    if response.status_code == 200:
        assert response["Content-Type"] == "image/jpeg"
        assert response["Cache-Control"] == "private, max-age=3600"


@pytest.mark.parametrize("role", ROLES)
def test_photo_image_with_api_token(role: str, users, case) -> None:  # type: ignore[no-untyped-def]
    from claims.photos import photo_derive

    photo = case.photos.get()
    photo_derive(photo=photo)
    response = _api_client(users, role).get(f"/cases/{case.public_id}/photos/{photo.pk}/thumb.jpg")
    assert response.status_code == (302, 200, 404, 200, 200)[ROLES.index(role)]


def test_photo_image_unknown_kind_is_404(customer, case) -> None:  # type: ignore[no-untyped-def]
    photo = case.photos.get()
    client = Client()
    client.force_login(customer)
    assert client.get(f"/cases/{case.public_id}/photos/{photo.pk}/original.jpg").status_code == 404


@pytest.mark.parametrize("role", ROLES)
def test_case_report_pdf(role: str, users, case) -> None:  # type: ignore[no-untyped-def]
    from inference import services
    from inference.models import InferenceRun

    run = InferenceRun.objects.get(photo__case=case)
    services.run_claim(run_id=run.pk)
    services.run_execute(run_id=run.pk)
    services.case_finalise(case_id=case.pk)
    response = _client(users, role).get(f"/cases/{case.public_id}/report.pdf")
    assert response.status_code == (302, 200, 404, 200, 200)[ROLES.index(role)]
    if response.status_code == 200:
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")


@pytest.mark.parametrize("role", ROLES)
def test_photo_retry_post(role: str, users, case) -> None:  # type: ignore[no-untyped-def]
    photo = case.photos.get()
    response = _client(users, role).post(f"/cases/{case.public_id}/photos/{photo.pk}/retry/")
    # owner/staff are redirected back to the case (with a message: nothing failed to retry)
    assert response.status_code == (302, 302, 404, 302, 302)[ROLES.index(role)]
    if role == "anonymous":
        assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("role", ROLES)
def test_photo_add_post(role: str, users, case, make_jpeg) -> None:  # type: ignore[no-untyped-def]
    upload = io.BytesIO(make_jpeg())
    upload.name = "extra.jpg"
    response = _client(users, role).post(f"/cases/{case.public_id}/photos/add/", {"photo": upload})
    assert response.status_code == (302, 302, 404, 302, 302)[ROLES.index(role)]
    expected_photos = 2 if role in ("owner", "adjuster", "admin") else 1
    assert case.photos.count() == expected_photos


@pytest.mark.parametrize("role", ROLES)
def test_case_contest_post(role: str, users, case) -> None:  # type: ignore[no-untyped-def]
    from review.models import Contest

    Case.objects.filter(pk=case.pk).update(status=Case.Status.RELEASED)
    response = _client(users, role).post(
        f"/cases/{case.public_id}/contests/", {"reason": "You missed the dent on the roof"}
    )
    # Only the owner contests; staff may not (403), another customer does not see it (404).
    assert response.status_code == (302, 302, 404, 403, 403)[ROLES.index(role)]
    if role == "anonymous":
        assert response["Location"].startswith("/accounts/login/")
    assert Contest.objects.filter(case=case).count() == (1 if role == "owner" else 0)


@pytest.mark.parametrize("role", ROLES)
def test_api_case_detail(role: str, users, case) -> None:  # type: ignore[no-untyped-def]
    response = _api_client(users, role).get(f"/api/cases/{case.public_id}/")
    assert response.status_code == (401, 200, 404, 200, 200)[ROLES.index(role)]


@pytest.mark.parametrize("role", ROLES)
def test_api_case_list(role: str, users, case) -> None:  # type: ignore[no-untyped-def]
    response = _api_client(users, role).get("/api/cases/")
    assert response.status_code == (401, 200, 200, 200, 200)[ROLES.index(role)]
    if response.status_code == 200:
        ids = [c["id"] for c in response.json()["results"]]
        sees = role in ("owner", "adjuster", "admin")
        assert (str(case.public_id) in ids) == sees


@pytest.mark.parametrize("role", ROLES)
def test_api_webhook(role: str, users) -> None:  # type: ignore[no-untyped-def]
    response = _api_client(users, role).get("/api/webhook/")
    assert response.status_code == (401, 200, 200, 200, 200)[ROLES.index(role)]


@pytest.mark.parametrize("role", ROLES)
def test_api_schema(role: str, users) -> None:  # type: ignore[no-untyped-def]
    response = _api_client(users, role).get("/api/schema/")  # the schema is public
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")


@pytest.mark.parametrize("role", ROLES)
def test_django_admin(role: str, users) -> None:  # type: ignore[no-untyped-def]
    response = _client(users, role).get("/django-admin/")
    assert response.status_code == (302, 302, 302, 302, 200)[ROLES.index(role)]


# Pages anyone may open; a logged-in user is sent on from the root.
PUBLIC_PAGES = {
    "/": (302, 302, 302, 302, 302),
    "/accounts/login/": (200, 200, 200, 200, 200),
    "/accounts/signup/": (200, 200, 200, 200, 200),
}


@pytest.mark.parametrize("url", sorted(PUBLIC_PAGES))
@pytest.mark.parametrize("role", ROLES)
def test_public_pages(url: str, role: str, users) -> None:  # type: ignore[no-untyped-def]
    response = _client(users, role).get(url)
    assert response.status_code == PUBLIC_PAGES[url][ROLES.index(role)]


@pytest.mark.parametrize("role", ROLES)
def test_logout_post(role: str, users) -> None:  # type: ignore[no-untyped-def]
    client = _client(users, role)
    response = client.post("/accounts/logout/")
    assert (response.status_code, response["Location"]) == (302, "/accounts/login/")
    assert client.get("/cases/").status_code == 302  # logged out


def test_signup_creates_a_customer_and_logs_in() -> None:
    from common.access import Role, role_of

    client = Client()
    response = client.post(
        "/accounts/signup/",
        {
            "username": "erin",
            "email": "erin@example.org",
            "password1": "a-long-pass-phrase-77",
            "password2": "a-long-pass-phrase-77",
        },
    )
    assert (response.status_code, response["Location"]) == (302, "/cases/")
    from django.contrib.auth.models import User

    assert role_of(User.objects.get(username="erin")) == Role.CUSTOMER
    assert client.get("/cases/new/").status_code == 200


# Every route of the platform must appear in a permission test above: a new endpoint without
# one fails here. review/ has its own: the review app's (tests/review/test_review_views.py)
# and the model lifecycle's, included there too (tests/learning/test_learning_views.py,
# test_learning_model_pages.py); so has django-admin/.
COVERED_ROUTES = {
    "",
    "accounts/login/",
    "accounts/logout/",
    "accounts/signup/",
    "cases/",
    "cases/new/",
    "cases/<uuid:public_id>/",
    "cases/<uuid:public_id>/report.pdf",
    "cases/<uuid:public_id>/photos/add/",
    "cases/<uuid:public_id>/contests/",
    "cases/<uuid:public_id>/photos/<int:photo_id>/retry/",
    "cases/<uuid:public_id>/photos/<int:photo_id>/<str:kind>.jpg",
    "api/cases/",
    "api/cases/<uuid:public_id>/",
    "api/webhook/",
    "api/schema/",
    # API tokens and the API docs: tests/portal/test_api_tokens.py, test_api_schema.py.
    "accounts/api-tokens/",
    "accounts/api-tokens/<int:token_id>/revoke/",
    "api/tokens/",
    "api/tokens/<int:token_id>/",
    "api/auth/token/",
    "api/docs/",
    "api/redoc/",
    "django-admin/",
    # Public on purpose (a redirect to the static icon): tests/platform/test_safe_defaults.py.
    "favicon.ico",
}


def _routes(patterns, prefix: str = "") -> set[str]:  # type: ignore[no-untyped-def]
    from django.urls import URLResolver

    found: set[str] = set()
    for p in patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            if route in ("review/", "django-admin/"):
                found.add(route if route == "django-admin/" else "")
                continue
            found |= _routes(p.url_patterns, route)
        else:
            found.add(route)
    return found


def test_every_route_has_a_permission_test() -> None:
    from django.urls import get_resolver

    assert _routes(get_resolver().url_patterns) == COVERED_ROUTES

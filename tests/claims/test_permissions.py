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
    "new": ("/cases/new/", (302, 200, 200, 200, 200)),
}


@pytest.mark.parametrize("page", sorted(CASE_PAGES))
@pytest.mark.parametrize("role", ROLES)
def test_html_pages(page: str, role: str, users, case) -> None:  # type: ignore[no-untyped-def]
    url, expected = CASE_PAGES[page]
    response = _client(users, role).get(url.format(id=case.public_id))
    assert response.status_code == expected[ROLES.index(role)]


@pytest.mark.parametrize("role", ROLES)
def test_photo_image(role: str, users, case) -> None:  # type: ignore[no-untyped-def]
    from claims.services import photo_derive

    photo = case.photos.get()
    photo_derive(photo=photo)
    response = _client(users, role).get(f"/cases/{case.public_id}/photos/{photo.pk}/thumb.jpg")
    assert response.status_code == (302, 200, 404, 200, 200)[ROLES.index(role)]


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

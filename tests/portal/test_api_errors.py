"""Every error under /api/ is JSON, `{"detail": ...}`; the site's pages stay HTML."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import User
from django.db import InterfaceError, OperationalError
from django.test import Client
from rest_framework.authtoken.models import Token

from portal.api import views as api_views


@pytest.fixture
def api(customer: User) -> Client:
    token, _ = Token.objects.get_or_create(user=customer)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}")


@pytest.mark.parametrize(
    "url", ["/api/nothing-here/", "/api/cases/x/", "/api/cases/not-a-uuid/photos/"]
)
def test_an_unknown_api_url_is_a_json_404(api: Client, url: str) -> None:
    response = api.get(url)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


def test_an_unknown_case_is_a_json_404(api: Client) -> None:
    response = api.get(f"/api/cases/{uuid.uuid4()}/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "No such case"}


def test_no_credentials_is_a_json_401(db: None) -> None:
    response = Client().get("/api/cases/")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_a_wrong_method_is_a_json_405(api: Client) -> None:
    response = api.delete("/api/cases/")

    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": 'Method "DELETE" not allowed.'}


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_a_database_error_in_an_api_view_is_a_json_503(
    api: Client, monkeypatch: pytest.MonkeyPatch, error: type[Exception]
) -> None:
    def unreachable(**kwargs: object) -> None:
        raise error("connection to server at 10.0.0.5 refused")

    monkeypatch.setattr(api_views.selectors, "cases_visible", unreachable)

    response = api.get("/api/cases/")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "30"
    assert response.json() == {"detail": "The database is unavailable; try again in a minute."}


def test_an_unexpected_error_under_api_is_a_json_500(
    api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(api_views.selectors, "cases_visible", broken)
    api.raise_request_exception = False

    response = api.get("/api/cases/")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Server error; the error was logged."}


def test_a_page_404_stays_the_sites_html_page(client: Client, customer: User) -> None:
    client.force_login(customer)

    response = client.get("/nothing-here/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert 'id="not-found"' in response.content.decode()


def test_a_database_error_on_a_page_is_not_turned_into_json(
    client: Client, customer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.force_login(customer)
    monkeypatch.setattr(
        "portal.views.selectors.cases_visible",
        lambda **kwargs: (_ for _ in ()).throw(OperationalError("down")),
    )

    with pytest.raises(OperationalError):
        client.get("/cases/")

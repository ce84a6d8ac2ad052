"""Login throttling (django-axes): a user name+address pair is locked out after failures."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

WRONG = "not-the-password"
RIGHT = "pass-word-123"  # tests/conftest.py's UserFactory


def _login(client: Client, username: str, password: str) -> object:
    return client.post(reverse("login"), {"username": username, "password": password})


@pytest.fixture(autouse=True)
def _limits(settings: Any) -> None:
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def test_six_failures_then_the_right_password_is_locked_out(client: Client, customer: User) -> None:
    for _ in range(6):
        response = _login(client, "alice", WRONG)
    assert response.status_code == 429

    response = _login(client, "alice", RIGHT)

    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    # The login view renders its form first; axes' middleware replaces that response.
    assert [t.name for t in response.templates][-2:] == [
        "registration/locked_out.html",
        "base.html",
    ]
    body = response.content.decode()
    assert "Too many attempts" in body
    assert "Try again in 15 minutes" in body
    assert "_auth_user_id" not in client.session


def test_failures_below_the_limit_show_the_login_form(client: Client, customer: User) -> None:
    for _ in range(4):
        response = _login(client, "alice", WRONG)

    assert response.status_code == 200
    assert "did not match" in response.content.decode()


def test_a_success_before_the_limit_resets_the_count(client: Client, customer: User) -> None:
    for _ in range(4):
        _login(client, "alice", WRONG)
    response = _login(client, "alice", RIGHT)
    assert response.status_code == 302
    assert AccessAttempt.objects.count() == 0
    client.logout()

    for _ in range(4):
        response = _login(client, "alice", WRONG)
    assert response.status_code == 200
    response = _login(client, "alice", RIGHT)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(customer.pk)


def test_the_lockout_is_per_user_name_and_address(
    client: Client, customer: User, other_customer: User
) -> None:
    for _ in range(6):
        _login(client, "alice", WRONG)

    assert _login(client, "bob", RIGHT).status_code == 302
    other_address = Client(REMOTE_ADDR="192.0.2.7")
    assert _login(other_address, "alice", RIGHT).status_code == 302


def test_the_admin_login_is_throttled_too(client: Client, admin_user: User) -> None:
    url = reverse("admin:login")
    for _ in range(6):
        client.post(url, {"username": "dana", "password": WRONG})

    response = client.post(url, {"username": "dana", "password": RIGHT})

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_signup_still_logs_the_new_user_in(client: Client, db: None) -> None:
    response = client.post(
        reverse("signup"),
        {
            "username": "erin",
            "email": "erin@example.com",
            "password1": "a-long-pass-phrase",
            "password2": "a-long-pass-phrase",
        },
    )

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(User.objects.get(username="erin").pk)


def test_the_api_takes_no_passwords(customer: User) -> None:
    """No API path checks a password (tokens come from the admin), so none needs throttling."""
    basic = base64.b64encode(f"alice:{RIGHT}".encode()).decode()

    response = Client(HTTP_AUTHORIZATION=f"Basic {basic}").get("/api/cases/")

    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}

"""API tokens: the settings page, the token API, Bearer authentication and the script log-in."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from claims.models import ApiToken, AuditEvent, Case
from portal.api.tokens import MAX_ACTIVE_TOKENS, api_token_create

pytestmark = pytest.mark.django_db

SECRET = re.compile(r"dcr_[A-Za-z0-9_-]{43}")
RIGHT = "pass-word-123"  # tests/conftest.py's UserFactory


def _bearer(secret: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.fixture(autouse=True)
def _clean_throttles() -> None:
    cache.clear()  # DRF's throttle counts live in the cache


# The settings page ---------------------------------------------------------------------------


def test_the_page_shows_a_new_secret_once_then_only_its_prefix(
    client: Client, customer: User
) -> None:
    client.force_login(customer)

    posted = client.post("/accounts/api-tokens/", {"name": "fleet sync", "scope": "read"})

    # Post/redirect/get: the page after the redirect shows the secret, once.
    assert posted.status_code == 302
    assert posted["Location"] == "/accounts/api-tokens/"
    assert SECRET.findall(posted.content.decode()) == []
    created = client.get("/accounts/api-tokens/")
    assert created["Cache-Control"] == "no-store"
    (secret,) = set(SECRET.findall(created.content.decode()))
    token = ApiToken.objects.get(user=customer)
    assert (token.name, token.scope, token.prefix) == ("fleet sync", "read", secret[:12])
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert token.last_used_at is None
    assert secret not in str(dict(client.session))  # not left in the session

    page = client.get("/accounts/api-tokens/").content.decode()  # a reload
    assert SECRET.findall(page) == []
    assert ApiToken.objects.count() == 1
    assert f"{secret[:12]}…" in page
    assert "fleet sync" in page
    assert token.created_at.strftime("%Y-%m-%d %H:%M") in page
    assert "never" in page  # not used yet

    assert _bearer(secret).get("/api/cases/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    page = client.get("/accounts/api-tokens/").content.decode()
    assert token.last_used_at.strftime("%Y-%m-%d %H:%M") in page


def test_the_page_refuses_a_token_without_a_name(client: Client, customer: User) -> None:
    client.force_login(customer)

    response = client.post("/accounts/api-tokens/", {"name": "  ", "scope": "write"})

    assert response.status_code == 400
    assert "Give the token a name" in response.content.decode()
    assert SECRET.findall(response.content.decode()) == []
    assert ApiToken.objects.count() == 0


def test_the_page_revokes_a_token(client: Client, customer: User) -> None:
    created = api_token_create(user=customer, name="old laptop")
    client.force_login(customer)

    response = client.post(f"/accounts/api-tokens/{created.token.pk}/revoke/")

    assert (response.status_code, response["Location"]) == (302, "/accounts/api-tokens/")
    assert ApiToken.objects.get().revoked_at is not None
    page = client.get("/accounts/api-tokens/").content.decode()
    assert "Token old laptop (" in page  # the message says which
    assert "No tokens yet." in page
    refused = _bearer(created.secret).get("/api/cases/")
    assert refused.status_code == 401
    assert refused.json() == {"detail": "This token was revoked; create a new one."}
    assert list(AuditEvent.objects.values_list("verb", flat=True)) == [
        "api_token.created",
        "api_token.revoked",
    ]


def test_the_page_needs_the_csrf_token(customer: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(customer)
    created = api_token_create(user=customer, name="ci")

    assert client.post("/accounts/api-tokens/", {"name": "x"}).status_code == 403
    assert client.post(f"/accounts/api-tokens/{created.token.pk}/revoke/").status_code == 403
    assert list(ApiToken.objects.values_list("name", "revoked_at")) == [("ci", None)]


# Who may do what: anonymous, owner, another customer, adjuster, admin.
@pytest.mark.parametrize(
    ("role", "page", "revoke", "api_list", "api_delete"),
    [
        ("anonymous", 302, 302, 401, 401),
        ("owner", 200, 302, 200, 204),
        ("other_customer", 200, 404, 200, 404),
        ("adjuster", 200, 404, 200, 404),
        ("admin", 200, 404, 200, 404),
    ],
)
def test_token_routes_per_role(  # type: ignore[no-untyped-def]
    role, page, revoke, api_list, api_delete, customer, other_customer, adjuster, admin_user
) -> None:
    users = {
        "anonymous": None,
        "owner": customer,
        "other_customer": other_customer,
        "adjuster": adjuster,
        "admin": admin_user,
    }
    created = api_token_create(user=customer, name="owner's")
    other = api_token_create(user=customer, name="owner's second")
    web, api = Client(), Client()
    if users[role] is not None:
        web.force_login(users[role])
        api = _bearer(api_token_create(user=users[role], name="mine").secret)

    assert web.get("/accounts/api-tokens/").status_code == page
    listed = api.get("/api/tokens/")
    assert listed.status_code == api_list
    if api_list == 200:
        names = [t["name"] for t in listed.json()["results"]]
        assert names == (["mine", "owner's second", "owner's"] if role == "owner" else ["mine"])
    assert api.delete(f"/api/tokens/{created.token.pk}/").status_code == api_delete
    assert web.post(f"/accounts/api-tokens/{other.token.pk}/revoke/").status_code == revoke
    revoked = ApiToken.objects.filter(pk__in=[created.token.pk, other.token.pk])
    assert revoked.filter(revoked_at__isnull=False).count() == (2 if role == "owner" else 0)


# The token API and Bearer authentication -----------------------------------------------------


def test_create_list_and_revoke_through_the_api(customer: User) -> None:
    api = _bearer(api_token_create(user=customer, name="admin script").secret)

    response = api.post(
        "/api/tokens/", {"name": "nightly export", "scope": "read"}, content_type="application/json"
    )

    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert SECRET.fullmatch(body["token"])
    token = ApiToken.objects.get(pk=body["id"])
    assert body == {
        "id": token.pk,
        "name": "nightly export",
        "scope": "read",
        "prefix": body["token"][:12],
        "created_at": body["created_at"],
        "last_used_at": None,
        "token": body["token"],
    }
    listed = api.get("/api/tokens/").json()
    assert [t["name"] for t in listed["results"]] == ["nightly export", "admin script"]
    assert all("token" not in t for t in listed["results"])

    assert _bearer(body["token"]).get("/api/cases/").status_code == 200
    assert api.delete(f"/api/tokens/{token.pk}/").status_code == 204
    assert api.delete(f"/api/tokens/{token.pk}/").status_code == 404

    refused = _bearer(body["token"]).get("/api/cases/")
    assert refused.status_code == 401
    assert refused["Content-Type"] == "application/json"
    assert refused["WWW-Authenticate"] == 'Bearer realm="api"'
    assert refused.json() == {"detail": "This token was revoked; create a new one."}


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Bearer dcr_" + "x" * 43, "Invalid token."),
        ("Bearer not-one-of-ours", "Invalid token."),
        ("Bearer", "Invalid Authorization header: send 'Authorization: Bearer <token>'."),
        ("Bearer a b", "Invalid Authorization header: send 'Authorization: Bearer <token>'."),
    ],
)
def test_a_bad_bearer_token_is_a_json_401(customer: User, header: str, detail: str) -> None:
    api_token_create(user=customer, name="real")

    response = Client(HTTP_AUTHORIZATION=header).get("/api/cases/")

    assert response.status_code == 401
    assert response.json() == {"detail": detail}


def test_no_credentials_ask_for_a_bearer_token(db: None) -> None:
    response = Client().get("/api/cases/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_token_of_an_inactive_user_is_refused(customer: User) -> None:
    created = api_token_create(user=customer, name="left")
    User.objects.filter(pk=customer.pk).update(is_active=False)

    assert _bearer(created.secret).get("/api/cases/").status_code == 401


def test_a_read_token_may_only_read(customer: User) -> None:
    api = _bearer(api_token_create(user=customer, name="dashboard", scope="read").secret)

    assert api.get("/api/cases/").status_code == 200
    refused = api.put("/api/webhook/", {"webhook_url": ""}, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json() == {
        "detail": "This token is read-only; create a token with the 'write' scope to change "
        "anything."
    }
    created = api.post("/api/tokens/", {"name": "escalate"}, content_type="application/json")
    assert created.status_code == 403
    assert ApiToken.objects.count() == 1


def test_only_the_digest_is_stored(customer: User) -> None:
    created = api_token_create(user=customer, name="ci")

    row = ApiToken.objects.values().get()
    assert created.secret not in {str(v) for v in row.values()}
    assert row["digest"] == hashlib.sha256(created.secret.encode()).hexdigest()


def test_last_used_is_written_at_most_once_a_minute(customer: User) -> None:
    created = api_token_create(user=customer, name="poller")
    api = _bearer(created.secret)
    api.get("/api/cases/")
    first = ApiToken.objects.get().last_used_at
    api.get("/api/cases/")
    assert ApiToken.objects.get().last_used_at == first

    ApiToken.objects.update(last_used_at=timezone.now() - timedelta(minutes=2))
    api.get("/api/cases/")
    assert ApiToken.objects.get().last_used_at > first  # type: ignore[operator]


def test_the_number_of_active_tokens_is_capped(customer: User) -> None:
    for n in range(MAX_ACTIVE_TOKENS):
        api_token_create(user=customer, name=f"t{n}")
    client = Client()
    client.force_login(customer)

    response = client.post("/api/tokens/", {"name": "one more"}, content_type="application/json")

    assert response.status_code == 400
    assert "revoke one you no longer use first" in response.json()["detail"]
    assert ApiToken.objects.count() == MAX_ACTIVE_TOKENS


def test_the_older_token_scheme_still_works(customer: User) -> None:
    from rest_framework.authtoken.models import Token

    key = Token.objects.create(user=customer).key

    assert Client(HTTP_AUTHORIZATION=f"Token {key}").get("/api/cases/").status_code == 200


def test_a_bearer_token_fetches_photo_images(customer: User) -> None:
    """The photo URLs the API returns accept the same token (photo_image's own check)."""
    created = api_token_create(user=customer, name="images")
    case = Case.objects.create(
        customer=customer,
        policy_number="P",
        loss_date="2026-11-01",
        loss_place="x",
        description="y",
    )
    url = f"/cases/{case.public_id}/photos/1/thumb.jpg"

    assert Client().get(url).status_code == 302  # to the log-in page
    assert _bearer(created.secret).get(url).status_code == 404  # authenticated: no such photo


# POST /api/auth/token/: a password for a token, throttled by django-axes ---------------------


@pytest.fixture
def axes_on(settings: Any) -> None:
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def _obtain(username: str, password: str, **extra: str) -> Any:
    return Client().post(
        "/api/auth/token/",
        {"username": username, "password": password, **extra},
        content_type="application/json",
    )


def test_a_password_gets_a_working_token(customer: User, axes_on: None) -> None:
    response = _obtain("alice", RIGHT, name="cron job", scope="read")

    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["scope"]) == ("cron job", "read")
    assert _bearer(body["token"]).get("/api/cases/").status_code == 200
    assert ApiToken.objects.get().user == customer


def test_a_wrong_password_is_a_400_and_no_token(customer: User, axes_on: None) -> None:
    response = _obtain("alice", "wrong")

    assert response.status_code == 400
    assert response.json() == {"detail": "Unable to log in with the user name and password."}
    assert ApiToken.objects.count() == 0
    assert AccessAttempt.objects.get().failures_since_start == 1


def test_failed_passwords_lock_the_token_path_out(customer: User, axes_on: None) -> None:
    answers = [_obtain("alice", "wrong").status_code for _ in range(5)]

    assert answers == [400, 400, 400, 400, 429]
    locked = _obtain("alice", RIGHT)
    assert locked.status_code == 429
    assert locked["Content-Type"] == "application/json"
    assert locked["Retry-After"] == "900"
    assert locked.json() == {
        "detail": "Too many failed log-ins for this user name from this address. "
        "Expected available in 900 seconds."
    }
    assert ApiToken.objects.count() == 0
    # The lockout is shared with the web log-in: same user name, same address.
    web = Client().post("/accounts/login/", {"username": "alice", "password": RIGHT})
    assert web.status_code == 429


def test_the_token_path_needs_a_user_name_and_password(db: None) -> None:
    response = Client().post("/api/auth/token/", {}, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {
        "username": ["This field is required."],
        "password": ["This field is required."],
    }

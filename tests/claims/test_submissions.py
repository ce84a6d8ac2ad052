"""Forms that create things are sent once: the same submission key twice answers with the
first result (claims.submissions), for a claim, an added photo, a contest and an API token;
two sendings at the same moment are decided by the unique constraint."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from PIL import Image

from claims import submissions
from claims.models import ApiToken, Case, FormSubmission, Photo
from review.models import Contest
from tests import factories

pytestmark = pytest.mark.django_db

KEY = "0123456789abcdef0123456789abcdef"
KEY_FIELD = re.compile(r'<input type="text" name="submission_key" value="([0-9a-f]{32})" hidden>')


def _jpeg() -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 30, 30)).save(buffer, "JPEG")
    buffer.seek(0)
    buffer.name = "front.jpg"
    return buffer


def _claim(key: str) -> dict[str, Any]:
    return {
        "policy_number": "DUP-1",
        "loss_date": "2026-11-01",
        "loss_place": "Elm street",
        "description": "Reversed into a bollard",
        "photos": [_jpeg()],
        "submission_key": key,
    }


def _said(response: Any) -> str:
    """The last message of the answer (earlier ones were not read yet)."""
    return [str(m) for m in get_messages(response.wsgi_request)][-1]


@pytest.fixture(autouse=True)
def _active_version(db: None) -> None:
    factories.model_version_create(status="active")


@pytest.fixture
def client_of() -> Any:
    def make(user: Any) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


def test_the_forms_carry_a_fresh_key_each_time_they_are_rendered(client_of, customer) -> None:
    client = client_of(customer)
    keys = [
        KEY_FIELD.findall(client.get(reverse("portal:case_create")).content.decode())
        for _ in range(2)
    ]
    assert len(keys[0]) == 1
    assert keys[0] != keys[1]
    assert len(KEY_FIELD.findall(client.get(reverse("api_tokens")).content.decode())) == 1


def test_the_same_claim_sent_twice_files_one_case(client_of, customer) -> None:
    client = client_of(customer)
    first = client.post(reverse("portal:case_create"), _claim(KEY))
    case = Case.objects.get()
    assert first.status_code == 302
    assert first["Location"] == reverse("portal:case_detail", args=[case.public_id])

    again = client.post(reverse("portal:case_create"), _claim(KEY))

    assert again.status_code == 302
    assert again["Location"] == first["Location"]  # the first claim, not a new one
    assert _said(again) == (
        f"You sent this claim already: it is claim {case.reference}, below. "
        "Nothing was filed twice."
    )
    assert Case.objects.count() == 1
    assert Photo.objects.count() == 1
    row = FormSubmission.objects.get()
    assert (row.user, row.key, row.kind, row.object_id) == (customer, KEY, "claims.case", case.pk)
    # Another key is another claim.
    client.post(reverse("portal:case_create"), _claim("f" * 32))
    assert Case.objects.count() == 2


def test_a_key_whose_first_sending_failed_may_be_sent_again(client_of, customer) -> None:
    client = client_of(customer)
    bad = _claim(KEY) | {"photos": [io.BytesIO(b"not a photo")]}
    refused = client.post(reverse("portal:case_create"), bad)
    assert refused.status_code == 400
    assert KEY_FIELD.findall(refused.content.decode()) == [KEY]  # the form keeps its key
    assert not FormSubmission.objects.exists()
    assert client.post(reverse("portal:case_create"), _claim(KEY)).status_code == 302
    assert Case.objects.count() == 1


def test_two_sendings_at_the_same_moment_make_one_case(
    client_of, customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second sending looks the key up before the first has committed (it finds
    nothing), then its insert meets the unique constraint: it answers with the first."""
    client = client_of(customer)
    client.post(reverse("portal:case_create"), _claim(KEY))
    first = Case.objects.get()
    real = submissions._earlier
    looked = []

    def not_yet_committed(**kwargs: Any) -> Any:
        looked.append(kwargs["key"])
        return None if len(looked) == 1 else real(**kwargs)

    monkeypatch.setattr(submissions, "_earlier", not_yet_committed)
    made = []
    sent = submissions.submit_once(
        user=customer, key=KEY, model=Case, create=lambda: made.append(1) or first
    )
    assert (sent.value, sent.again) == (first, True)
    assert made == []  # the key's row is inserted first: refused, it makes nothing
    assert looked == [KEY, KEY]
    assert Case.objects.count() == 1
    assert FormSubmission.objects.count() == 1


def test_an_added_photo_and_a_contest_sent_twice_are_added_once(client_of, customer) -> None:
    version = factories.model_version_create(version="2")
    case = factories.case_create(customer=customer, version=version, findings=[])
    client = client_of(customer)
    url = reverse("portal:case_detail", args=[case.public_id])
    for _ in range(2):
        response = client.post(
            reverse("portal:photo_add", args=[case.public_id]),
            {"photo": _jpeg(), "submission_key": KEY},
        )
        assert response["Location"] == url
    assert _said(response) == "You added this photo already: it is photo 2, below."
    assert Photo.objects.filter(case=case).count() == 2  # the first one and the added one
    Case.objects.filter(pk=case.pk).update(status=Case.Status.NEEDS_REVIEW)

    for _ in range(2):
        response = client.post(
            reverse("portal:case_contest", args=[case.public_id]),
            {"reason": "The mirror is broken too", "submission_key": "e" * 32},
        )
        assert response["Location"] == url
    assert _said(response) == "You sent this already; an adjuster will answer you here."
    assert Contest.objects.filter(case=case).count() == 1


def test_an_api_token_form_sent_twice_creates_one_token(client_of, customer) -> None:
    client = client_of(customer)
    form = {"name": "fleet sync", "scope": "read", "submission_key": KEY}
    assert client.post(reverse("api_tokens"), form).status_code == 302
    shown = client.get(reverse("api_tokens")).content.decode()
    assert "Your new token" in shown

    again = client.post(reverse("api_tokens"), form)

    assert again.status_code == 302
    token = ApiToken.objects.get()
    assert _said(again) == (
        f"You created this token already: fleet sync ({token.prefix}…), in the list below. "
        "Its secret was shown once; if you did not copy it, revoke the token and create "
        "another."
    )
    page = client.get(reverse("api_tokens")).content.decode()
    assert "Your new token" not in page
    assert ApiToken.objects.count() == 1

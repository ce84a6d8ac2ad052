from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from rest_framework.authtoken.models import Token

from claims.models import ApiClient, Case, Photo
from inference import services
from inference.models import InferenceRun

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(customer) -> Client:  # type: ignore[no-untyped-def]
    cache.clear()  # throttling counts live in the cache
    token, _ = Token.objects.get_or_create(user=customer)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}")


def _form(*files: tuple[str, bytes]) -> dict[str, Any]:
    uploads = []
    for name, data in files:
        f = io.BytesIO(data)
        f.name = name
        uploads.append(f)
    return {
        "policy_number": "API-1",
        "loss_date": "2026-11-02",
        "loss_place": "Ring road",
        "description": "Hail",
        "photos": uploads,
    }


def test_create_case_with_photos(api, active_model, vehicle_jpeg) -> None:  # type: ignore[no-untyped-def]
    response = api.post("/api/cases/", _form(("a.jpg", vehicle_jpeg), ("b.jpg", vehicle_jpeg)))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "processing"
    assert [p["original_name"] for p in body["photos"]] == ["a.jpg", "b.jpg"]
    assert body["findings"] == []
    case = Case.objects.get(public_id=body["id"])
    assert InferenceRun.objects.filter(photo__case=case).count() == 2


def test_bad_file_is_named_and_nothing_stored(api, active_model, vehicle_jpeg) -> None:  # type: ignore[no-untyped-def]
    response = api.post("/api/cases/", _form(("a.jpg", vehicle_jpeg), ("evil.png", b"MZ\x90\x00")))
    assert response.status_code == 400
    assert any("evil.png" in m for m in response.json()["photos"])
    assert (Case.objects.count(), Photo.objects.count()) == (0, 0)


def test_findings_and_urls_after_processing(api, active_model, vehicle_jpeg) -> None:  # type: ignore[no-untyped-def]
    body = api.post("/api/cases/", _form(("a.jpg", vehicle_jpeg))).json()
    case = Case.objects.get(public_id=body["id"])
    run = InferenceRun.objects.get(photo__case=case)
    assert services.run_claim(run_id=run.pk)
    services.run_execute(run_id=run.pk)
    services.case_finalise(case_id=case.pk)
    detail = api.get(f"/api/cases/{case.public_id}/").json()
    assert detail["status"] in ("needs_review", "released")
    assert detail["dsi"] == pytest.approx(Case.objects.get(pk=case.pk).dsi)
    assert detail["photos"][0]["annotated_url"].endswith(
        f"/photos/{detail['photos'][0]['id']}/annotated.jpg"
    )
    assert len(detail["findings"]) == len(run.__class__.objects.get(pk=run.pk).result["findings"])
    image = api.get(detail["photos"][0]["annotated_url"])
    assert image.status_code == 200
    assert b"".join(image.streaming_content)[:2] == b"\xff\xd8"


def test_upload_throttling(api, active_model, make_jpeg) -> None:  # type: ignore[no-untyped-def]
    codes = [api.post("/api/cases/", _form(("a.jpg", make_jpeg()))).status_code for _ in range(6)]
    assert codes == [201] * 5 + [429]
    assert api.get("/api/cases/").status_code == 200  # reads are not throttled


def test_openapi_schema_is_valid() -> None:
    out = io.StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )
    schema = json.loads(out.getvalue())
    assert {"/api/cases/", "/api/cases/{public_id}/", "/api/webhook/"} <= set(schema["paths"])
    assert "multipart/form-data" in schema["paths"]["/api/cases/"]["post"]["requestBody"]["content"]


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhook_called_when_case_finishes(api, customer, active_model, vehicle_jpeg) -> None:  # type: ignore[no-untyped-def]
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        assert (
            api.put(
                "/api/webhook/",
                {"webhook_url": url, "webhook_secret": "s3cret"},
                content_type="application/json",
            ).status_code
            == 200
        )
        assert ApiClient.objects.get(user=customer).webhook_url == url
        body = api.post("/api/cases/", _form(("a.jpg", vehicle_jpeg))).json()
        case = Case.objects.get(public_id=body["id"])
        run = InferenceRun.objects.get(photo__case=case)
        services.run_claim(run_id=run.pk)
        services.run_execute(run_id=run.pk)
        services.case_finalise(case_id=case.pk)
        _Receiver.received.clear()
        assert services.case_webhook_send(case_id=case.pk) is True
        assert services.case_webhook_send(case_id=case.pk) is False  # sent once
        ((headers, payload),) = _Receiver.received
        data = json.loads(payload)
        assert data["case"] == str(case.public_id)
        assert data["event"] == "case.finished"
        import hashlib
        import hmac

        expected = hmac.new(b"s3cret", payload, hashlib.sha256).hexdigest()
        assert headers["X-Claims-Signature"] == f"sha256={expected}"
    finally:
        server.shutdown()

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import numpy as np
import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from pycocotools import mask as coco_mask
from rest_framework.authtoken.models import Token

from claims import outbox
from claims.models import ApiClient, Case, Photo
from inference import services
from inference.models import Finding, InferenceRun
from tests import factories

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
    result = InferenceRun.objects.get(pk=run.pk).result
    assert len(detail["findings"]) == len(result["findings"])
    photo = case.photos.get()
    # The core's image size (after EXIF orientation) is the photo's stored size.
    assert result["image_size"] == [photo.width, photo.height]
    for item, stored in zip(detail["findings"], result["findings"], strict=True):
        assert item["confidence"] == pytest.approx(stored["confidence"])
        assert item["mask"]["size"] == [photo.height, photo.width]
        decoded = _decode(item["mask"])
        assert decoded.shape == (photo.height, photo.width)
        assert decoded.any()
    image = api.get(detail["photos"][0]["annotated_url"])
    assert image.status_code == 200
    assert b"".join(image.streaming_content)[:2] == b"\xff\xd8"


def _decode(rle: dict[str, Any]) -> np.ndarray:
    return coco_mask.decode({"size": rle["size"], "counts": rle["counts"].encode()}).astype(bool)


def test_findings_offer_confidence_and_the_mask_at_the_photo_size(
    api, customer, other_customer
) -> None:  # type: ignore[no-untyped-def]
    version = factories.model_version_create()
    # Photo 128 x 96, findings in a processed grid 4 times smaller (32 x 24).
    case = factories.case_create(
        customer=customer,
        version=version,
        findings=[("deformity", "hood", 0.3), ("surface_damage", "bumper", 0.8)],
        photo_size=(128, 96),
        grid=(32, 24),
    )
    # A calibrated confidence that differs from C_base: the API reads the confidence.
    Finding.objects.filter(case=case, index=1).update(confidence=0.65)
    body = api.get(f"/api/cases/{case.public_id}/").json()
    first, second = body["findings"]
    assert (first["c_base"], first["confidence"]) == (0.3, 0.3)
    assert (second["c_base"], second["confidence"]) == (0.8, 0.65)
    for item, x0 in ((first, 0), (second, 5)):
        # The seed's mask: rows 2-9 and columns x0 to x0+4 of the 32 x 24 grid.
        grid = _decode(item["mask_rle"])
        assert (grid.shape, item["mask_size"]) == ((24, 32), [32, 24])
        assert np.argwhere(grid).min(axis=0).tolist() == [2, x0]
        assert np.argwhere(grid).max(axis=0).tolist() == [9, x0 + 4]
        # At the photo's size each grid pixel is a 4 x 4 block.
        assert item["mask"]["size"] == [96, 128]
        expected = np.zeros((96, 128), dtype=bool)
        expected[8:40, 4 * x0 : 4 * x0 + 20] = True
        assert np.array_equal(_decode(item["mask"]), expected)
        assert np.array_equal(_decode(item["mask"]), np.kron(grid, np.ones((4, 4), dtype=bool)))

    # Another customer still sees nothing of it.
    cache.clear()
    token, _ = Token.objects.get_or_create(user=other_customer)
    other = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = other.get(f"/api/cases/{case.public_id}/")
    assert response.status_code == 404
    assert b"counts" not in response.content


def test_findings_say_whether_they_are_boxes(api, customer) -> None:  # type: ignore[no-untyped-def]
    detector = factories.model_version_create(damage_backend="detection")
    boxes = factories.case_create(
        customer=customer, version=detector, findings=[("deformity", "hood", 0.3)], shape="box"
    )
    masks = factories.case_create(
        customer=customer,
        version=factories.model_version_create(version="2"),
        findings=[("deformity", "hood", 0.3)],
    )
    (box,) = api.get(f"/api/cases/{boxes.public_id}/").json()["findings"]
    (mask,) = api.get(f"/api/cases/{masks.public_id}/").json()["findings"]
    assert (box["shape"], mask["shape"]) == ("box", "mask")
    # A box finding's mask is the filled box: grid [2, 6, 10, 18) of 32 x 24 at 64 x 48.
    assert box["box"] == [2, 6, 10, 18]
    full = _decode(box["mask"])
    assert full.sum() == 16 * 24
    assert full[12:36, 4:20].all()


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
    components = schema["components"]["schemas"]
    assert components["Case"]["properties"]["findings"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Finding"},
        "readOnly": True,
    }
    finding = components["Finding"]["properties"]
    assert finding["confidence"]["type"] == "number"
    assert finding["confidence"]["readOnly"] is True
    assert finding["mask"]["allOf"] == [{"$ref": "#/components/schemas/CocoRle"}]
    assert finding["mask"]["readOnly"] is True
    assert components["CocoRle"]["properties"]["size"]["items"]["type"] == "integer"
    assert (
        components["CocoRle"]["properties"]["size"]["minItems"],
        components["CocoRle"]["properties"]["size"]["maxItems"],
    ) == (2, 2)
    assert components["CocoRle"]["properties"]["counts"]["type"] == "string"
    assert components["CocoRle"]["required"] == ["counts", "size"]


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhook_called_when_case_finishes(
    api, customer, active_model, vehicle_jpeg, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.CLAIMS_WEBHOOK_ALLOW_HTTP = True  # the receiver is local and plain http
    settings.CLAIMS_WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
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
        assert outbox.case_webhook_send(case_id=case.pk) is True
        assert outbox.case_webhook_send(case_id=case.pk) is False  # sent once
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

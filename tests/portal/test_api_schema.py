"""The OpenAPI schema holds: schemathesis sends generated requests to every /api/ operation
(in process, through the WSGI app, with a Bearer token) and checks each answer against it.

Also: the schema types what the API returns, and the docs pages load only local assets.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core import signals
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal.api.tokens import api_token_create

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def in_process_requests() -> Iterator[None]:
    """Requests run in the test's database transaction, as Django's test client runs them:
    the per-request connection clean-up would close the test's connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated webhook URLs name random hosts; the tests have no internet, so every name
    fails to resolve at once instead of waiting for a resolver's timeout."""

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def bearer(customer: User, in_process_requests: None, no_dns: None) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {api_token_create(user=customer, name='schemathesis').secret}"
    }


# Loaded when the module is collected (GET /api/schema/ needs no database); the fixture way,
# schemathesis.pytest.from_fixture, fails on pytest 9 (it reads Function._nodeid).
schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler()).include(path_regex=r"^/api/")


@pytest.mark.slow
@pytest.mark.serial  # one item per operation, all under one node id: xdist would run one
@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_answers_as_its_schema_says(case: Any, bearer: dict[str, str]) -> None:
    cache.clear()  # each example starts unthrottled, so uploads get past the rate limit
    case.call_and_validate(headers=bearer, checks=CHECKS)


# The schema itself -----------------------------------------------------------------------------


@pytest.fixture
def openapi(db: None) -> dict[str, Any]:
    response = Client(HTTP_ACCEPT="application/json").get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def _typed(prop: dict[str, Any]) -> bool:
    return bool({"type", "$ref", "allOf", "oneOf", "anyOf"} & prop.keys())


@pytest.mark.parametrize("component", ["Case", "CaseList", "Photo", "Finding", "CocoRle"])
def test_every_field_of_cases_photos_and_findings_is_typed_and_required(
    openapi: dict[str, Any], component: str
) -> None:
    schema = openapi["components"]["schemas"][component]
    untyped = [name for name, prop in schema["properties"].items() if not _typed(prop)]
    assert untyped == []
    # Every field is in every answer (null where the schema says nullable).
    assert sorted(schema["required"]) == sorted(schema["properties"])


def test_findings_carry_confidence_shape_and_masks(openapi: dict[str, Any]) -> None:
    finding = openapi["components"]["schemas"]["Finding"]["properties"]
    assert finding["confidence"]["type"] == "number"
    assert finding["shape"]["allOf"] == [{"$ref": "#/components/schemas/ShapeEnum"}]
    assert openapi["components"]["schemas"]["ShapeEnum"]["enum"] == ["mask", "box"]
    for name in ("mask", "mask_rle"):
        assert finding[name]["allOf"] == [{"$ref": "#/components/schemas/CocoRle"}]
    assert (finding["box"]["minItems"], finding["box"]["maxItems"]) == (4, 4)
    assert (finding["mask_size"]["minItems"], finding["mask_size"]["maxItems"]) == (2, 2)


def test_case_creation_requires_photos_as_multipart(openapi: dict[str, Any]) -> None:
    body = openapi["paths"]["/api/cases/"]["post"]["requestBody"]
    assert list(body["content"]) == ["multipart/form-data"]
    create = openapi["components"]["schemas"]["CaseCreateRequest"]
    assert sorted(create["required"]) == [
        "description",
        "loss_date",
        "loss_place",
        "photos",
        "policy_number",
    ]
    assert create["properties"]["photos"]["items"] == {"type": "string", "format": "binary"}


ERRORS = {
    ("/api/cases/", "get"): ["401", "404", "503"],
    ("/api/cases/", "post"): ["400", "401", "403", "415", "429", "503"],
    ("/api/cases/{public_id}/", "get"): ["401", "404", "503"],
    ("/api/webhook/", "get"): ["401", "503"],
    ("/api/webhook/", "put"): ["400", "401", "403", "415", "503"],
    ("/api/tokens/", "get"): ["401", "404", "503"],
    ("/api/tokens/", "post"): ["400", "401", "403", "415", "503"],
    ("/api/tokens/{token_id}/", "delete"): ["401", "403", "404", "503"],
    ("/api/auth/token/", "post"): ["400", "415", "429", "503"],
}


@pytest.mark.parametrize(("path", "method"), list(ERRORS))
def test_each_operation_documents_its_errors(
    openapi: dict[str, Any], path: str, method: str
) -> None:
    responses = openapi["paths"][path][method]["responses"]
    errors = sorted(code for code in responses if code >= "400")
    assert errors == ERRORS[(path, method)]
    for code in errors:
        expected = "ValidationError" if code == "400" else "Error"
        content = responses[code]["content"]["application/json"]["schema"]
        assert content == {"$ref": f"#/components/schemas/{expected}"}
    for code in set(errors) & {"429", "503"}:
        assert responses[code]["headers"]["Retry-After"]["schema"] == {"type": "integer"}


def test_the_error_component_is_the_json_the_api_answers(openapi: dict[str, Any]) -> None:
    error = openapi["components"]["schemas"]["Error"]
    assert (error["properties"]["detail"]["type"], error["required"]) == ("string", ["detail"])
    validation = openapi["components"]["schemas"]["ValidationError"]
    assert validation["properties"]["detail"]["type"] == "string"
    assert "additionalProperties" in validation


def test_bearer_tokens_are_the_documented_scheme(openapi: dict[str, Any]) -> None:
    assert openapi["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert openapi["paths"]["/api/cases/"]["get"]["security"][0] == {"bearerAuth": []}


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_the_docs_pages_load_only_local_static_assets(db: None, url: str) -> None:
    client = Client()
    response = client.get(url)

    assert response.status_code == 200
    page = response.content.decode()
    assert re.findall(r"(?:https?:)?//[\w.-]+", page) == []  # no CDN, no fonts service
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)
    assert assets
    assert [a for a in assets if not a.startswith("/static/drf_spectacular_sidecar/")] == []
    for asset in assets:
        assert client.get(asset).status_code == 200, asset

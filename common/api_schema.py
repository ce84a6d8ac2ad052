"""The OpenAPI schema's error answers: every operation documents the errors it can return.
Shared by every app's API (the customers' and integrators' in `portal.api`, the adjusters'
in `review.api`), so it depends on no app.

They all share the shape of portal/api/errors.py and DRF's exception handler,
`{"detail": "..."}` (`Error`), except a 400 from validation, which names each field
(`ValidationError`). Which codes apply is read off the view: authentication (401),
permissions, scopes and CSRF on writes (403), path parameters and pages (404), request
bodies (400, 415), and the database (503, for every one). Throttled operations declare
their 429 themselves with `extend_schema(responses=...)`, as do operations with
their own 4xx answers; what an operation declares is kept.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions, serializers


class ErrorSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Every error answer under /api/ (portal/api/errors.py, DRF's exception handler)."""

    detail = serializers.CharField(help_text="What went wrong and, where it helps, what to do")


class ValidationErrorSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """A 400 from validation; its schema comes from common.api_schema.ValidationErrorScheme."""


BODY_METHODS = ("POST", "PUT", "PATCH")
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer"},
    }
}


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


VALIDATION = OpenApiResponse(
    ValidationErrorSerializer,
    description="The request was refused: each field names its problems; `detail`, "
    "when present, says what to do",
)
UNAUTHENTICATED = error(
    "No credentials, or a token that is unknown or revoked: send `Authorization: Bearer <token>`"
)
FORBIDDEN = error(
    "Not allowed: a read-only token on a write, a role that may not do this, or a session "
    "request without its CSRF token"
)
NOT_FOUND = error("No such object (or not yours), or a page number past the last page")
UNSUPPORTED = error("The request body's Content-Type is not one this operation reads")
THROTTLED = error("Too many requests; wait the Retry-After seconds")
UNAVAILABLE = error("The database is unavailable; try again after Retry-After seconds")


class ValidationErrorScheme(OpenApiSerializerExtension):  # type: ignore[no-untyped-call]
    """Validation errors are keyed by field name, which a serializer cannot declare."""

    target_class = "common.api_schema.ValidationErrorSerializer"

    def map_serializer(self, auto_schema: AutoSchema, direction: Any) -> dict[str, Any]:
        return {
            "type": "object",
            "description": "A refused request: each key is a field (or a photo's file "
            "name) with its messages; `non_field_errors` for the request as a whole.",
            "properties": {
                "detail": {
                    "type": "string",
                    "description": "What went wrong as a whole, when there is one message",
                }
            },
            "additionalProperties": {
                "anyOf": [
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "string"},
                    {"type": "object", "description": "errors of nested items, by index"},
                ]
            },
        }


class ClaimsAutoSchema(AutoSchema):
    def _requires_auth(self) -> bool:
        perms = [p.__class__ for p in self.view.get_permissions()]
        return bool(self.view.get_authenticators()) and permissions.AllowAny not in perms

    def _error_responses(self) -> dict[str, OpenApiResponse]:
        method = self.method.upper()
        found: dict[str, OpenApiResponse] = {}
        if method in BODY_METHODS:
            found["400"] = VALIDATION
        if self._requires_auth():
            found["401"] = UNAUTHENTICATED
            perms = {p.__class__ for p in self.view.get_permissions()}
            if method not in permissions.SAFE_METHODS or perms - {permissions.IsAuthenticated}:
                found["403"] = FORBIDDEN
        paginated = method == "GET" and self._is_list_view() and self._get_paginator()
        if "{" in self.path or paginated:
            found["404"] = NOT_FOUND
        if method in BODY_METHODS:
            found["415"] = UNSUPPORTED
        found["503"] = UNAVAILABLE
        return found

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code, response in self._error_responses().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, None, direction)
        return dict(sorted(responses.items()))

    def _get_response_headers_for_code(self, status_code: str, direction: Any = "response") -> Any:
        headers = super()._get_response_headers_for_code(status_code, direction)
        if status_code in ("429", "503"):
            headers = {**RETRY_AFTER, **(headers or {})}
        return headers

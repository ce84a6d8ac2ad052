"""`Authorization: Bearer dcr_...`: the API tokens users create on their settings page.

Listed first in DEFAULT_AUTHENTICATION_CLASSES, so a request without credentials is
answered 401 with `WWW-Authenticate: Bearer`; the older `Token <key>` scheme
(rest_framework.authtoken, keys issued in the admin) and the session still work after it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from claims.models import ApiToken
from portal.api.tokens import TokenInvalidError, api_token_authenticate

KEYWORD = "Bearer"
READ_ONLY = "This token is read-only; create a token with the 'write' scope to change anything."


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None  # another scheme (Token, none): the next class decides
        if len(parts) != 2:
            raise AuthenticationFailed(
                "Invalid Authorization header: send 'Authorization: Bearer <token>'."
            )
        try:
            secret = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed("Invalid token.") from exc
        try:
            token = api_token_authenticate(secret=secret)
        except TokenInvalidError as exc:
            raise AuthenticationFailed(exc.message) from exc
        # Checked here rather than in a permission class, so that it holds for every view,
        # including those that name their own permission_classes.
        if token.scope == ApiToken.Scope.READ and request.method not in SAFE_METHODS:
            raise PermissionDenied(READ_ONLY)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{KEYWORD} realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "portal.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "dcr_ token",
            "description": "An API token from your settings page (/accounts/api-tokens/) "
            "or POST /api/auth/token/: `Authorization: Bearer dcr_...`. A read-scope "
            "token may only GET.",
        }

"""API tokens: create, list, revoke, and find the token an API request sends.

A token is `dcr_` and 43 URL-safe characters (256 random bits). The database keeps its
sha256 and its first 12 characters (`prefix`); the token itself is shown once. A request's
token is found by its prefix and its digest compared in constant time, so neither a
database index walk nor a string comparison tells an attacker how much of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.utils import timezone

from claims.audit import audit_record
from claims.models import ApiToken
from common.errors import ApplicationError

TOKEN_PREFIX = "dcr_"
PREFIX_CHARS = 12  # "dcr_" and 8 random characters: names the token, finds its row
MAX_ACTIVE_TOKENS = 25
NAME_MAX_CHARS = 100
# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class CreatedToken:
    """A new token's row and its secret, which exists only here and in the one answer."""

    token: ApiToken
    secret: str


class TokenInvalidError(ApplicationError):
    """The request's token is unknown, malformed or revoked; `message` says which."""


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_tokens_active(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by(
        "-created_at", "-pk"
    )


def api_token_create(*, user: User, name: str, scope: str = ApiToken.Scope.WRITE) -> CreatedToken:
    """A new token for `user`; raise ApplicationError (errors by field) when refused."""
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Give the token a name, e.g. the script or server that uses it."]
    elif len(name) > NAME_MAX_CHARS:
        errors["name"] = [f"Use at most {NAME_MAX_CHARS} characters (this has {len(name)})."]
    if scope not in ApiToken.Scope.values:
        errors["scope"] = [f"Choose one of {', '.join(ApiToken.Scope.values)}, not {scope!r}."]
    if errors:
        raise ApplicationError("The token was not created; see the fields.", errors)
    if api_tokens_active(user=user).count() >= MAX_ACTIVE_TOKENS:
        raise ApplicationError(
            f"You have {MAX_ACTIVE_TOKENS} active tokens, the most allowed; "
            "revoke one you no longer use first."
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        scope=scope,
        prefix=secret[:PREFIX_CHARS],
        digest=token_digest(secret),
    )
    audit_record(
        verb="api_token.created",
        actor=user,
        data={"token": token.pk, "name": name, "prefix": token.prefix, "scope": scope},
    )
    return CreatedToken(token=token, secret=secret)


def api_token_revoke(*, user: User, token_id: int) -> ApiToken:
    """Revoke one of `user`'s active tokens; ApiToken.DoesNotExist if there is none."""
    token = api_tokens_active(user=user).get(pk=token_id)
    now = timezone.now()
    # Conditional, so two revocations at once record one event.
    if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now):
        audit_record(
            verb="api_token.revoked",
            actor=user,
            data={"token": token.pk, "name": token.name, "prefix": token.prefix},
        )
    token.revoked_at = now
    return token


def api_token_authenticate(*, secret: str) -> ApiToken:
    """The active token whose secret this is (its user loaded); TokenInvalidError if none."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) <= PREFIX_CHARS:
        raise TokenInvalidError("Invalid token.")
    digest = token_digest(secret)
    found = None
    for candidate in ApiToken.objects.filter(prefix=secret[:PREFIX_CHARS]).select_related("user"):
        if hmac.compare_digest(candidate.digest, digest):
            found = candidate
    if found is None:
        raise TokenInvalidError("Invalid token.")
    if found.revoked_at is not None:
        raise TokenInvalidError("This token was revoked; create a new one.")
    if not found.user.is_active:
        raise TokenInvalidError("User inactive or deleted.")
    now = timezone.now()
    if found.last_used_at is None or found.last_used_at < now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=found.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        found.last_used_at = now
    return found

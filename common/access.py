"""The three roles and the checks built on them, in one place: customers see their own
cases; adjusters and admins see every case and review; admins also manage model versions,
training and exports.

A failed check raises `AccessDeniedError`: an `ApplicationError` (services and their callers
show its message) that is also Django's `PermissionDenied` (a view that lets it through
answers 403 with the site's own page, DRF with a 403 JSON body).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied

from common.errors import ApplicationError

ADJUSTERS_GROUP = "adjusters"


class Role(StrEnum):
    ANONYMOUS = "anonymous"
    CUSTOMER = "customer"
    ADJUSTER = "adjuster"
    ADMIN = "admin"


class AccessDeniedError(ApplicationError, PermissionDenied):
    """The user's role does not allow this; the message says who may."""


def role_of(user: Any) -> Role:
    """The user's role. Remembered on the user object: a request loads its user once and
    asks several times (views, the context processor, templates), so the group lookup
    runs once per request instead of on every question."""
    if user is None or not user.is_authenticated:
        return Role.ANONYMOUS
    if user.is_superuser:
        return Role.ADMIN
    known: Role | None = getattr(user, "_claims_role", None)
    if known is None:
        known = role_remember(user, in_adjusters=user.groups.filter(name=ADJUSTERS_GROUP).exists())
    return known


def role_remember(user: Any, *, in_adjusters: bool) -> Role:
    """Remember a non-admin user's role from their membership of the adjusters' group
    (`common.auth.RoleModelBackend` learns it with the user's own query)."""
    role = Role.ADJUSTER if in_adjusters else Role.CUSTOMER
    user._claims_role = role
    return role


def is_staff_role(user: Any) -> bool:
    """Adjusters and admins: they see every case and review; they never file claims."""
    return role_of(user) in (Role.ADJUSTER, Role.ADMIN)


def is_admin(user: Any) -> bool:
    return role_of(user) == Role.ADMIN


def require_reviewer(user: Any, message: str = "Only adjusters and admins review cases.") -> None:
    if not is_staff_role(user):
        raise AccessDeniedError(message)


def require_admin(
    user: Any, message: str = "Only admins change model versions and export labels."
) -> None:
    if not is_admin(user):
        raise AccessDeniedError(message)


# Staff see every case, so a claim filed by one would mix the roles' views of it.
STAFF_CANNOT_FILE = (
    "Adjusters and admins cannot file claims; log in with a customer account to file one."
)


def require_customer_filing(user: Any) -> None:
    """Only customers file claims (and add photos to them)."""
    if is_staff_role(user):
        raise AccessDeniedError(STAFF_CANNOT_FILE)

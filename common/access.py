"""The three roles and the checks built on them, in one place: customers see their own
cases; adjusters and admins see every case and review; admins also manage model versions,
training and exports.

A failed check raises `AccessDeniedError`: an `ApplicationError` (services and their callers
show its message) that is also Django's `PermissionDenied` (a view that lets it through
answers 403 with the site's own page, DRF with a 403 JSON body).

The user types. The settings keep Django's default user model (no `AUTH_USER_MODEL`), so
a logged-in person is `django.contrib.auth.models.User`:

- `RequestUser` (`User | AnonymousUser`) is what `request.user` may be, as django-stubs
  and the DRF stubs type it; the role checks below take it, so a view passes
  `request.user` as it is.
- Services and selectors that act for a logged-in person take `user: User`. A view behind
  `@login_required` gets one from `request.user` by annotating its request as
  `common.http.AuthenticatedHttpRequest` (or `HtmxHttpRequest`); a DRF view, whose
  permission classes already require authentication, calls `user_of(request.user)`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeAlias

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied

from common.errors import ApplicationError

ADJUSTERS_GROUP = "adjusters"

# What `request.user` may be: the logged-in user, or the anonymous one.
RequestUser: TypeAlias = User | AnonymousUser

# Where `role_of` remembers the role on the user object.
_ROLE_ATTRIBUTE = "_claims_role"


class Role(StrEnum):
    ANONYMOUS = "anonymous"
    CUSTOMER = "customer"
    ADJUSTER = "adjuster"
    ADMIN = "admin"


class AccessDeniedError(ApplicationError, PermissionDenied):
    """The user's role does not allow this; the message says who may."""


def user_of(request_user: object) -> User:
    """The logged-in user behind a DRF request's `request.user`, typed as `User`.

    For API views whose permission classes already require authentication, so in practice
    it never raises; if it were reached anonymously it refuses with a 403."""
    if isinstance(request_user, User):
        return request_user
    raise AccessDeniedError("Log in to do this.")


def role_of(user: RequestUser | None) -> Role:
    """The user's role. Remembered on the user object: a request loads its user once and
    asks several times (views, the context processor, templates), so the group lookup
    runs once per request instead of on every question."""
    if user is None or not user.is_authenticated:
        return Role.ANONYMOUS
    if user.is_superuser:
        return Role.ADMIN
    known: Role | None = getattr(user, _ROLE_ATTRIBUTE, None)
    if known is None:
        known = role_remember(user, in_adjusters=user.groups.filter(name=ADJUSTERS_GROUP).exists())
    return known


def role_remember(user: User, *, in_adjusters: bool) -> Role:
    """Remember a non-admin user's role from their membership of the adjusters' group
    (`common.auth.RoleModelBackend` learns it with the user's own query)."""
    role = Role.ADJUSTER if in_adjusters else Role.CUSTOMER
    setattr(user, _ROLE_ATTRIBUTE, role)
    return role


def is_staff_role(user: RequestUser) -> bool:
    """Adjusters and admins: they see every case and review; they never file claims."""
    return role_of(user) in (Role.ADJUSTER, Role.ADMIN)


def is_admin(user: RequestUser) -> bool:
    return role_of(user) == Role.ADMIN


def require_reviewer(
    user: RequestUser, message: str = "Only adjusters and admins review cases."
) -> None:
    if not is_staff_role(user):
        raise AccessDeniedError(message)


def require_admin(
    user: RequestUser, message: str = "Only admins change model versions and export labels."
) -> None:
    if not is_admin(user):
        raise AccessDeniedError(message)


# Staff see every case, so a claim filed by one would mix the roles' views of it.
STAFF_CANNOT_FILE = (
    "Adjusters and admins cannot file claims; log in with a customer account to file one."
)


def require_customer_filing(user: RequestUser) -> None:
    """Only customers file claims (and add photos to them)."""
    if is_staff_role(user):
        raise AccessDeniedError(STAFF_CANNOT_FILE)

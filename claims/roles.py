"""The three roles: customers see their own cases; adjusters and admins see every case."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

ADJUSTERS_GROUP = "adjusters"


class Role(StrEnum):
    ANONYMOUS = "anonymous"
    CUSTOMER = "customer"
    ADJUSTER = "adjuster"
    ADMIN = "admin"


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
        in_group = user.groups.filter(name=ADJUSTERS_GROUP).exists()
        known = Role.ADJUSTER if in_group else Role.CUSTOMER
        user._claims_role = known
    return known


def is_staff_role(user: Any) -> bool:
    return role_of(user) in (Role.ADJUSTER, Role.ADMIN)

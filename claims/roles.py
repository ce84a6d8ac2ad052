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
    if user is None or not user.is_authenticated:
        return Role.ANONYMOUS
    if user.is_superuser:
        return Role.ADMIN
    if user.groups.filter(name=ADJUSTERS_GROUP).exists():
        return Role.ADJUSTER
    return Role.CUSTOMER


def is_staff_role(user: Any) -> bool:
    return role_of(user) in (Role.ADJUSTER, Role.ADMIN)

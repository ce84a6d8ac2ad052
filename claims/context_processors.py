from typing import Any

from django.http import HttpRequest

from common.access import Role, role_of


def roles(request: HttpRequest) -> dict[str, Any]:
    role = role_of(request.user)
    return {
        "role": role,
        "is_staff_role": role in (Role.ADJUSTER, Role.ADMIN),
        "is_admin_role": role == Role.ADMIN,
    }

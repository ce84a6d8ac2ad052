"""The log-in backend: Django's `ModelBackend`, whose `get_user` (run by every request with a
session) loads the user and answers the role question in one query instead of two.

The role (`common.access.role_of`) is asked on nearly every page; without this it costs a
group lookup per request.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, User
from django.db.models import Exists, OuterRef

from common.access import ADJUSTERS_GROUP, role_remember


class RoleModelBackend(ModelBackend):
    def get_user(self, user_id: Any) -> User | None:
        in_adjusters = Group.objects.filter(user=OuterRef("pk"), name=ADJUSTERS_GROUP)
        user = (
            get_user_model()
            ._default_manager.annotate(in_adjusters=Exists(in_adjusters))
            .filter(pk=user_id)
            .first()
        )
        if user is None or not self.user_can_authenticate(user):
            return None
        role_remember(user, in_adjusters=user.in_adjusters)
        return user

"""The audit trail: what a person or the system did, appended, never changed."""

from __future__ import annotations

from typing import Any

from claims.models import AuditEvent, Case
from common.access import RequestUser


def audit_record(
    *,
    verb: str,
    case: Case | None = None,
    actor: RequestUser | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    actor_obj = actor if actor is not None and actor.is_authenticated else None
    return AuditEvent.objects.create(case=case, actor=actor_obj, verb=verb, data=data or {})

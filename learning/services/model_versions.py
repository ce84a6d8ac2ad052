"""Promotion with evidence: a candidate becomes the active version with, in its audit
record, the figures of the shadow evaluation it was compared on (`learning.shadow`). The
status change itself is `inference.services.model_version_promote`'s."""

from __future__ import annotations

from django.contrib.auth.models import User

from inference import services as inference_services
from inference.models import ModelVersion
from learning.shadow import promotion_evidence


def model_version_promote(
    *, version: ModelVersion, user: User, evaluation_id: int | None = None
) -> ModelVersion:
    """Make `version` the active one; the audit event records the figures it was promoted
    on: the shadow evaluation against the active version (`evaluation_id`, the one the
    admin looked at, else the latest finished one) or `"shadow": None` with a note."""
    return inference_services.model_version_promote(
        version=version,
        user=user,
        evidence=lambda: promotion_evidence(version=version, evaluation_id=evaluation_id),
    )

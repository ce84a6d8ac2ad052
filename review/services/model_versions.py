"""Model versions: threshold, target precision, promotion (with the figures it rests on)
and retirement."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from claims.services import audit_record
from common.access import require_admin
from common.errors import ApplicationError
from inference.models import ModelVersion
from review.shadow import promotion_evidence


def _model_version_set(
    *, version: ModelVersion, user: Any, field: str, value: float, verb: str
) -> ModelVersion:
    """Set one number of a model version under a row lock, with its audit record."""
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
        before = getattr(locked, field)
        ModelVersion.objects.filter(pk=version.pk).update(**{field: value})
        audit_record(
            verb=verb,
            actor=user,
            data={"model_version": version.pk, "name": str(locked), "from": before, "to": value},
        )
    version.refresh_from_db()
    return version


def model_version_set_threshold(
    *, version: ModelVersion, user: Any, threshold: float
) -> ModelVersion:
    require_admin(user)
    if not 0.0 <= threshold <= 1.0:
        raise ApplicationError("The threshold is a confidence between 0 and 1.")
    return _model_version_set(
        version=version,
        user=user,
        field="threshold",
        value=threshold,
        verb="model.threshold_changed",
    )


def model_version_set_target_precision(
    *, version: ModelVersion, user: Any, target_precision: float
) -> ModelVersion:
    """The precision this version's released findings should keep; the threshold suggested
    from reviewed findings is chosen for it."""
    require_admin(user)
    if not 0.0 < target_precision < 1.0:
        raise ApplicationError(
            "The target precision is a share strictly between 0 and 1, such as 0.9."
        )
    return _model_version_set(
        version=version,
        user=user,
        field="target_precision",
        value=target_precision,
        verb="model.target_precision_changed",
    )


def model_version_promote(
    *, version: ModelVersion, user: Any, evaluation_id: int | None = None
) -> ModelVersion:
    """Make `version` the active one; the audit event records the figures it was promoted
    on: the shadow evaluation against the active version (`evaluation_id`, the one the
    admin looked at, else the latest finished one) or `"shadow": None` with a note."""
    require_admin(user)
    if version.status == ModelVersion.Status.ACTIVE:
        raise ApplicationError(f"{version} is already the active model version.")
    with transaction.atomic():
        previous = list(
            ModelVersion.objects.select_for_update().filter(status=ModelVersion.Status.ACTIVE)
        )
        # Read under the lock: the figures are those against the version it replaces.
        evidence = promotion_evidence(version=version, evaluation_id=evaluation_id)
        ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).update(
            status=ModelVersion.Status.RETIRED
        )
        ModelVersion.objects.filter(pk=version.pk).update(status=ModelVersion.Status.ACTIVE)
        audit_record(
            verb="model.promoted",
            actor=user,
            data={
                "model_version": version.pk,
                "name": str(version),
                "damage_backend": version.damage_backend,
                "retired": [p.pk for p in previous],
                **evidence,
            },
        )
    version.refresh_from_db()
    return version


def model_version_retire(*, version: ModelVersion, user: Any) -> ModelVersion:
    require_admin(user)
    if version.status == ModelVersion.Status.ACTIVE:
        raise ApplicationError(f"{version} is the active model version; promote another one first.")
    if version.status == ModelVersion.Status.RETIRED:
        raise ApplicationError(f"{version} is already retired.")
    with transaction.atomic():
        ModelVersion.objects.filter(pk=version.pk).update(status=ModelVersion.Status.RETIRED)
        audit_record(
            verb="model.retired",
            actor=user,
            data={"model_version": version.pk, "name": str(version)},
        )
    version.refresh_from_db()
    return version

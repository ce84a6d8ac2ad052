"""Model versions: registration of the shipped ones, the active one, and what an admin
changes: threshold, target precision, promotion and retirement (each audited)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from claims.audit import audit_record
from common.access import require_admin
from common.errors import ApplicationError
from damage_vision.versions.registry import Manifest, list_versions
from inference.models import ModelVersion

logger = logging.getLogger(__name__)


def model_version_register(*, manifest: Manifest) -> ModelVersion:
    """Register a model version from its manifest; registering again changes nothing."""
    version, _ = ModelVersion.objects.get_or_create(
        name=manifest.name,
        version=manifest.version,
        defaults={
            "weights_sha256": manifest.weights_sha256(
                "onnx" if "onnx" in manifest.backends else "torch"
            ),
            "part_taxonomy": manifest.part_taxonomy,
            "damage_taxonomy": manifest.damage_taxonomy,
            "threshold": manifest.threshold,
            "manifest_path": str(manifest.directory),
            "description": manifest.description,
            "metrics": dict(manifest.metrics),
            "target_precision": manifest.target_precision,
            "calibrated": manifest.calibrator is not None,
            "threshold_promise": dict(manifest.threshold_promise),
            "damage_backend": manifest.damage_backend,
        },
    )
    return version


def models_register_shipped(*, root: Path | None = None) -> list[ModelVersion]:
    """Register every shipped version; the newest segmentation version (else the newest)
    becomes active when none is.

    An active version whose files left the tree (an upgrade that ships a newer version and
    drops the superseded one) can process nothing: it is retired, with an audit record,
    and the newest shipped version becomes active. Its findings stay as they are.
    """
    manifests = list_versions(root) if root is not None else list_versions()
    registered = [model_version_register(manifest=m) for m in manifests]
    with transaction.atomic():
        for gone in ModelVersion.objects.select_for_update().filter(
            status=ModelVersion.Status.ACTIVE
        ):
            if registered and not Path(gone.manifest_path).exists():
                ModelVersion.objects.filter(pk=gone.pk).update(status=ModelVersion.Status.RETIRED)
                audit_record(
                    verb="model_version.retired",
                    data={
                        "model_version": str(gone),
                        "reason": f"its files are gone ({gone.manifest_path})",
                    },
                )
        if (
            registered
            and not ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exists()
        ):
            # the default back end is segmentation: a detection version is promoted by hand
            segmentation = [
                v
                for v, m in zip(registered, manifests, strict=True)
                if m.damage_backend == "segmentation"
            ]
            newest = (segmentation or registered)[-1]
            ModelVersion.objects.filter(pk=newest.pk).update(status=ModelVersion.Status.ACTIVE)
            audit_record(verb="model_version.activated", data={"model_version": str(newest)})
    return [ModelVersion.objects.get(pk=v.pk) for v in registered]


def model_version_active() -> ModelVersion:
    version = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    if version is None:
        raise ApplicationError(
            "No model version is active, so photos cannot be processed. An admin must run "
            "`python manage.py register_models` (bin/run does it)."
        )
    return version


def _model_version_set(
    *, version: ModelVersion, user: User, field: str, value: float, verb: str
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
    *, version: ModelVersion, user: User, threshold: float
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
    *, version: ModelVersion, user: User, target_precision: float
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
    *,
    version: ModelVersion,
    user: User,
    evidence: Callable[[], dict[str, Any]] | None = None,
) -> ModelVersion:
    """Make `version` the active one and retire the one it replaces. `evidence()`, read
    under the lock (so against the version being replaced), gives the figures the
    promotion rests on; the audit event records them (`learning.services.model_versions`
    passes the shadow evaluation's)."""
    require_admin(user)
    if version.status == ModelVersion.Status.ACTIVE:
        raise ApplicationError(f"{version} is already the active model version.")
    with transaction.atomic():
        previous = list(
            ModelVersion.objects.select_for_update().filter(status=ModelVersion.Status.ACTIVE)
        )
        # Read under the lock: the figures are those against the version it replaces.
        figures = evidence() if evidence is not None else {}
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
                **figures,
            },
        )
    version.refresh_from_db()
    return version


def model_version_retire(*, version: ModelVersion, user: User) -> ModelVersion:
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

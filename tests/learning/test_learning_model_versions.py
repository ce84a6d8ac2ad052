"""The model-version services the model-version pages call: the threshold (inference's) and
promotion with the shadow evaluation's evidence (`learning.services.model_version_promote`)."""

from __future__ import annotations

import pytest

from claims.models import AuditEvent
from common.errors import ApplicationError
from inference import services as inference_services
from inference.models import ModelVersion
from learning import services
from tests import factories

pytestmark = pytest.mark.django_db


def test_threshold_change_is_admin_only_and_audited(version, adjuster, admin_user) -> None:
    with pytest.raises(ApplicationError, match="Only admins"):
        inference_services.model_version_set_threshold(
            version=version, user=adjuster, threshold=0.4
        )
    assert ModelVersion.objects.get(pk=version.pk).threshold == 0.6
    inference_services.model_version_set_threshold(version=version, user=admin_user, threshold=0.4)
    assert ModelVersion.objects.get(pk=version.pk).threshold == 0.4
    event = AuditEvent.objects.get(verb="model.threshold_changed")
    assert (event.actor, event.data["from"], event.data["to"]) == (admin_user, 0.6, 0.4)
    with pytest.raises(ApplicationError, match="between 0 and 1"):
        inference_services.model_version_set_threshold(
            version=version, user=admin_user, threshold=1.5
        )


def test_promote_retires_the_previous_active(version, admin_user) -> None:
    old = factories.model_version_create(name="old", status=ModelVersion.Status.ACTIVE)
    services.model_version_promote(version=version, user=admin_user)
    assert ModelVersion.objects.get(pk=version.pk).status == "active"
    assert ModelVersion.objects.get(pk=old.pk).status == "retired"
    with pytest.raises(ApplicationError, match="active model version; promote another"):
        inference_services.model_version_retire(version=version, user=admin_user)
    assert [e.verb for e in AuditEvent.objects.order_by("pk")] == ["model.promoted"]

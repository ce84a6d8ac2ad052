"""A detection version end to end: shipped, registered, promoted by an admin, run by the
Celery tasks on a claim, its box findings stored, reported and drawn."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from pathlib import Path

import pytest

from claims.services import Upload, case_submit
from damage_vision.versions.registry import list_versions
from inference import services, tasks
from inference.models import Finding, InferenceRun, ModelVersion
from learning.services import model_version_promote

pytestmark = pytest.mark.django_db(transaction=True)


def _shipped_detection() -> Path:
    shipped = [m for m in list_versions() if m.damage_backend == "detection"]
    if not shipped:
        pytest.fail("no detection version is shipped in inference/weights")
    return shipped[-1].directory


@pytest.fixture
def keen_detection_root(tmp_path: Path) -> Path:
    """The shipped detection version with its score floor at 0.001, so that its detector
    names boxes on the undamaged fixture bus (the platform needs findings to store)."""
    source = _shipped_detection()
    data = json.loads((source / "manifest.json").read_text())
    directory = tmp_path / f"{data['version']}-keen"
    directory.mkdir()
    for role in data["weights"].values():
        for entry in role.values():
            entry["file"] = os.path.relpath((source / entry["file"]).resolve(), directory)
    calibrator = data["calibrator"]
    calibrator["file"] = os.path.relpath((source / calibrator["file"]).resolve(), directory)
    data["version"] = f"{data['version']}-keen"
    data["detector"]["conf"] = 0.001
    data["threshold"] = 0.5
    (directory / "manifest.json").write_text(json.dumps(data))
    return tmp_path


def test_a_promoted_detection_version_processes_a_claim_into_box_findings(  # type: ignore[no-untyped-def]
    keen_detection_root, customer, admin_user, vehicle_jpeg
) -> None:
    shipped = services.models_register_shipped()  # as `bin/run` does
    assert {v.damage_backend for v in shipped} == {"segmentation", "detection"}
    assert ModelVersion.objects.get(status="active").damage_backend == "segmentation"
    (registered,) = services.models_register_shipped(root=keen_detection_root)
    assert (registered.damage_backend, registered.status) == ("detection", "candidate")
    model_version_promote(version=registered, user=admin_user)
    assert ModelVersion.objects.get(status="active").pk == registered.pk

    case = case_submit(
        customer=customer,
        policy_number="D-1",
        loss_date=dt.date(2026, 11, 1),
        loss_place="Yard",
        description="boxes",
        uploads=[Upload(name="bus.jpg", stream=io.BytesIO(vehicle_jpeg))],
    )
    run = InferenceRun.objects.get(photo__case=case)
    assert run.model_version_id == registered.pk
    tasks.photo_process_task(run.pk)
    run.refresh_from_db()
    assert run.status == InferenceRun.Status.DONE, run.error
    assert run.result["model"]["damage_backend"] == "detection"
    assert run.timings_ms["detection_ms"] > 0
    tasks.case_finalise_task(case.pk)
    findings = list(Finding.objects.filter(case=case))
    assert findings, "a score floor of 0.001 keeps boxes"
    assert {f.shape for f in findings} == {"box"}
    for f in findings:
        x0, y0, x1, y1 = f.box
        assert f.area_px == (x1 - x0) * (y1 - y0)
        assert 0.0 <= f.confidence <= 1.0

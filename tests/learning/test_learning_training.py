"""Training runs end to end on a tiny schedule: a reviewed claim's snapshot fine-tunes the
active version into a registered candidate; a cancelled run stops; a run whose worker died
after an epoch resumes from its checkpoint."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from claims.models import AuditEvent
from damage_vision.training.config import load_config
from damage_vision.training.segmentation import TrainingStopped, train_segmentation
from damage_vision.versions.registry import load_manifest
from inference.models import ModelVersion
from learning import services, tasks
from learning.models import DatasetSnapshot, TrainingRun
from tests.conftest import claim_processed
from tests.learning.conftest import TINY, review_and_export

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def snapshot(customer, adjuster, admin_user, active_model, vehicle_jpeg) -> Any:
    active_model.threshold = 1.0  # every finding goes through a person
    active_model.save(update_fields=["threshold"])
    case = claim_processed(customer, vehicle_jpeg)
    return review_and_export(case, adjuster, admin_user)


def _epochs(run: TrainingRun) -> list[int]:
    lines = (Path(run.out_dir) / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["epoch"] for line in lines]


def test_a_run_registers_a_candidate(
    admin_user, active_model, snapshot, sent, torch_threads
) -> None:
    run = services.training_run_create(
        user=admin_user, start_version=active_model, snapshots=[snapshot], schedule=TINY
    )
    assert sent == [run.pk]
    assert tasks.training_run_task(run.pk) == "done"  # the task body, in this process

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.DONE
    assert run.attempts == 1
    assert _epochs(run) == [1]
    candidate = run.candidate
    assert candidate is not None
    assert candidate.status == ModelVersion.Status.CANDIDATE
    assert (candidate.name, candidate.version) == (
        active_model.name,
        f"{active_model.version}-ft{run.pk}",
    )
    assert ModelVersion.objects.get(status="active") == active_model  # promoting is a person's call

    # weights by content hash, in the candidate's own directory under TRAINING_ROOT
    manifest = load_manifest(candidate.manifest_path)
    assert Path(candidate.manifest_path).parent == services.training_root() / "versions"
    for role in ("segmentation", "vehicle"):
        for backend in ("torch", "onnx"):
            path = manifest.weight_path(role, backend)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            assert path.name == f"{role}-{digest}{path.suffix}"
    assert candidate.weights_sha256 == manifest.weights_sha256("onnx")
    start = load_manifest(active_model.manifest_path)
    assert (
        manifest.weight_file("segmentation", "torch").sha256
        != start.weight_file("segmentation", "torch").sha256
    )
    assert manifest.vehicle == start.vehicle  # the start version's vehicle classifier
    assert manifest.settings == start.settings

    training = candidate.metrics["training"]
    assert training["run"] == run.pk
    assert training["from_version"] == str(active_model)
    assert training["snapshots"] == ["bus-1"]
    assert training["cases"] == snapshot.cases
    assert len(training["cases"]) == 1
    assert training["public"] == []
    assert training["schedule"] == TINY
    # one photo cannot fit a calibrator: the start version's threshold, said so
    calibration = candidate.metrics["calibration"]
    assert calibration["fitted"] is False
    assert "too few labelled damages" in calibration["reason"]
    assert calibration["kept_from"] == active_model.version
    assert candidate.threshold == start.threshold
    assert candidate.calibrated is (start.calibrator is not None)
    assert 0.0 <= candidate.metrics["segmentation_validation"]["damage_miou"] <= 1.0

    progress = run.progress
    assert progress["phase"] == "done"
    assert (progress["epoch"], progress["epochs"], progress["step"], progress["steps"]) == (
        1,
        1,
        1,
        1,
    )
    assert progress["train_loss"] > 0
    assert set(progress["validation"]) == {"damage_miou", "total_miou"}
    assert [h["epoch"] for h in progress["history"]] == [1]
    assert progress["seconds_elapsed"] > 0
    assert "resumed_from_epoch" not in progress
    log = Path(run.log_path).read_text()
    assert "attempt 1: starting" in log
    assert "epoch 1: loss" in log  # the trainer's own lines
    # reviewed labels are damage only: the parts head is said to have none, not "nan"
    assert "parts: no part labels, damage mIoU 0." in log
    assert "nan" not in log
    assert f"registered candidate {candidate}" in log
    assert {"training.started", "training.finished"} <= set(
        AuditEvent.objects.values_list("verb", flat=True)
    )
    finished = AuditEvent.objects.get(verb="training.finished")
    assert finished.data["candidate"] == str(candidate)

    # a duplicate message changes nothing
    assert tasks.training_run_task(run.pk) is None
    assert ModelVersion.objects.filter(trained_by=run).count() == 1

    # the run page's progress document links the candidate
    client = Client()
    client.force_login(admin_user)
    document = client.get(reverse("learning:progress", args=[run.pk])).json()
    assert document["finished"] is True
    assert document["candidate"] == {
        "name": str(candidate),
        "url": reverse("learning:model_version", args=[candidate.pk]),
    }
    assert f"registered candidate {candidate}" in document["log_tail"]


def test_a_cancelled_run_stops_without_a_candidate(
    admin_user, active_model, snapshot, sent, torch_threads
) -> None:
    run = services.training_run_create(
        user=admin_user,
        start_version=active_model,
        snapshots=[snapshot],
        schedule=TINY | {"epochs": 3},
    )
    versions = ModelVersion.objects.count()
    attempt = services.training_run_claim(run_id=run.pk)
    assert attempt == 1
    services.training_run_cancel(run=run, user=admin_user)  # while the worker has it

    run = services.training_run_execute(run_id=run.pk, attempt=attempt)
    assert run.status == TrainingRun.Status.CANCELLED
    assert run.candidate is None
    assert ModelVersion.objects.count() == versions
    assert run.progress["phase"] == "cancelled"
    assert run.progress["step"] == 1
    assert run.progress["epoch"] == 1
    assert not (Path(run.out_dir) / "metrics.jsonl").exists()  # no epoch finished
    assert "stopped after 0 finished epochs" in Path(run.log_path).read_text()
    assert AuditEvent.objects.filter(verb="training.cancelled", data__run=run.pk).exists()


def test_a_run_resumes_from_its_last_checkpoint(
    admin_user, active_model, snapshot, sent, torch_threads, django_capture_on_commit_callbacks
) -> None:
    import datetime as dt

    from django.utils import timezone

    run = services.training_run_create(
        user=admin_user,
        start_version=active_model,
        snapshots=[snapshot],
        schedule=TINY | {"epochs": 2},
    )
    # Attempt 1: a worker trains epoch 1 of 2, writes last.pt, and dies.
    assert services.training_run_claim(run_id=run.pk) == 1
    cfg = load_config(services.training_run_config(run=run))
    events: list[str] = []

    def record(event: dict[str, Any]) -> None:
        events.append(event["event"])

    with pytest.raises(TrainingStopped) as stopped:
        train_segmentation(
            cfg,
            resume=True,
            progress=False,
            on_progress=record,
            should_stop=lambda: "epoch" in events,
        )
    assert stopped.value.epochs_done == 1
    assert _epochs(run) == [1]
    assert (Path(run.out_dir) / "last.pt").is_file()
    long_ago = timezone.now() - dt.timedelta(seconds=settings.TRAINING_HEARTBEAT_STALE_S + 60)
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=long_ago, queued_at=long_ago)

    # The beat's sweep sends it again; the new worker takes it over and resumes.
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.training_runs_sweep() == [run.pk]
    assert sent == [run.pk]
    assert tasks.training_run_task(run.pk) == "done"

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.DONE
    assert run.attempts == 2
    assert _epochs(run) == [1, 2]  # epoch 1 was not trained again
    assert run.progress["resumed_from_epoch"] == 1
    assert [h["epoch"] for h in run.progress["history"]] == [2]
    assert run.candidate is not None
    assert run.candidate.metrics["training"]["schedule"]["epochs"] == 2
    assert "attempt 2: resuming from last.pt" in Path(run.log_path).read_text()


def _copies(snapshot: Any, root: Path, copies: int) -> Any:
    """A snapshot of `copies` copies of the exported photo named copy-<i>.jpg (sha256 of
    copy-0, 1, 2 and 5 starts with an even byte: the fit half; 3, 4, 6, 7: the threshold
    half), each labelled "deformity" on its left half: the
    deformity findings there are correct, the others wrong, so a calibrator can be fitted."""
    source = Path(snapshot.path)
    document = json.loads((source / "annotations.json").read_text())
    [image] = document["images"]
    width, height = image["width"], image["height"]
    deformity = next(c["id"] for c in document["categories"] if c["name"] == "deformity")
    folder = root / "copies"
    (folder / "images").mkdir(parents=True)
    images, annotations = [], []
    for i in range(copies):
        name = f"copy-{i}.jpg"
        (folder / "images" / name).write_bytes(
            (source / "images" / image["file_name"]).read_bytes()
        )
        images.append(image | {"id": i + 1, "file_name": name})
        half = width // 2
        annotations.append(
            {
                "id": i + 1,
                "image_id": i + 1,
                "category_id": deformity,
                "segmentation": [[0, 0, half, 0, half, height, 0, height]],
                "bbox": [0, 0, half, height],
                "area": half * height,
                "iscrowd": 0,
            }
        )
    (folder / "annotations.json").write_text(
        json.dumps(document | {"images": images, "annotations": annotations})
    )
    return DatasetSnapshot.objects.create(
        version="copies",
        path=str(folder),
        images=copies,
        annotations=len(annotations),
        categories=snapshot.categories,
        cases=snapshot.cases,
    )


def test_enough_labels_fit_the_candidate_its_own_calibrator(
    admin_user, active_model, snapshot, sent, torch_threads, settings, tmp_path
) -> None:
    settings.TRAINING_CALIBRATION_MIN_FINDINGS = 2
    copies = _copies(snapshot, tmp_path, 8)
    run = services.training_run_create(
        user=admin_user,
        start_version=active_model,
        snapshots=[copies],
        schedule=TINY | {"resize": 384},
    )
    assert tasks.training_run_task(run.pk) == "done"
    run.refresh_from_db()
    candidate = run.candidate
    calibration = candidate.metrics["calibration"]
    assert calibration == {
        "fitted": True,
        "fit_photos": 4,
        "threshold_photos": 4,
        "fit_findings": calibration["fit_findings"],
        "threshold_findings": calibration["threshold_findings"],
        "threshold": candidate.threshold,
        "split": "sha256 of the file name, even first byte: fit",
    }
    assert calibration["fit_findings"] > 0
    assert calibration["threshold_findings"] > 0
    assert candidate.calibrated is True
    manifest = load_manifest(candidate.manifest_path)
    calibrator = manifest.calibrator_path()  # checks its sha256
    assert calibrator is not None
    assert (
        calibrator.name == f"calibrator-{hashlib.sha256(calibrator.read_bytes()).hexdigest()}.json"
    )
    assert manifest.raw["provenance"]["calibrated_from"] == candidate.version
    assert candidate.threshold_promise["calibration_findings"] == calibration["threshold_findings"]
    assert candidate.metrics["findings_threshold_split"]["photos"] == 4
    assert candidate.metrics["training"]["cases"] == snapshot.cases
    assert candidate.metrics["training"]["snapshots"] == ["copies"]
    # only the candidate's directory is left in the versions folder
    assert [p.name for p in services.training_root().joinpath("versions").iterdir()] == [
        candidate.version
    ]

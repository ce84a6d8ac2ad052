"""The body of the training task: `training_run_config` writes the run's training config
(the same file for every attempt, so a resumed attempt trains what the first one did), and
`training_run_execute` trains (resuming from `last.pt`), packages, calibrates and registers
the candidate, or stops when the run is cancelled or taken over.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from claims.audit import audit_record
from damage_vision.data.paths import data_root
from damage_vision.versions.registry import load_manifest
from inference.services import model_version_register
from learning.models import DatasetSnapshot, TrainingRun
from learning.services.packaging import candidate_package
from learning.services.progress import TrainingProgress, training_log_append, training_run_heartbeat
from learning.services.validation import start_version_manifest
from learning.services.worker import held_by_attempt, training_run_fail
from learning.sources import PUBLIC_SOURCES

CONFIG = "config.yaml"


def _snapshot_repeat(run: TrainingRun, snapshots: Sequence[DatasetSnapshot]) -> int:
    """Repeat tiny snapshots so that one batch fills (segmentation needs two images)."""
    images = sum(s.images for s in snapshots)
    return max(1, -(-int(run.schedule["batch_size"]) // max(1, images)))


def training_run_config(*, run: TrainingRun) -> Path:
    """Write the run's training config (YAML) under its out dir; the same run writes the
    same file, so a resumed attempt trains what the first one did."""
    manifest = start_version_manifest(run.start_version)
    spec = dict((manifest.raw.get("provenance") or {}).get("segmentation_spec") or {})
    snapshots = list(run.snapshots.order_by("pk"))
    schedule = run.schedule
    repeat = _snapshot_repeat(run, snapshots)
    train: list[dict[str, Any]] = [
        {"head": "damage", "coco": str(Path(s.path) / "annotations.json"), "repeat": repeat}
        for s in snapshots
    ]
    if run.public_sources:
        root = data_root()
        train += [
            PUBLIC_SOURCES[p["name"]].config_entry(root=root, limit=int(p["limit"]))
            for p in run.public_sources
        ]
    val = [{"head": "damage", "coco": str(Path(s.path) / "annotations.json")} for s in snapshots]
    out = Path(run.out_dir)
    config = {
        "task": "segmentation",
        "name": f"training-run-{run.pk}",
        "out": str(out),
        "model": {
            "arch": spec.get("arch", manifest.architecture),
            "encoder": spec.get("encoder", manifest.encoder),
            "joint": bool(spec.get("joint", manifest.joint)),
            "pretrained_encoder": False,  # the start version's weights replace it anyway
            "init_checkpoint": str(manifest.weight_path("segmentation", "torch")),
        },
        "taxonomies": {"parts": manifest.part_taxonomy, "damage": manifest.damage_taxonomy},
        "data": {
            "resize": int(schedule["resize"]),
            "crop": int(schedule["crop"]),
            "sampling": "none",
            "train": train,
            "val": val,
        },
        "train": {
            "epochs": int(schedule["epochs"]),
            "max_steps_per_epoch": int(schedule["max_steps_per_epoch"]),
            "batch_size": int(schedule["batch_size"]),
            "lr": float(schedule["lr"]),
            "warmup_epochs": 0.1,  # fine-tuning a trained network: a short warm-up
            "loss": "dice_ce",
            "damage_weight": 0.5,
            "seed": 0,
            "workers": 0,
            "threads": int(settings.TRAINING_THREADS),
            "device": "auto",
        },
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / CONFIG
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def training_run_execute(*, run_id: int, attempt: int) -> TrainingRun:
    """Train (resuming from `last.pt` when an earlier attempt left one), package, calibrate
    and register the candidate. Stops early when the run is cancelled or taken over."""
    from damage_vision.training.config import load_config
    from damage_vision.training.segmentation import LAST, TrainingStopped, train_segmentation

    run = TrainingRun.objects.select_related("start_version").get(pk=run_id)
    out = Path(run.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = Path(run.log_path)
    progress = TrainingProgress(run, attempt)
    resuming = (out / LAST).is_file()
    training_log_append(
        log, f"attempt {attempt}: {'resuming from ' + LAST if resuming else 'starting'}"
    )
    try:
        with training_run_heartbeat(run_id=run_id, attempt=attempt):
            cfg = load_config(training_run_config(run=run))
            with (
                log.open("a", encoding="utf-8") as fh,
                contextlib.redirect_stdout(fh),
                contextlib.redirect_stderr(fh),
            ):
                best = train_segmentation(
                    cfg,
                    resume=True,
                    progress=False,
                    on_progress=progress,
                    should_stop=progress.should_stop,
                )
            if progress.should_stop():
                raise TrainingStopped(int(progress.values.get("epoch") or 0))
            version = f"{run.start_version.version}-ft{run.pk}"
            directory = candidate_package(
                run=run, best=best, version=version, progress=progress, log=log
            )
            candidate = model_version_register(manifest=load_manifest(directory))
    except TrainingStopped as stopped:
        training_log_append(log, f"stopped after {stopped.epochs_done} finished epochs")
        return _stopped(run_id=run_id, attempt=attempt, progress=progress)
    except Exception as exc:
        training_log_append(log, f"failed: {type(exc).__name__}: {exc}")
        training_run_fail(run_id=run_id, attempt=attempt, error=f"{type(exc).__name__}: {exc}")
        raise
    with transaction.atomic():
        progress.values |= {"phase": "done", "seconds_left": 0}
        if (
            TrainingRun.objects.filter(held_by_attempt(run_id, attempt))
            .exclude(status__in=(TrainingRun.Status.DONE, TrainingRun.Status.FAILED))
            .update(
                status=TrainingRun.Status.DONE,
                candidate=candidate,
                finished_at=timezone.now(),
                progress=progress.values,
            )
        ):
            audit_record(
                verb="training.finished",
                data={
                    "run": run_id,
                    "candidate": str(candidate),
                    "calibration": candidate.metrics.get("calibration", {}),
                },
            )
    training_log_append(log, f"registered candidate {candidate}")
    return TrainingRun.objects.get(pk=run_id)


def _stopped(*, run_id: int, attempt: int, progress: TrainingProgress) -> TrainingRun:
    with transaction.atomic():
        progress.values |= {"phase": "cancelled", "seconds_left": None}
        if TrainingRun.objects.filter(
            held_by_attempt(run_id, attempt), status=TrainingRun.Status.CANCELLING
        ).update(
            status=TrainingRun.Status.CANCELLED,
            finished_at=timezone.now(),
            progress=progress.values,
        ):
            audit_record(verb="training.cancelled", data={"run": run_id})
    return TrainingRun.objects.get(pk=run_id)

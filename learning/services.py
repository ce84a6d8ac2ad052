"""Training runs: create, cancel, execute on the `training` worker, sweep dead workers.

A run fine-tunes a segmentation model version on reviewed label snapshots (and, if asked,
public datasets) with the CPU training stack (`inference.core.training`), then packages
and registers the result as a **candidate** version; promoting it stays a person's call.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from claims.audit import audit_record
from common.access import require_admin
from common.db import heartbeat, send_each
from common.errors import ApplicationError
from inference.core.data.paths import data_root
from inference.core.registry import MANIFEST, ManifestError, load_manifest, write_manifest
from inference.core.taxonomy import load_taxonomy
from inference.models import ModelVersion
from inference.services import model_version_register
from learning.models import TrainingRun
from learning.sources import PUBLIC_SOURCES, available_sources
from review.models import DatasetSnapshot

logger = logging.getLogger(__name__)

# Heartbeats, attempts, threads and the calibration minimum are settings (TRAINING_*).
PROGRESS_EVERY_S = 1.0  # progress rows written at most this often (epoch ends always)

# Schedule keys: (lowest, highest, default). Crop must not exceed resize.
SCHEDULE_BOUNDS: dict[str, tuple[float, float, float]] = {
    "epochs": (1, 50, 3),
    "resize": (64, 1024, 512),
    "crop": (64, 1024, 384),
    "max_steps_per_epoch": (1, 5000, 100),
    "batch_size": (2, 16, 4),
    "lr": (1e-6, 1e-2, 1e-4),
}
PUBLIC_LIMIT_MAX = 100_000

LOG = "train.log"
TRAINING_TASK = "learning.tasks.training_run_task"
CONFIG = "config.yaml"


def training_root() -> Path:
    return Path(settings.TRAINING_ROOT)


# Create and cancel ------------------------------------------------------------------------


def _schedule_clean(schedule: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(schedule) - set(SCHEDULE_BOUNDS))
    if unknown:
        raise ApplicationError(
            f"Unknown schedule setting {', '.join(unknown)}; use {', '.join(SCHEDULE_BOUNDS)}."
        )
    for key, (low, high, default) in SCHEDULE_BOUNDS.items():
        raw = schedule.get(key, default)
        try:
            value: float = float(raw) if key == "lr" else int(raw)
        except (TypeError, ValueError):
            errors[key] = [f"{key} must be a number, got {raw!r}."]
            continue
        if not low <= value <= high:
            errors[key] = [f"{key} must be between {low:g} and {high:g}, got {value:g}."]
            continue
        clean[key] = value
    if not errors and clean["crop"] > clean["resize"]:
        errors["crop"] = [
            f"crop ({clean['crop']} px) must not exceed resize ({clean['resize']} px); "
            "lower the crop or raise the resize."
        ]
    if errors:
        first = next(iter(errors.values()))[0]
        raise ApplicationError(f"The schedule is out of bounds: {first}", errors=errors)
    return clean


def _public_clean(public: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    offered = {s.name for s in available_sources()}
    clean: list[dict[str, Any]] = []
    for entry in public:
        name = str(entry.get("name", ""))
        if name not in PUBLIC_SOURCES:
            raise ApplicationError(
                f"No public dataset is called {name!r}; choose from {', '.join(PUBLIC_SOURCES)}."
            )
        if name not in offered:
            raise ApplicationError(
                f"The public dataset {name} is not on this server (looked under the data "
                "root, $DAMAGE_DATA_DIR or ../shared/data); leave it out or install it."
            )
        try:
            limit = int(entry.get("limit", 0))
        except (TypeError, ValueError):
            limit = 0
        if not 1 <= limit <= PUBLIC_LIMIT_MAX:
            raise ApplicationError(
                f"The image limit of {name} must be between 1 and {PUBLIC_LIMIT_MAX}."
            )
        clean.append({"name": name, "limit": limit})
    return clean


def _segmentation_manifest(version: ModelVersion) -> Any:
    if version.damage_backend != ModelVersion.DamageBackend.SEGMENTATION:
        raise ApplicationError(
            f"{version} finds damage with a detector; training from the browser fine-tunes a "
            "segmentation version. Choose one whose damage back end is segmentation."
        )
    try:
        manifest = load_manifest(version.manifest_path)
        manifest.weight_path("segmentation", "torch")
    except (ManifestError, FileNotFoundError, OSError) as exc:
        raise ApplicationError(
            f"{version} has no PyTorch segmentation weights to start from ({exc}); "
            "choose a version whose directory holds its .pt files."
        ) from None
    return manifest


def training_run_create(
    *,
    user: Any,
    start_version: ModelVersion,
    snapshots: Sequence[DatasetSnapshot],
    public: Sequence[dict[str, Any]] = (),
    schedule: dict[str, Any] | None = None,
) -> TrainingRun:
    """Queue a training run (admins only); the `training` worker picks it up."""
    require_admin(user)
    _segmentation_manifest(start_version)
    snapshots = list(snapshots)
    public_clean = _public_clean(public)
    if not snapshots and not public_clean:
        raise ApplicationError(
            "Choose at least one label snapshot or public dataset to train on "
            "(export reviewed labels first if there is no snapshot)."
        )
    damage_classes = list(load_taxonomy(start_version.damage_taxonomy).classes[1:])
    for snapshot in snapshots:
        if list(snapshot.categories) != damage_classes:
            raise ApplicationError(
                f"Snapshot {snapshot.version} labels {', '.join(snapshot.categories)}, but "
                f"{start_version} uses {start_version.damage_taxonomy} "
                f"({', '.join(damage_classes)}); choose a snapshot of that taxonomy."
            )
        if not (Path(snapshot.path) / "annotations.json").is_file():
            raise ApplicationError(
                f"Snapshot {snapshot.version} has no annotations.json under {snapshot.path}; "
                "export the labels again."
            )
    clean = _schedule_clean(dict(schedule or {}))
    with transaction.atomic():
        run = TrainingRun.objects.create(
            start_version=start_version,
            public_sources=public_clean,
            schedule=clean,
            created_by=user,
            progress={"phase": "queued", "epochs": clean["epochs"]},
        )
        run.snapshots.set(snapshots)
        out = training_root() / "runs" / str(run.pk)
        TrainingRun.objects.filter(pk=run.pk).update(out_dir=str(out), log_path=str(out / LOG))
        audit_record(
            verb="training.started",
            actor=user,
            data={
                "run": run.pk,
                "from_version": str(start_version),
                "snapshots": [s.version for s in snapshots],
                "public": public_clean,
                "schedule": clean,
            },
        )
        transaction.on_commit(functools.partial(_enqueue, run.pk))
    run.refresh_from_db()
    return run


def _enqueue(run_id: int) -> None:
    # The task (`learning.tasks`, which calls this module) looked up by name; a broker that
    # cannot be reached leaves the run queued for the sweep.
    send_each(current_app.tasks[TRAINING_TASK], [run_id], "training run")


def training_run_cancel(*, run: TrainingRun, user: Any) -> TrainingRun:
    """A queued run is cancelled at once; a running one stops at its next step."""
    require_admin(user)
    now = timezone.now()
    with transaction.atomic():
        if TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(
            status=TrainingRun.Status.CANCELLED, finished_at=now
        ):
            _progress_set(run_id=run.pk, phase="cancelled")
            audit_record(verb="training.cancelled", actor=user, data={"run": run.pk})
        elif not TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.RUNNING).update(
            status=TrainingRun.Status.CANCELLING
        ):
            run.refresh_from_db()
            if run.status != TrainingRun.Status.CANCELLING:
                raise ApplicationError(
                    f"Training run {run.pk} is {run.get_status_display().lower()}; only a "
                    "queued or running run can be cancelled."
                )
        else:
            audit_record(verb="training.cancel_requested", actor=user, data={"run": run.pk})
    run.refresh_from_db()
    return run


def _progress_set(*, run_id: int, **values: Any) -> None:
    run = TrainingRun.objects.get(pk=run_id)
    TrainingRun.objects.filter(pk=run_id).update(progress=dict(run.progress or {}) | values)


# The worker side ---------------------------------------------------------------------------


def _stale(now: Any) -> Q:
    return Q(heartbeat_at__lt=now - timedelta(seconds=settings.TRAINING_HEARTBEAT_STALE_S))


def training_run_claim(*, run_id: int, now: Any = None) -> int | None:
    """Take a queued run, or a running one whose worker died (stale heartbeat); returns the
    attempt number, or None when the run is finished or a live worker holds it."""
    now = now or timezone.now()
    takeover = Q(status=TrainingRun.Status.RUNNING) & _stale(now)
    claimed = (
        TrainingRun.objects.filter(pk=run_id)
        .filter(Q(status=TrainingRun.Status.QUEUED) | takeover)
        .filter(attempts__lt=settings.TRAINING_MAX_ATTEMPTS)
        .update(
            status=TrainingRun.Status.RUNNING,
            heartbeat_at=now,
            attempts=F("attempts") + 1,
        )
    )
    if not claimed:
        return None
    TrainingRun.objects.filter(pk=run_id, started_at__isnull=True).update(started_at=now)
    return TrainingRun.objects.get(pk=run_id).attempts


def _ours(run_id: int, attempt: int) -> Q:
    return Q(pk=run_id, attempts=attempt)


def _heartbeat(*, run_id: int, attempt: int) -> contextlib.AbstractContextManager[None]:
    """Renew the run's heartbeat every TRAINING_HEARTBEAT_S while it trains or packages."""

    def renew() -> bool:
        return bool(
            TrainingRun.objects.filter(
                _ours(run_id, attempt),
                status__in=(TrainingRun.Status.RUNNING, TrainingRun.Status.CANCELLING),
            ).update(heartbeat_at=timezone.now())
        )

    return heartbeat(
        renew=renew, every_s=settings.TRAINING_HEARTBEAT_S, name=f"training run {run_id}"
    )


def _log(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"{timezone.now().isoformat(timespec='seconds')} {line}\n")


def _snapshot_repeat(run: TrainingRun, snapshots: Sequence[DatasetSnapshot]) -> int:
    """Repeat tiny snapshots so that one batch fills (segmentation needs two images)."""
    images = sum(s.images for s in snapshots)
    return max(1, -(-int(run.schedule["batch_size"]) // max(1, images)))


def training_run_config(*, run: TrainingRun) -> Path:
    """Write the run's training config (YAML) under its out dir; the same run writes the
    same file, so a resumed attempt trains what the first one did."""
    manifest = _segmentation_manifest(run.start_version)
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


class _Progress:
    """Turns the trainer's events into the run's progress row (at most once a second)."""

    def __init__(self, run: TrainingRun, attempt: int) -> None:
        self.run_id = run.pk
        self.attempt = attempt
        self.values: dict[str, Any] = dict(run.progress or {})
        self.before = float(self.values.get("seconds_elapsed") or 0.0)
        self.began = time.monotonic()
        self.first_step: int | None = None
        self.written = 0.0
        self.checked = 0.0
        self.stop = False

    def _elapsed(self) -> float:
        return time.monotonic() - self.began

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        v = self.values
        if kind == "start":
            v |= {
                "phase": "training",
                "epochs": event["epochs"],
                "steps": event["steps"],
                "epoch": event["start_epoch"],
                "step": 0,
            }
            if event["start_epoch"]:
                v["resumed_from_epoch"] = event["start_epoch"]
            self.first_step = event["start_epoch"] * event["steps"]
        elif kind == "step":
            v |= {
                "phase": "training",
                "epoch": event["epoch"],
                "step": event["step"],
                "train_loss": event["loss"],
            }
        elif kind == "epoch":
            figures = {
                k: event.get(k) for k in ("parts_miou", "damage_miou", "total_miou") if k in event
            }
            v |= {
                "phase": "training",
                "epoch": event["epoch"],
                "step": event["steps"],
                "train_loss": event["train_loss"],
                "validation": figures,
            }
            history = [h for h in v.get("history", []) if h.get("epoch") != event["epoch"]]
            v["history"] = [
                *history,
                {"epoch": event["epoch"], "train_loss": event["train_loss"]} | figures,
            ]
        v["epochs"] = event.get("epochs", v.get("epochs"))
        steps = int(v.get("steps") or 0)
        done = (int(v.get("epoch") or 1) - 1) * steps + int(v.get("step") or 0)
        if kind == "epoch":
            done = int(v["epoch"]) * steps
        total = int(v.get("epochs") or 0) * steps
        elapsed = self._elapsed()
        v["seconds_elapsed"] = round(self.before + elapsed, 1)
        here = done - (self.first_step or 0)
        if here > 0 and total:
            v["seconds_left"] = round(elapsed / here * max(0, total - done), 1)
        now = time.monotonic()
        if kind != "step" or now - self.written >= PROGRESS_EVERY_S:
            self.save()
            self.written = now

    def phase(self, name: str, **values: Any) -> None:
        self.values |= {"phase": name, "seconds_elapsed": round(self.before + self._elapsed(), 1)}
        self.values |= values
        self.save()

    def save(self) -> None:
        TrainingRun.objects.filter(_ours(self.run_id, self.attempt)).update(progress=self.values)

    def should_stop(self) -> bool:
        """Stop when the run is cancelled or another attempt took it over."""
        now = time.monotonic()
        if self.stop:
            return True
        if now - self.checked >= PROGRESS_EVERY_S or self.checked == 0.0:
            self.checked = now
            self.stop = not TrainingRun.objects.filter(
                _ours(self.run_id, self.attempt), status=TrainingRun.Status.RUNNING
            ).exists()
        return self.stop


def _split(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Deterministic fit / threshold halves by a hash of the file name."""
    fit: list[str] = []
    threshold: list[str] = []
    for name in sorted(names):
        (fit if hashlib.sha256(name.encode()).digest()[0] % 2 == 0 else threshold).append(name)
    return fit, threshold


def _calibration_coco(snapshots: Sequence[DatasetSnapshot], folder: Path) -> Path:
    """One COCO of every snapshot's photos (images linked, not copied) for calibration."""
    if len(snapshots) == 1:
        return Path(snapshots[0].path) / "annotations.json"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "images").mkdir(exist_ok=True)
    merged: dict[str, Any] = {"images": [], "annotations": [], "categories": []}
    seen: set[str] = set()
    for snapshot in snapshots:
        doc = json.loads((Path(snapshot.path) / "annotations.json").read_text(encoding="utf-8"))
        merged["categories"] = doc["categories"]
        ids: dict[int, int] = {}
        for image in doc["images"]:
            if image["file_name"] in seen:
                continue  # the same photo in two snapshots: the first one's labels
            seen.add(image["file_name"])
            ids[image["id"]] = len(merged["images"]) + 1
            merged["images"].append(image | {"id": ids[image["id"]]})
            link = folder / "images" / image["file_name"]
            if not link.exists():
                os.symlink(Path(snapshot.path) / "images" / image["file_name"], link)
        for ann in doc["annotations"]:
            if ann["image_id"] in ids:
                merged["annotations"].append(
                    ann | {"id": len(merged["annotations"]) + 1, "image_id": ids[ann["image_id"]]}
                )
    path = folder / "annotations.json"
    path.write_text(json.dumps(merged), encoding="utf-8")
    return path


def _calibration_plan(coco: Path) -> tuple[list[str], list[str], str | None]:
    """(fit photos, threshold photos, why not) from the labelled damage of `coco`."""
    doc = json.loads(coco.read_text(encoding="utf-8"))
    names = {im["id"]: im["file_name"] for im in doc["images"]}
    fit, threshold = _split(list(names.values()))
    labels = {n: 0 for n in names.values()}
    for ann in doc["annotations"]:
        labels[names[ann["image_id"]]] += 1
    need = int(settings.TRAINING_CALIBRATION_MIN_FINDINGS)
    in_fit, in_threshold = sum(labels[n] for n in fit), sum(labels[n] for n in threshold)
    if min(in_fit, in_threshold) < need:
        return (
            fit,
            threshold,
            f"too few labelled damages to fit a calibrator: {in_fit} in the fit half and "
            f"{in_threshold} in the threshold half of {len(names)} photos; {need} each needed",
        )
    return fit, threshold, None


def _keep_start_calibration(directory: Path, start: Any, reason: str) -> dict[str, Any]:
    """Give the candidate the start version's calibrator and threshold (or none)."""
    data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    source = json.loads((start.directory / MANIFEST).read_text(encoding="utf-8"))
    if source.get("calibrator"):
        shutil.copy2(start.directory / source["calibrator"]["file"], directory)
        data["calibrator"] = source["calibrator"]
    data["threshold"] = start.threshold
    data["target_precision"] = start.target_precision
    # The start version's promise was tested on its own findings, not on these weights.
    data.pop("threshold_promise", None)
    calibration = {
        "fitted": False,
        "reason": reason,
        "kept_from": start.version,
        "calibrator": bool(source.get("calibrator")),
        "threshold": start.threshold,
    }
    data.setdefault("metrics", {})["calibration"] = calibration
    write_manifest(data, directory)
    return calibration


def _candidate_package(
    *, run: TrainingRun, best: Path, version: str, progress: _Progress, log: Path
) -> Path:
    """Package `best` as the candidate directory (weights by sha256), then calibrate it."""
    # Imported here: they load torch, which the web process (it imports this module for
    # the training pages) never needs.
    from inference.core.evaluation.calibrate import calibrate_version
    from inference.core.training.package import package_version

    start = load_manifest(run.start_version.manifest_path)
    snapshots = list(run.snapshots.order_by("pk"))
    directory = training_root() / "versions" / version
    if (directory / MANIFEST).is_file():
        try:
            load_manifest(directory)
            return directory  # a previous attempt got this far
        except ManifestError:
            pass
    shutil.rmtree(directory, ignore_errors=True)
    raw = training_root() / "versions" / f".{version}-uncalibrated"
    shutil.rmtree(raw, ignore_errors=True)
    raw.parent.mkdir(parents=True, exist_ok=True)
    cases = sorted({int(c) for s in snapshots for c in s.cases})
    snapshot_versions = [s.version for s in snapshots]
    data_names = ", ".join(
        [*(f"snapshot {v}" for v in snapshot_versions), *(p["name"] for p in run.public_sources)]
    )
    training = {
        "run": run.pk,
        "from_version": str(run.start_version),
        "snapshots": snapshot_versions,
        "cases": cases,
        "public": list(run.public_sources),
        "schedule": dict(run.schedule),
        "validation": "on the training snapshots' photos (no held-out split)",
    }
    progress.phase("packaging")
    _log(log, f"packaging {best} as {version}")
    package_version(
        segmentation=best,
        vehicle=None,
        vehicle_from=start,
        directory=raw,
        version=version,
        name=start.name,
        description=(
            f"{start.name} {start.version} fine-tuned by training run {run.pk} on {data_names}."
        ),
        threshold=start.threshold,
        extra_metrics={"training": training},
        # Photos reach the networks (and the vehicle classifier) at the start version's
        # size: a schedule that trains on small crops must not shrink what inference sees.
        input_size=start.input_size,
    )
    data = json.loads((raw / MANIFEST).read_text(encoding="utf-8"))
    data["settings"] = dict(start.settings)  # the start version's pipeline settings
    write_manifest(data, raw)

    reason: str | None = "no label snapshot to calibrate on (public data only)"
    if snapshots:
        coco = _calibration_coco(snapshots, Path(run.out_dir) / "calibration")
        fit, threshold, reason = _calibration_plan(coco)
    if reason is None:
        progress.phase("calibrating")
        _log(log, f"calibrating on {len(fit)} fit and {len(threshold)} threshold photos")
        try:
            summary = calibrate_version(
                weights=str(raw),
                coco=coco,
                images=None,
                fit_photos=fit,
                threshold_photos=threshold,
                out=directory,
                version=version,
                target_precision=start.target_precision,
                threads=int(settings.TRAINING_THREADS),
            )
        except ValueError as exc:  # e.g. one outcome only: no calibrator can be fitted
            reason = f"the calibrator could not be fitted: {exc}"
            shutil.rmtree(directory, ignore_errors=True)
        else:
            data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
            data["metrics"]["calibration"] = {
                "fitted": True,
                "fit_photos": len(fit),
                "threshold_photos": len(threshold),
                "fit_findings": summary["fit_findings"],
                "threshold_findings": summary["threshold_findings"],
                "threshold": summary["threshold"],
                "split": "sha256 of the file name, even first byte: fit",
            }
            write_manifest(data, directory)
            shutil.rmtree(raw, ignore_errors=True)
    if reason is not None:
        _log(log, f"calibration kept from {start.version}: {reason}")
        _keep_start_calibration(raw, start, reason)
        raw.rename(directory)
    load_manifest(directory)  # hashes checked
    return directory


def training_run_execute(*, run_id: int, attempt: int) -> TrainingRun:
    """Train (resuming from `last.pt` when an earlier attempt left one), package, calibrate
    and register the candidate. Stops early when the run is cancelled or taken over."""
    from inference.core.training.config import load_config
    from inference.core.training.segmentation import LAST, TrainingStopped, train_segmentation

    run = TrainingRun.objects.select_related("start_version").get(pk=run_id)
    out = Path(run.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = Path(run.log_path)
    progress = _Progress(run, attempt)
    resuming = (out / LAST).is_file()
    _log(log, f"attempt {attempt}: {'resuming from ' + LAST if resuming else 'starting'}")
    try:
        with _heartbeat(run_id=run_id, attempt=attempt):
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
            directory = _candidate_package(
                run=run, best=best, version=version, progress=progress, log=log
            )
            candidate = model_version_register(manifest=load_manifest(directory))
    except TrainingStopped as stopped:
        _log(log, f"stopped after {stopped.epochs_done} finished epochs")
        return _stopped(run_id=run_id, attempt=attempt, progress=progress)
    except Exception as exc:
        _log(log, f"failed: {type(exc).__name__}: {exc}")
        training_run_fail(run_id=run_id, attempt=attempt, error=f"{type(exc).__name__}: {exc}")
        raise
    with transaction.atomic():
        progress.values |= {"phase": "done", "seconds_left": 0}
        if (
            TrainingRun.objects.filter(_ours(run_id, attempt))
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
    _log(log, f"registered candidate {candidate}")
    return TrainingRun.objects.get(pk=run_id)


def _stopped(*, run_id: int, attempt: int, progress: _Progress) -> TrainingRun:
    with transaction.atomic():
        progress.values |= {"phase": "cancelled", "seconds_left": None}
        if TrainingRun.objects.filter(
            _ours(run_id, attempt), status=TrainingRun.Status.CANCELLING
        ).update(
            status=TrainingRun.Status.CANCELLED,
            finished_at=timezone.now(),
            progress=progress.values,
        ):
            audit_record(verb="training.cancelled", data={"run": run_id})
    return TrainingRun.objects.get(pk=run_id)


def training_run_fail(*, run_id: int, attempt: int | None, error: str) -> bool:
    query = TrainingRun.objects.filter(pk=run_id).exclude(
        status__in=(
            TrainingRun.Status.DONE,
            TrainingRun.Status.CANCELLED,
            TrainingRun.Status.FAILED,
        )
    )
    if attempt is not None:
        query = query.filter(attempts=attempt)
    with transaction.atomic():
        failed = query.update(
            status=TrainingRun.Status.FAILED, error=error, finished_at=timezone.now()
        )
        if failed:
            _progress_set(run_id=run_id, phase="failed", seconds_left=None)
            audit_record(verb="training.failed", data={"run": run_id, "error": error})
    return bool(failed)


def training_runs_sweep(*, now: Any = None) -> list[int]:
    """Send again every running run whose worker died (stale heartbeat): the redelivered
    task takes it over and resumes from `last.pt`. A cancelling run whose worker died is
    cancelled; one that used up its attempts fails. A queued run is sent again when no
    live worker trains anything (its message was lost: a broker outage at creation)."""
    now = now or timezone.now()
    stale_s = settings.TRAINING_HEARTBEAT_STALE_S
    # `queued_at` marks when a run was last sent: one message a stale period is enough.
    resend_before = now - timedelta(seconds=stale_s)
    resent: list[int] = []
    stale = TrainingRun.objects.filter(
        Q(status__in=(TrainingRun.Status.RUNNING, TrainingRun.Status.CANCELLING)) & _stale(now)
    )
    for run in stale:
        if run.status == TrainingRun.Status.CANCELLING:
            with transaction.atomic():
                if (
                    TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.CANCELLING)
                    .filter(_stale(now))
                    .update(status=TrainingRun.Status.CANCELLED, finished_at=now)
                ):
                    _progress_set(run_id=run.pk, phase="cancelled", seconds_left=None)
                    audit_record(verb="training.cancelled", data={"run": run.pk})
            continue
        if run.attempts >= settings.TRAINING_MAX_ATTEMPTS:
            training_run_fail(
                run_id=run.pk,
                attempt=run.attempts,
                error=f"its worker died {run.attempts} times; see the log, then start a new run",
            )
            continue
        if _resend(run=run, now=now, before=resend_before, extra=_stale(now)):
            resent.append(run.pk)
    busy = (
        TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).exclude(_stale(now)).exists()
    )
    if not busy:  # a live worker trains one run at a time: the others wait their turn
        for run in TrainingRun.objects.filter(
            status=TrainingRun.Status.QUEUED, queued_at__lt=resend_before
        ).order_by("queued_at")[:1]:
            if _resend(run=run, now=now, before=resend_before, extra=Q(status=run.status)):
                resent.append(run.pk)
    return resent


def _resend(*, run: TrainingRun, now: Any, before: Any, extra: Q) -> bool:
    """Send the run again unless another sweep just did (a conditional update)."""
    with transaction.atomic():
        if (
            not TrainingRun.objects.filter(pk=run.pk, queued_at=run.queued_at, queued_at__lt=before)
            .filter(extra)
            .update(queued_at=now)
        ):
            return False
        transaction.on_commit(functools.partial(_enqueue, run.pk))
    return True

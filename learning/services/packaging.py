"""Packaging a trained run's best weights as the candidate version's directory under
`training_root()/versions` (weights by sha256, the start version's input size and pipeline
settings, the run's provenance in its metrics), then calibrating it on the snapshots or
keeping the start version's calibration; a later attempt reuses a finished directory.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from django.conf import settings

from damage_vision.versions.registry import MANIFEST, ManifestError, load_manifest, write_manifest
from learning.models import TrainingRun
from learning.services.calibration import (
    calibration_coco,
    calibration_keep_start,
    calibration_plan,
)
from learning.services.progress import TrainingProgress, training_log_append
from learning.services.starting import training_root


def candidate_package(
    *, run: TrainingRun, best: Path, version: str, progress: TrainingProgress, log: Path
) -> Path:
    """Package `best` as the candidate directory (weights by sha256), then calibrate it."""
    # Imported here: they load torch, which the web process (it imports this module for
    # the training pages) never needs.
    from damage_vision.evaluation.calibrate import calibrate_version
    from damage_vision.training.package import package_version

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
    training_log_append(log, f"packaging {best} as {version}")
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
        coco = calibration_coco(snapshots, Path(run.out_dir) / "calibration")
        fit, threshold, reason = calibration_plan(coco)
    if reason is None:
        progress.phase("calibrating")
        training_log_append(
            log, f"calibrating on {len(fit)} fit and {len(threshold)} threshold photos"
        )
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
        training_log_append(log, f"calibration kept from {start.version}: {reason}")
        calibration_keep_start(raw, start, reason)
        raw.rename(directory)
    load_manifest(directory)  # hashes checked
    return directory

"""Calibrating a candidate on its label snapshots: the deterministic fit / threshold split of
the photos (by a hash of the file name), one COCO of all snapshots' photos, the plan (or the
reason there are too few labelled damages to fit a calibrator) and, failing that, giving the
candidate the start version's calibrator and threshold.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings

from damage_vision.versions.registry import MANIFEST, write_manifest
from learning.models import DatasetSnapshot


def _split(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Deterministic fit / threshold halves by a hash of the file name."""
    fit: list[str] = []
    threshold: list[str] = []
    for name in sorted(names):
        (fit if hashlib.sha256(name.encode()).digest()[0] % 2 == 0 else threshold).append(name)
    return fit, threshold


def calibration_coco(snapshots: Sequence[DatasetSnapshot], folder: Path) -> Path:
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


def calibration_plan(coco: Path) -> tuple[list[str], list[str], str | None]:
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


def calibration_keep_start(directory: Path, start: Any, reason: str) -> dict[str, Any]:
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

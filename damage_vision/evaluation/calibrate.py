"""`python -m damage_vision calibrate`: a model version with a calibrated finding confidence
and a threshold that keeps a precision promise (a new version directory).

1. Run the version's pipeline (without a calibrator) on the **fit** photos and fit the
   calibrator on their findings' evidence and outcomes (`calibration.fit_calibrator`).
2. Run it with the calibrator on the **threshold** photos and choose the threshold by
   Learn-then-Test for the target precision (`risk_control.precision_threshold`).
3. Write the new version: the same weight files, the calibrator JSON (named by its
   sha256), the threshold, its promise, and the pipeline settings it was fitted with.

The fit and threshold photos together are the calibration half; the evaluation half is
never read here (evaluate it afterwards with `evaluate --task findings --record`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from damage_vision.evaluation.findings import evaluate_findings, summarise
from damage_vision.pipeline.calibration import (
    EVIDENCE,
    fit_calibrator,
    load_calibrator,
    write_calibrator,
)
from damage_vision.pipeline.predictor import Predictor
from damage_vision.pipeline.risk_control import precision_threshold
from damage_vision.pipeline.settings import FINDING_SETTINGS
from damage_vision.versions.registry import MANIFEST, load_manifest, write_manifest


def calibrate_version(
    *,
    weights: str | None,
    coco: Path,
    images: Path | None,
    fit_photos: Sequence[str],
    threshold_photos: Sequence[str],
    out: Path,
    version: str,
    settings: dict[str, Any] | None = None,
    target_precision: float = 0.9,
    confidence_level: float = 0.9,
    features: Sequence[str] = EVIDENCE,
    regularisation: float = 0.03,
    method: str = "sigmoid",
    mapping: Path | None = None,
    threads: int | None = None,
    rule: str = "mask",
) -> dict[str, Any]:
    """Fit, choose, write; returns a summary (the new manifest's promise and figures).
    `rule`: what makes a finding correct ("mask", or "box" for a detection version); a
    weight file the source version references in another version's directory stays a
    reference (re-based), any other is copied."""
    if set(fit_photos) & set(threshold_photos):
        raise ValueError("the fit and threshold photo lists overlap; they must be disjoint")
    if out.exists():
        raise FileExistsError(f"{out} exists; choose a new directory for the new version")
    predictor = Predictor.from_manifest(weights, threads=threads)
    predictor.calibrator = None  # fit on the uncalibrated pipeline's findings
    overrides = dict(predictor.manifest.settings) | dict(settings or {})
    predictor.settings = predictor.settings.with_overrides(overrides)

    fitted = evaluate_findings(predictor, coco, images, mapping, fit_photos, rule=rule)
    calibrator = fit_calibrator(
        [(f.evidence, f.damage) for f in fitted.findings],
        [f.correct for f in fitted.findings],
        features=features,
        classes=[c for c in predictor.damage_taxonomy.classes[1:]],
        regularisation=regularisation,
        method=method,
        meta={
            "photos": len(fitted.photos),
            "rule": f"strict (same class, >= 50% of the {'box' if rule == 'box' else 'mask'})",
        },
    )
    predictor.calibrator = calibrator
    held = evaluate_findings(predictor, coco, images, mapping, threshold_photos, rule=rule)
    choice = precision_threshold(
        [f.confidence for f in held.findings],
        [f.correct for f in held.findings],
        target_precision=target_precision,
        confidence_level=confidence_level,
    )

    source = predictor.manifest
    out.mkdir(parents=True)
    try:
        data = json.loads((source.directory / MANIFEST).read_text(encoding="utf-8"))
        for role in data["weights"].values():
            for entry in role.values():
                target = source.directory / entry["file"]
                if Path(entry["file"]).name != entry["file"]:  # another version's file
                    entry["file"] = os.path.relpath(target.resolve(), out.resolve())
                else:
                    shutil.copy2(target, out / entry["file"])
        name, digest = write_calibrator(calibrator, out)
        data["version"] = version
        data["status"] = "candidate"
        data["calibrator"] = {"file": name, "sha256": digest}
        data["threshold"] = 1.0 if choice.threshold is None else choice.threshold
        data["target_precision"] = target_precision
        data["threshold_promise"] = choice.to_dict()
        # The calibrator learned from findings made with these settings: pin them, so
        # that a later change of the defaults cannot change what its confidence means.
        current = asdict(predictor.settings)
        data["settings"] = overrides | {name: current[name] for name in FINDING_SETTINGS}
        data.setdefault("provenance", {})["calibrated_from"] = source.version
        data.setdefault("metrics", {})["findings_threshold_split"] = summarise(
            held, data["threshold"]
        )
        write_manifest(data, out)
        written = load_manifest(out).calibrator_path()  # hash checked
        assert written is not None
        load_calibrator(written)  # and it parses
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return {
        "version": version,
        "directory": str(out),
        "fit_findings": len(fitted.findings),
        "threshold_findings": len(held.findings),
        "threshold": data["threshold"],
        "promise": choice.promise(),
    }

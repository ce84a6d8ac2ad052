"""JSON-ready dictionaries of results (masks and maps are left out: they stay numpy)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from damage_vision.pipeline.types import CaseFinding, CaseResult, DamagedPart, PhotoResult


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def finding_to_dict(finding: DamagedPart) -> dict[str, Any]:
    return {
        "part": finding.part,
        "damage": finding.damage,
        "shape": finding.shape,
        "box": list(finding.box),
        "area_px": finding.area_px,
        "part_area_px": finding.part_area_px,
        "share_of_part": _round(finding.share_of_part),
        "size_class": finding.size_class,
        "area_cm2": _round(finding.area_cm2, 1),
        "area_cm2_uncertainty": _round(finding.area_cm2_uncertainty, 1),
        "c_base": _round(finding.c_base),
        "confidence": _round(finding.confidence),
        "fragments": finding.fragments,
        "severity": {k: _round(v) for k, v in asdict(finding.severity).items()},
    }


def photo_to_dict(photo: PhotoResult, source: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if source is not None:
        data["source"] = source
    data.update(
        {
            "image_size": list(photo.image_size),
            "processed_size": list(photo.processed_size),
            "vehicle_probability": _round(photo.vehicle_probability),
            "usable": photo.quality.usable,
            "quality": {
                "reasons": list(photo.quality.reasons),
                "blur_score": _round(photo.quality.blur_score, 1),
                "brightness": _round(photo.quality.brightness),
            },
            "set_aside_reason": photo.set_aside_reason,
            "visible_parts": sorted(photo.visible_parts),
            "perspective": photo.perspective,
            "findings": [finding_to_dict(f) for f in photo.findings],
            "dsi": _round(photo.dsi, 2),
            "timings_ms": {k: _round(v, 1) for k, v in asdict(photo.timings).items()},
            "model": asdict(photo.model),
        }
    )
    return data


def case_finding_to_dict(row: CaseFinding) -> dict[str, Any]:
    return {
        "part": row.part,
        "damage": row.damage,
        "photo_indices": list(row.photo_indices),
        "c_base": _round(row.c_base),
        "confidence": _round(row.confidence),
        "k_agree": _round(row.k_agree),
        "c_refined": _round(row.c_refined),
        "needs_review": row.needs_review,
        "severity_score": _round(row.severity_score, 2),
    }


def case_to_dict(case: CaseResult) -> dict[str, Any]:
    return {
        "findings": [case_finding_to_dict(r) for r in case.findings],
        "dsi": _round(case.dsi, 2),
        "views": [list(v) for v in case.views],
        "close_ups": {str(k): v for k, v in case.close_ups.items()},
        "needs_review": case.needs_review,
        "usable_photos": list(case.usable_photos),
    }

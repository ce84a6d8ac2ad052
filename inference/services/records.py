"""Turn the core's results into JSON records and back; no Django models here.

A run's record is the core's `photo_to_dict` output, with each finding's mask as COCO
compressed RLE. The case synthesis and the findings writer read a record through
`photo_recorded` (no mask decoded: they keep the RLE as it is); `photo_from_record`
rebuilds a whole `PhotoResult`, masks decoded, for whoever draws them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from damage_vision.pipeline.masks import mask_to_rle, rle_to_mask
from damage_vision.pipeline.serialize import photo_to_dict
from damage_vision.pipeline.types import (
    DamagedPart,
    ModelInfo,
    PhotoQuality,
    PhotoResult,
    SeverityTerms,
    StageTimings,
)

SHAPES = ("mask", "box")  # `DamagedPart.shape`: a region of pixels or a detector box


def photo_record(result: PhotoResult) -> dict[str, Any]:
    record = photo_to_dict(result)
    for item, finding in zip(record["findings"], result.findings, strict=True):
        item["mask_rle"] = mask_to_rle(finding.mask)
    return record


@dataclass(frozen=True)
class RecordedFinding:
    """A stored finding as the synthesis and the findings writer read it: every field of
    a `DamagedPart` but its mask, which stays COCO RLE (`mask_rle`)."""

    part: str
    damage: str
    mask_rle: dict[str, Any]
    box: tuple[int, int, int, int]
    area_px: int
    part_area_px: int
    share_of_part: float
    size_class: str
    area_cm2: float | None
    area_cm2_uncertainty: float | None
    c_base: float
    confidence: float
    fragments: int
    shape: str
    severity: SeverityTerms


@dataclass(frozen=True)
class RecordedPhoto:
    """A stored photo result without its maps and masks (`photo_recorded`)."""

    set_aside_reason: str | None
    visible_parts: frozenset[str]
    processed_size: tuple[int, int]
    findings: Sequence[RecordedFinding]


def _finding_recorded(item: dict[str, Any]) -> RecordedFinding:
    sev = item["severity"]
    # Records written before detector boxes existed hold masks only.
    shape = item.get("shape", "mask")
    if shape not in SHAPES:
        raise ValueError(f"a finding's shape is one of {SHAPES}, got {shape!r}")
    return RecordedFinding(
        part=item["part"],
        damage=item["damage"],
        mask_rle=item["mask_rle"],
        box=tuple(item["box"]),  # type: ignore[arg-type]
        area_px=item["area_px"],
        part_area_px=item["part_area_px"],
        share_of_part=item["share_of_part"],
        size_class=item["size_class"],
        area_cm2=item["area_cm2"],
        area_cm2_uncertainty=item["area_cm2_uncertainty"],
        c_base=item["c_base"],
        # Records written before calibrated confidences existed hold C_base only.
        confidence=item.get("confidence", item["c_base"]),
        fragments=item.get("fragments", 1),
        shape=shape,
        severity=SeverityTerms(
            area=sev["area"],
            confidence=sev["confidence"],
            type_weight=sev["type_weight"],
            score=sev["score"],
        ),
    )


def photo_recorded(record: dict[str, Any]) -> RecordedPhoto:
    """What the case synthesis and the findings writer read of a run's record; no mask is
    decoded."""
    width, height = record["processed_size"]
    return RecordedPhoto(
        set_aside_reason=record["set_aside_reason"],
        visible_parts=frozenset(record["visible_parts"]),
        processed_size=(width, height),
        findings=tuple(_finding_recorded(item) for item in record["findings"]),
    )


def photo_from_record(record: dict[str, Any]) -> PhotoResult:
    """Rebuild a whole `PhotoResult` from a run's record, each finding's mask decoded (the
    part and damage maps, which records do not keep, are empty)."""
    width, height = record["processed_size"]
    findings = []
    for item in record["findings"]:
        f = _finding_recorded(item)
        findings.append(
            DamagedPart(
                part=f.part,
                damage=f.damage,
                mask=rle_to_mask(f.mask_rle),
                box=f.box,
                area_px=f.area_px,
                part_area_px=f.part_area_px,
                share_of_part=f.share_of_part,
                size_class=f.size_class,
                area_cm2=f.area_cm2,
                area_cm2_uncertainty=f.area_cm2_uncertainty,
                c_base=f.c_base,
                confidence=f.confidence,
                fragments=f.fragments,
                shape=f.shape,
                severity=f.severity,
            )
        )
    quality = record["quality"]
    timings = record["timings_ms"]
    empty = np.zeros((height, width), dtype=np.uint8)
    return PhotoResult(
        image_size=tuple(record["image_size"]),  # type: ignore[arg-type]
        processed_size=(width, height),
        vehicle_probability=record["vehicle_probability"],
        quality=PhotoQuality(
            usable=record["usable"],
            reasons=tuple(quality["reasons"]),
            blur_score=quality["blur_score"],
            brightness=quality["brightness"],
        ),
        set_aside_reason=record["set_aside_reason"],
        part_map=empty,
        damage_map=empty,
        visible_parts=frozenset(record["visible_parts"]),
        perspective=record["perspective"],
        findings=tuple(findings),
        dsi=record["dsi"],
        timings=StageTimings(**timings),
        model=ModelInfo(**record["model"]),
    )

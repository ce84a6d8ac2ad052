"""Turn the core's results into JSON records and back; no Django models here.

A run's record is the core's `photo_to_dict` output, with each finding's mask as COCO
compressed RLE, so the case synthesis can rebuild the photo's result without the model.
"""

from __future__ import annotations

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


def photo_from_record(record: dict[str, Any]) -> PhotoResult:
    """Rebuild the parts of a `PhotoResult` that the case synthesis reads."""
    width, height = record["processed_size"]
    findings = []
    for item in record["findings"]:
        sev = item["severity"]
        # Records written before detector boxes existed hold masks only.
        shape = item.get("shape", "mask")
        if shape not in SHAPES:
            raise ValueError(f"a finding's shape is one of {SHAPES}, got {shape!r}")
        findings.append(
            DamagedPart(
                part=item["part"],
                damage=item["damage"],
                mask=rle_to_mask(item["mask_rle"]),
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

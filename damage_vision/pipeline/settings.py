"""Tunable constants of the pipeline, in one frozen dataclass (no Django settings here).

Pixel counts refer to the processed grid (long side `input_size`, 512 by default), so
they mean the same for every photo whatever its original resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal

Denominator = Literal["visible", "all"]
Grouping = Literal["whole", "paper"]


# The settings that shape findings (what a calibrator is fitted on); a calibrated version
# pins them in its manifest.
FINDING_SETTINGS = (
    "grouping",
    "connectivity",
    "min_region_px",
    "speck_share",
    "merge_gap_share",
    "min_damage_share",
    "damage_pixels",
    "merge_classes",
    "part_cover_min",
    "report_floor",
    "vehicle_reach_share",
    "close_up_part_share",
    "min_part_share",
)


@dataclass(frozen=True)
class PipelineSettings:
    # Photo quality and vehicle presence (step 1).
    vehicle_threshold: float = 0.5  # below: set aside, "no vehicle"
    blur_threshold: float = 30.0  # variance of the Laplacian of the grey image, 0..255 scale
    dark_threshold: float = 0.12  # mean grey level in [0, 1] below which a photo is too dark
    bright_threshold: float = 0.92  # mean grey level above which a photo is overexposed

    # Damaged parts (step 4). "whole": cleaned damages assigned to the parts they cover
    # (damage_vision/pipeline/grouping.py); "paper": every connected (part, damage) region
    # (Ma et al.).
    grouping: Grouping = "whole"
    connectivity: Literal[4, 8] = 8  # neighbourhood of a connected region ("paper")
    min_region_px: int = 50  # "paper": regions smaller than this are dropped (noise)
    # "whole" (shares of the photo's pixels or of its long side, so they scale with it):
    speck_share: float = 0.0005  # damage fragments below this share of the photo: noise
    merge_gap_share: float = 0.015  # gaps up to this share of the long side are bridged
    min_damage_share: float = 0.001  # merged damages below this share of the photo: dropped
    damage_pixels: Literal["argmax", "any_damage"] = "argmax"  # which pixels are damage
    merge_classes: bool = False  # merge touching damages of different classes into one
    part_cover_min: float = 0.3  # a part covering this share of a damage gets a finding
    # Calibrated versions only: findings less likely than this to be right are not reported.
    report_floor: float = 0.0
    vehicle_reach_share: float = 0.3  # background damage this near a part is on the car
    close_up_part_share: float = 0.1  # parts cover less of the frame: no vehicle evidence

    # Perspective and size (step 5).
    min_part_share: float = 0.002  # a part is "visible" above this share of the photo
    full_view_min_parts: int = 5  # this many visible parts or more: a full-body view
    partial_view_min_parts: int = 3  # this many: a partial view; 1 or 2: a close-up
    small_below: float = 0.10  # share of the part: below -> "small"
    large_from: float = 0.30  # share of the part: from here -> "large", else "medium"
    # When a physical size is known it decides the class instead (a "small" damage of
    # 2 m² on a panel the part model does not know would read as nonsense).
    small_below_cm2: float = 400.0  # about 20 x 20 cm
    large_from_cm2: float = 2500.0  # about 50 x 50 cm
    min_reference_px: int = 400  # a reference part instance needs this many pixels
    depth_rel_sd: float = 0.25  # relative error from damage and reference at unlike depth

    # Multi-view synthesis and routing (steps 7-8).
    denominator: Denominator = "visible"  # K_agree over photos that see the part, or all

    def __post_init__(self) -> None:
        if self.connectivity not in (4, 8):
            raise ValueError("connectivity must be 4 or 8")
        if self.grouping not in ("whole", "paper"):
            raise ValueError("grouping must be 'whole' or 'paper'")
        if self.damage_pixels not in ("argmax", "any_damage"):
            raise ValueError("damage_pixels must be 'argmax' or 'any_damage'")
        if not isinstance(self.merge_classes, bool):
            raise ValueError("merge_classes must be true or false")
        for name in (
            "speck_share",
            "merge_gap_share",
            "min_damage_share",
            "part_cover_min",
            "vehicle_reach_share",
            "close_up_part_share",
            "report_floor",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.denominator not in ("visible", "all"):
            raise ValueError("denominator must be 'visible' or 'all'")
        if not 0 < self.small_below <= self.large_from <= 1:
            raise ValueError("need 0 < small_below <= large_from <= 1")
        if not 0 < self.small_below_cm2 <= self.large_from_cm2:
            raise ValueError("need 0 < small_below_cm2 <= large_from_cm2")
        if self.partial_view_min_parts > self.full_view_min_parts:
            raise ValueError("partial_view_min_parts must not exceed full_view_min_parts")

    def with_overrides(self, overrides: dict[str, Any]) -> PipelineSettings:
        """A copy with some fields replaced; unknown names raise with the valid ones."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown pipeline settings {unknown}; known: {sorted(known)}")
        return replace(self, **overrides)

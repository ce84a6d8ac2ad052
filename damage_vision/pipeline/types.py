"""Result types of the inference core: the contract between the core and its callers.

The core never imports Django. Callers (Celery tasks, the CLI, notebooks, tests) hand it
images and receive these dataclasses; every mask is a numpy array in the pixel grid of
the *processed* image (EXIF orientation applied, long side resized to the model's input
size keeping the aspect ratio), whose size is `PhotoResult.processed_size`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

BoolMask = npt.NDArray[np.bool_]
LabelMap = npt.NDArray[np.uint8]
FloatMap = npt.NDArray[np.float32]


class InferenceInputError(ValueError):
    """The input cannot be processed; the message says what to do instead."""


class WeightsMismatchError(ValueError):
    """Weights do not match the declared taxonomy or architecture."""


@dataclass(frozen=True)
class ModelInfo:
    """Identity of the model version that produced a result."""

    name: str
    version: str
    weights_sha256: str
    part_taxonomy: str
    damage_taxonomy: str
    backend: str  # "torch" or "onnx"
    calibrated: bool = False  # True when `DamagedPart.confidence` comes from a calibrator
    # How damage is found: "segmentation" (per-pixel masks, paper 1) or "detection"
    # (boxes from the YOLOv9-CS detector, paper 2; findings are boxes).
    damage_backend: str = "segmentation"


@dataclass(frozen=True)
class StageTimings:
    """Wall-clock milliseconds spent in each stage for one photo."""

    preprocess_ms: float
    vehicle_ms: float
    segmentation_ms: float
    postprocess_ms: float
    total_ms: float
    detection_ms: float = 0.0  # the detector of a detection version (0 otherwise)


@dataclass(frozen=True)
class PhotoQuality:
    """Whether a photo is usable, and why not (blur, exposure, too close, no vehicle)."""

    usable: bool
    reasons: tuple[str, ...]
    blur_score: float  # variance of the Laplacian on the grey image; low means blurred
    brightness: float  # mean grey level in [0, 1]


@dataclass(frozen=True)
class SeverityTerms:
    """Damage Severity Index terms of one damage (paper 2, Algorithm 2)."""

    area: float  # A_i: damage area / image area x 100
    confidence: float  # C_i: confidence x 100
    type_weight: float  # D_i: weight of the damage type
    score: float  # S_i = 0.4 A_i + 0.2 C_i + 0.4 D_i


@dataclass(frozen=True)
class BoxDamage:
    """One damage box from the detector back end (paper 2)."""

    damage: str  # class name in the detector's damage taxonomy
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the image it ran on
    confidence: float  # in [0, 1]


@dataclass(frozen=True)
class DamagedPart:
    """One finding D_k: one damage on one part.

    With `grouping="whole"` (the default) a cleaned damage region assigned to the part it
    covers; with `grouping="paper"` one connected region of pixels sharing one (part,
    damage type) pair, as in Ma et al. 2023.
    """

    part: str
    damage: str
    mask: BoolMask  # H x W in the processed grid
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) in the processed grid
    area_px: int
    part_area_px: int  # pixels of that part visible in the photo
    share_of_part: float  # area_px / part_area_px, in [0, 1]
    size_class: str  # "small" | "medium" | "large"
    area_cm2: float | None  # physical estimate, None when no reference part is visible
    area_cm2_uncertainty: float | None  # one standard deviation, cm^2
    c_base: float  # mean damage-class probability over the region, in [0, 1]
    severity: SeverityTerms
    # Calibrated probability that the finding is correct (the model version's calibrator);
    # equal to c_base for a version without a calibrator.
    confidence: float
    fragments: int = 1  # damage fragments merged into this finding
    # What the confidence was computed from (damage_vision/pipeline/calibration.py EVIDENCE).
    evidence: Mapping[str, float] = field(default_factory=dict)
    # "mask": a region of pixels (segmentation back end); "box": a detector box, whose
    # `mask` is the filled box and whose areas are box areas (paper 2, Algorithm 2).
    shape: str = "mask"


@dataclass(frozen=True)
class PhotoResult:
    """Everything the core learns from one photo."""

    image_size: tuple[int, int]  # width, height after EXIF orientation, before resizing
    processed_size: tuple[int, int]  # width, height of the grid the maps and masks live in
    vehicle_probability: float
    quality: PhotoQuality
    set_aside_reason: str | None  # None when the photo went through the whole pipeline
    part_map: LabelMap  # H x W part index into the part taxonomy's classes (0 = background)
    damage_map: LabelMap  # H x W damage index into the damage taxonomy's classes (0 = none)
    visible_parts: frozenset[str]
    perspective: str  # "full_view" | "partial_view" | "close_up" | "none"
    findings: tuple[DamagedPart, ...]
    dsi: float  # 0 to 100; 0 when nothing is found
    timings: StageTimings
    model: ModelInfo


@dataclass(frozen=True)
class CaseFinding:
    """One ledger row of a case: the same (part, damage type) across its photos."""

    part: str
    damage: str
    photo_indices: tuple[int, ...]  # photos (by position in the input) that show it
    c_base: float  # highest C_base among the photos that show it
    k_agree: float  # agreeing photos / photos that could see the part (or all photos)
    c_refined: float  # confidence * k_agree
    needs_review: bool  # c_refined below the threshold
    severity_score: float  # mean S_i of the regions behind this row
    confidence: float  # highest `DamagedPart.confidence` among the photos that show it


@dataclass(frozen=True)
class CaseResult:
    """Synthesis of the usable photos of one case."""

    findings: tuple[CaseFinding, ...]
    dsi: float
    views: tuple[tuple[int, ...], ...]  # photo indices grouped by identical visible part sets
    close_ups: dict[int, int] = field(default_factory=dict)  # close-up photo -> its wider view
    needs_review: bool = False  # any finding below the threshold, or no usable photo
    usable_photos: tuple[int, ...] = ()  # photos that went through the whole pipeline

"""The detection damage back end (paper 2): detector boxes turned into findings.

A detection version runs its YOLOv9-CS detector (ONNX, input `image` (N, 3, S, S) RGB in
[0, 1], a photo letterboxed into the square; output `detections` (N, 4 + C, A): box
centre, width and height in input pixels, then C class scores) beside the joint network,
whose part map names the part under each box. Nothing here imports torch.

- `detector_input(rgb, size)`: the letterboxed square and its scale;
- `decode_detections(raw, ...)`: per-class non-maximum suppression (OpenCV) -> `BoxDamage`
  in the photo's processed grid;
- `box_findings(...)`: one finding per box: the part with most pixels under it (or
  "other_panel"), the box as its region, box areas for the DSI (paper 2, Algorithm 2),
  the detector's score as C_base and the version's calibrator for the confidence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from damage_vision.pipeline.backends import DET_INPUT, DET_OUTPUT
from damage_vision.pipeline.calibration import Calibrator
from damage_vision.pipeline.grouping import OTHER_PANEL
from damage_vision.pipeline.postprocess import (
    PhotoAnalysis,
    confident_findings,
    part_pixel_counts,
    perspective_class,
    size_class,
    sort_findings,
    visible_from_counts,
)
from damage_vision.pipeline.settings import PipelineSettings
from damage_vision.pipeline.severity import box_area_fraction, dsi
from damage_vision.pipeline.sizing import physical_area, reference_scale
from damage_vision.pipeline.types import BoxDamage, LabelMap
from damage_vision.taxonomy import Taxonomy

__all__ = ["DET_INPUT", "DET_OUTPUT", "box_findings", "decode_detections", "detector_input"]

PAD_VALUE = 114  # Ultralytics' letterbox grey
MAX_BOXES = 100  # per photo, after suppression

# A box is on a part when that part's pixels fill at least this share of the box;
# otherwise it is on a panel the part model does not know ("other_panel").
BOX_PART_MIN = 0.05


def detector_input(rgb: npt.NDArray[np.uint8], size: int) -> tuple[npt.NDArray[np.float32], float]:
    """(1, 3, size, size) float32 in [0, 1]: `rgb` scaled so its long side is `size`,
    placed top left on grey; and the scale applied."""
    if size < 32 or size % 32:
        raise ValueError(f"detector input size must be a multiple of 32, got {size}")
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    canvas[:nh, :nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas.transpose(2, 0, 1)[None].astype(np.float32) / 255.0, scale


def decode_detections(
    raw: npt.NDArray[np.floating],
    classes: Sequence[str],
    scale: float,
    image_size: tuple[int, int],
    conf: float = 0.25,
    iou: float = 0.7,
    max_boxes: int = MAX_BOXES,
) -> list[BoxDamage]:
    """Boxes of one photo from the detector's (4 + C, A) output, most confident first.

    `classes`: the C damage class names (the damage taxonomy without "no damage");
    `scale`: the letterbox scale; `image_size`: (width, height) of the processed grid the
    boxes are returned in (clipped to it). Suppression is per class, as Ultralytics does.
    """
    if raw.ndim != 2 or raw.shape[0] != 4 + len(classes):
        raise ValueError(
            f"detector output has shape {raw.shape}, expected (4 + {len(classes)}, anchors)"
        )
    scores_all = raw[4:]
    cls = scores_all.argmax(axis=0)
    score = scores_all[cls, np.arange(raw.shape[1])]
    keep = np.flatnonzero(score >= conf)
    if keep.size == 0:
        return []
    cx, cy, bw, bh = (raw[k, keep] / scale for k in range(4))
    xywh = np.stack([cx - bw / 2, cy - bh / 2, bw, bh], axis=1)
    chosen = cv2.dnn.NMSBoxesBatched(
        xywh.tolist(), score[keep].tolist(), cls[keep].tolist(), conf, iou
    )
    order = sorted(
        np.asarray(chosen, dtype=np.int64).ravel().tolist(), key=lambda i: -score[keep[i]]
    )
    width, height = image_size
    boxes = []
    for i in order[:max_boxes]:
        x0, y0, w, h = xywh[i]
        box = (
            min(max(float(x0), 0.0), width),
            min(max(float(y0), 0.0), height),
            min(max(float(x0 + w), 0.0), width),
            min(max(float(y0 + h), 0.0), height),
        )
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            continue
        boxes.append(
            BoxDamage(damage=classes[int(cls[keep[i]])], box=box, confidence=float(score[keep[i]]))
        )
    return boxes


def pixel_box(
    box: tuple[float, float, float, float], shape: tuple[int, int]
) -> tuple[int, int, int, int]:
    """A float box as whole pixels (x0, y0, x1, y1 exclusive), at least one pixel, inside
    a grid of `shape` (height, width)."""
    height, width = shape
    x0 = min(max(math.floor(box[0]), 0), width - 1)
    y0 = min(max(math.floor(box[1]), 0), height - 1)
    x1 = min(max(math.ceil(box[2]), x0 + 1), width)
    y1 = min(max(math.ceil(box[3]), y0 + 1), height)
    return x0, y0, x1, y1


def box_damage_map(
    boxes: Sequence[BoxDamage], shape: tuple[int, int], damage_taxonomy: Taxonomy
) -> npt.NDArray[np.uint8]:
    """A damage label map with each box filled by its class (more confident boxes on top)."""
    out = np.zeros(shape, dtype=np.uint8)
    for b in sorted(boxes, key=lambda b: b.confidence):
        x0, y0, x1, y1 = pixel_box(b.box, shape)
        out[y0:y1, x0:x1] = damage_taxonomy.index(b.damage)
    return out


def box_findings(
    boxes: Sequence[BoxDamage],
    part_map: LabelMap,
    part_taxonomy: Taxonomy,
    damage_taxonomy: Taxonomy,
    settings: PipelineSettings | None = None,
    calibrator: Calibrator | None = None,
) -> PhotoAnalysis:
    """Visible parts, perspective, one finding per box, and the photo's DSI (box areas).

    A box's part is the part with most pixels under it when that part fills at least
    `BOX_PART_MIN` of the box, else "other_panel". Its `area_px` is the box area (what
    the paper's DSI weighs); its physical size counts only the part's pixels under the
    box, since a box around a thin scratch is mostly undamaged paint.
    """
    settings = settings or PipelineSettings()
    shape = (int(part_map.shape[0]), int(part_map.shape[1]))
    image_px = shape[0] * shape[1]
    counts = part_pixel_counts(part_map, part_taxonomy)
    visible = visible_from_counts(counts, image_px, part_taxonomy, settings)
    scale = reference_scale(part_map, part_taxonomy, settings)
    drafts: list[dict[str, Any]] = []
    area_fractions: list[float] = []
    for b in boxes:
        x0, y0, x1, y1 = pixel_box(b.box, shape)
        area = (x1 - x0) * (y1 - y0)
        under = np.bincount(part_map[y0:y1, x0:x1].ravel(), minlength=part_taxonomy.num_classes)[
            : part_taxonomy.num_classes
        ]
        under[0] = 0
        best = int(under.argmax())
        cover = float(under[best]) / area
        other = cover < BOX_PART_MIN
        part = OTHER_PANEL if other else part_taxonomy.classes[best]
        on_part = area if other else int(under[best])
        part_area = max(area, int(counts[0 if other else best]))
        share = area / part_area
        area_cm2, area_cm2_sd = physical_area(on_part, part, scale, part_taxonomy)
        mask = np.zeros(shape, dtype=bool)
        mask[y0:y1, x0:x1] = True
        # The calibrator's evidence (calibration.EVIDENCE), read for a box: the score
        # stands for every probability summary, a box is filled and one fragment.
        evidence = {
            "c_base": b.confidence,
            "q90": b.confidence,
            "margin": b.confidence,
            "log_area": float(np.log10(area / image_px)),
            "share_of_part": share,
            "part_certainty": 1.0,
            "part_cover": cover,
            "fill": 1.0,
            "fragments": 1.0,
            "other_panel": 1.0 if other else 0.0,
            "visible_parts": len(visible) / 10.0,
            "peak": b.confidence,
            "damage_mass": b.confidence,
            "border": float(x0 == 0 or y0 == 0 or x1 == shape[1] or y1 == shape[0]),
        }
        drafts.append(
            dict(
                part=part,
                damage=b.damage,
                mask=mask,
                box=(x0, y0, x1, y1),
                area_px=area,
                part_area_px=part_area,
                share_of_part=share,
                size_class=size_class(share, settings, area_cm2),
                area_cm2=area_cm2,
                area_cm2_uncertainty=area_cm2_sd,
                c_base=min(1.0, max(0.0, b.confidence)),
                evidence=evidence,
                shape="box",
            )
        )
        # the paper's A_i: the unrounded box's share of the photo
        area_fractions.append(box_area_fraction(b.box, (shape[1], shape[0])))
    findings = confident_findings(drafts, area_fractions, damage_taxonomy, settings, calibrator)
    return PhotoAnalysis(
        visible_parts=visible,
        perspective=perspective_class(len(visible), settings),
        findings=tuple(sort_findings(findings, part_taxonomy, damage_taxonomy)),
        dsi=dsi(f.severity.score for f in findings),
        scale=scale,
    )

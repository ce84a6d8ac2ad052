"""From per-pixel part and damage predictions to findings (SPEC steps 4-6, 9).

Step 4: a finding is one damage on one part. By default (`grouping="whole"`) the damage
map is cleaned and its fragments merged into whole damages, each assigned to the part(s)
it covers (`damage_vision/pipeline/grouping.py`). `grouping="paper"` keeps Ma et al.'s rule for
comparison: `y_damaged_part(i, j) = (argmax parts, argmax damage)`, and every connected
region (8- or 4-connected) of pixels sharing one (part, damage) pair is one D_k. Either
way damage on background is never named "background": it is on "other_panel" (a panel
the part taxonomy does not label), or dropped when it is off the vehicle ("whole").

Step 5: the number of visible parts is the perspective proxy; the share of the part
damaged gives a size class; a physical estimate in cm² comes from reference parts of
known size, shown only when the reference looks whole and the damage fits its part
(`damage_vision/pipeline/sizing.py`).

Step 6: C_base,k = mean over the pixels of D_k of the probability of D_k's damage class;
`confidence` = the model version's calibrator applied to the finding's evidence
(`damage_vision/pipeline/calibration.py`), C_base without a calibrator.

Step 9: the DSI of the photo from the findings' areas, confidences and type weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from damage_vision.pipeline.calibration import Calibrator
from damage_vision.pipeline.grouping import (
    OTHER,
    OTHER_PANEL,
    STRUCTURES,
    Region,
    region_from_slice,
    whole_regions,
)
from damage_vision.pipeline.settings import PipelineSettings
from damage_vision.pipeline.severity import dsi, severity_terms
from damage_vision.pipeline.sizing import ScaleEstimate, physical_area, reference_scale
from damage_vision.pipeline.types import DamagedPart, FloatMap, LabelMap
from damage_vision.taxonomy import Taxonomy


@dataclass(frozen=True)
class PhotoAnalysis:
    """Post-processing result of one photo."""

    visible_parts: frozenset[str]
    perspective: str
    findings: tuple[DamagedPart, ...]
    dsi: float
    scale: ScaleEstimate | None


def softmax_maps(
    part_logits: npt.NDArray[np.floating], damage_logits: npt.NDArray[np.floating]
) -> tuple[LabelMap, LabelMap, FloatMap]:
    """Argmax maps and the damage-class probability of the argmax, from (C, H, W) logits.

    Returns `part_map`, `damage_map` (uint8) and `damage_prob` (float32): for every pixel the
    softmax probability of its predicted damage class, which is 1 / sum(exp(l - max l)).
    """
    part_map, _ = argmax_map(part_logits)
    damage_map, top = argmax_map(damage_logits)
    denom = np.zeros(top.shape, dtype=np.float32)
    for channel in damage_logits:
        denom += np.exp(channel - top)
    damage_prob = (1.0 / denom).astype(np.float32)
    return part_map, damage_map, damage_prob


def argmax_map(
    logits: npt.NDArray[np.floating],
) -> tuple[LabelMap, npt.NDArray[np.floating]]:
    """Per-pixel argmax (first maximum on ties, like np.argmax) and maximum over axis 0.

    A loop over the few channels is several times faster than np.argmax(axis=0), which
    strides across memory for every pixel.
    """
    best = np.array(logits[0], copy=True)
    index = np.zeros(best.shape, dtype=np.uint8)
    for c in range(1, logits.shape[0]):
        better = logits[c] > best
        np.copyto(best, logits[c], where=better)
        index[better] = c
    return index, best


def part_pixel_counts(part_map: LabelMap, taxonomy: Taxonomy) -> npt.NDArray[np.int64]:
    """Pixels per part class, indexed like the taxonomy."""
    return np.bincount(part_map.ravel(), minlength=taxonomy.num_classes)[: taxonomy.num_classes]


def visible_from_counts(
    counts: npt.NDArray[np.int64], image_px: int, taxonomy: Taxonomy, settings: PipelineSettings
) -> frozenset[str]:
    minimum = max(1, int(np.ceil(settings.min_part_share * image_px)))
    return frozenset(
        taxonomy.classes[i] for i in range(1, taxonomy.num_classes) if counts[i] >= minimum
    )


def visible_parts(
    part_map: LabelMap, taxonomy: Taxonomy, settings: PipelineSettings
) -> frozenset[str]:
    """Parts (not background) covering at least `min_part_share` of the photo."""
    return visible_from_counts(
        part_pixel_counts(part_map, taxonomy), part_map.size, taxonomy, settings
    )


def perspective_class(num_visible_parts: int, settings: PipelineSettings) -> str:
    """full_view | partial_view | close_up | none, from the number of visible parts."""
    if num_visible_parts >= settings.full_view_min_parts:
        return "full_view"
    if num_visible_parts >= settings.partial_view_min_parts:
        return "partial_view"
    if num_visible_parts >= 1:
        return "close_up"
    return "none"


def size_class(
    share_of_part: float, settings: PipelineSettings, area_cm2: float | None = None
) -> str:
    """small | medium | large: from the physical size when it is known (`small_below_cm2`,
    `large_from_cm2`), else from the damaged share of the part.

    The share is scale free, so it means the same in a full view and a close-up as long as
    the whole part is in the frame; in a close-up that cuts the part, it overstates.
    """
    if area_cm2 is not None:
        if area_cm2 < settings.small_below_cm2:
            return "small"
        return "medium" if area_cm2 < settings.large_from_cm2 else "large"
    if share_of_part < settings.small_below:
        return "small"
    if share_of_part < settings.large_from:
        return "medium"
    return "large"


def damage_probabilities(damage_logits: npt.NDArray[np.floating]) -> FloatMap:
    """(C, H, W) softmax probabilities of every damage class."""
    top = damage_logits.max(axis=0)
    exp = np.exp(damage_logits - top[None]).astype(np.float32)
    probs: FloatMap = exp / exp.sum(axis=0, keepdims=True)
    return probs


def _full_probabilities(
    damage_map: LabelMap, damage_prob: npt.NDArray[np.floating], num_classes: int
) -> npt.NDArray[np.floating]:
    """(C, H, W) probabilities; from an (H, W) map of the predicted class's probability,
    the rest is shared evenly among the other classes."""
    if damage_prob.ndim == 3:
        if damage_prob.shape[0] != num_classes:
            raise ValueError(
                f"damage_prob has {damage_prob.shape[0]} classes, the taxonomy {num_classes}"
            )
        return damage_prob
    if damage_prob.ndim != 2:
        raise ValueError(f"damage_prob must be (H, W) or (C, H, W), got shape {damage_prob.shape}")
    top = damage_prob.astype(np.float32)
    rest = (1.0 - top) / max(1, num_classes - 1)
    full = np.repeat(rest[None], num_classes, axis=0)
    np.put_along_axis(full, damage_map[None].astype(np.intp), top[None], axis=0)
    return full


def paper_regions(
    part_map: LabelMap, damage_map: LabelMap, num_damage: int, settings: PipelineSettings
) -> list[Region]:
    """Ma et al.'s D_k: every connected region of one (part, damage) pair (not background
    damage: it is named "other_panel"); regions below `min_region_px` are dropped."""
    structure = STRUCTURES[settings.connectivity]
    # One pass per (part, damage) code, each labelled inside its bounding box only.
    code_map = np.where(
        damage_map > 0, part_map.astype(np.int32) * num_damage + damage_map + 1, 0
    ).astype(np.int32)
    regions: list[Region] = []
    for code_plus_one, box in enumerate(ndimage.find_objects(code_map), start=1):
        if box is None:
            continue
        labels, count = ndimage.label(code_map[box] == code_plus_one, structure=structure)
        if not count:
            continue
        sizes = np.bincount(labels.ravel(), minlength=count + 1)
        part_index, damage_index = divmod(code_plus_one - 1, num_damage)
        for k, sl in enumerate(ndimage.find_objects(labels), start=1):
            if sl is None or sizes[k] < settings.min_region_px:
                continue
            full_sl = (
                slice(box[0].start + sl[0].start, box[0].start + sl[0].stop),
                slice(box[1].start + sl[1].start, box[1].start + sl[1].stop),
            )
            part = part_index if part_index > 0 else OTHER
            regions.append(
                region_from_slice(
                    part, damage_index, labels[sl] == k, full_sl, part_map.shape, 1, 1.0
                )
            )
    return regions


def _part_certainty(
    part_logits: npt.NDArray[np.floating] | None,
    mask: npt.NDArray[np.bool_],
    box: tuple[int, int, int, int],
) -> float:
    """Mean top part probability over the mask (1.0 without part logits)."""
    if part_logits is None:
        return 1.0
    x0, y0, x1, y1 = box
    logits = part_logits[:, y0:y1, x0:x1][:, mask[y0:y1, x0:x1]]
    top = logits.max(axis=0)
    p_top = 1.0 / np.exp(logits - top[None]).sum(axis=0)
    return float(p_top.mean())


def find_damaged_parts(
    part_map: LabelMap,
    damage_map: LabelMap,
    damage_prob: npt.NDArray[np.floating],
    part_taxonomy: Taxonomy,
    damage_taxonomy: Taxonomy,
    settings: PipelineSettings | None = None,
    scale: ScaleEstimate | None = None,
    calibrator: Calibrator | None = None,
    part_logits: npt.NDArray[np.floating] | None = None,
) -> list[DamagedPart]:
    """Findings D_k of one photo (SPEC steps 4-6 and the S_i of step 9).

    `part_map`, `damage_map`: (H, W) argmax class indices. `damage_prob`: (H, W)
    probability of each pixel's predicted damage class, or (C, H, W) probabilities of
    all damage classes. `settings.grouping` picks whole findings (`grouping.py`) or the
    paper's regions. `calibrator`: the model version's; without one, `confidence` is
    C_base. `part_logits` (P, H, W), when given, measure the part model's certainty.
    Findings are sorted by (part index, damage index, top, left), "other_panel" last.
    """
    settings = settings or PipelineSettings()
    if part_map.shape != damage_map.shape or damage_prob.shape[-2:] != part_map.shape:
        raise ValueError(
            f"maps differ in size: parts {part_map.shape}, damage {damage_map.shape}, "
            f"probabilities {damage_prob.shape}"
        )
    if int(part_map.max(initial=0)) >= part_taxonomy.num_classes:
        raise ValueError(f"part map has indices beyond taxonomy {part_taxonomy.name!r}")
    if int(damage_map.max(initial=0)) >= damage_taxonomy.num_classes:
        raise ValueError(f"damage map has indices beyond taxonomy {damage_taxonomy.name!r}")
    probs = _full_probabilities(damage_map, damage_prob, damage_taxonomy.num_classes)
    part_counts = part_pixel_counts(part_map, part_taxonomy)
    if settings.grouping == "paper":
        regions = paper_regions(part_map, damage_map, damage_taxonomy.num_classes, settings)
    else:
        regions = whole_regions(part_map, damage_map, probs, part_taxonomy.num_classes, settings)
    image_px = part_map.size
    num_visible = len(visible_from_counts(part_counts, image_px, part_taxonomy, settings))

    drafts: list[dict[str, Any]] = []
    for region in regions:
        mask = region.mask
        x0, y0, x1, y1 = region.box
        local = mask[y0:y1, x0:x1]
        area = int(local.sum())
        class_p = probs[region.damage, y0:y1, x0:x1][local].astype(np.float64)
        ordered = np.sort(probs[:, y0:y1, x0:x1][:, local], axis=0)
        c_base = min(1.0, max(0.0, float(class_p.mean())))
        other = region.part == OTHER
        part = OTHER_PANEL if other else part_taxonomy.classes[region.part]
        damage = damage_taxonomy.classes[region.damage]
        # An unlabelled panel's extent is unknown: measure against the unlabelled pixels.
        part_area = max(area, int(part_counts[0 if other else region.part]))
        share = area / part_area
        area_cm2, area_cm2_sd = physical_area(area, part, scale, part_taxonomy)
        evidence = {
            "c_base": c_base,
            "q90": float(np.quantile(class_p, 0.9)),
            "margin": float((ordered[-1] - ordered[-2]).mean()),
            "log_area": float(np.log10(area / image_px)),
            "share_of_part": share,
            "part_certainty": _part_certainty(part_logits, mask, region.box),
            "part_cover": region.part_cover,
            "fill": area / float((x1 - x0) * (y1 - y0)),
            "fragments": float(np.log2(1 + region.fragments)),
            "other_panel": 1.0 if other else 0.0,
            "visible_parts": num_visible / 10.0,
            "peak": float(class_p.max()),
            "damage_mass": float(1.0 - probs[0, y0:y1, x0:x1][local].mean()),
            "border": float(
                x0 == 0 or y0 == 0 or x1 == part_map.shape[1] or y1 == part_map.shape[0]
            ),
        }
        drafts.append(
            dict(
                part=part,
                damage=damage,
                mask=mask,
                box=region.box,
                area_px=area,
                part_area_px=part_area,
                share_of_part=share,
                size_class=size_class(share, settings, area_cm2),
                area_cm2=area_cm2,
                area_cm2_uncertainty=area_cm2_sd,
                c_base=c_base,
                fragments=region.fragments,
                evidence=evidence,
            )
        )
    findings = confident_findings(
        drafts, [d["area_px"] / image_px for d in drafts], damage_taxonomy, settings, calibrator
    )
    return sort_findings(findings, part_taxonomy, damage_taxonomy)


def confident_findings(
    drafts: Sequence[dict[str, Any]],
    area_fractions: Sequence[float],
    damage_taxonomy: Taxonomy,
    settings: PipelineSettings,
    calibrator: Calibrator | None,
) -> list[DamagedPart]:
    """The findings of one photo from their drafts (every `DamagedPart` field but
    `severity` and `confidence`), whichever back end made them: the photo-level evidence
    (area relative to the photo's largest finding, number of findings), the confidence
    (the calibrator's, else C_base), those under `settings.report_floor` dropped, and the
    DSI terms, `area_fractions` being each finding's share of the photo."""
    largest = max((d["area_px"] for d in drafts), default=1)
    findings: list[DamagedPart] = []
    for d, area_fraction in zip(drafts, area_fractions, strict=True):
        evidence = d["evidence"]
        evidence["relative_area"] = d["area_px"] / largest
        evidence["photo_findings"] = float(np.log2(len(drafts)))
        c_base = d["c_base"]
        confidence = c_base if calibrator is None else calibrator.confidence(evidence, d["damage"])
        if calibrator is not None and confidence < settings.report_floor:
            continue  # so unlikely to be right that it is noise, not a finding
        findings.append(
            DamagedPart(
                **d,
                severity=severity_terms(
                    area_fraction, confidence, damage_taxonomy.dsi_weight(d["damage"])
                ),
                confidence=confidence,
            )
        )
    return findings


def sort_findings(
    findings: list[DamagedPart], part_taxonomy: Taxonomy, damage_taxonomy: Taxonomy
) -> list[DamagedPart]:
    """Findings in report order: by part (taxonomy order, "other_panel" last), damage
    class, then top and left of the box."""
    return sorted(
        findings,
        key=lambda f: (
            part_taxonomy.num_classes if f.part == OTHER_PANEL else part_taxonomy.index(f.part),
            damage_taxonomy.index(f.damage),
            f.box[1],
            f.box[0],
        ),
    )


def analyse_photo(
    part_map: LabelMap,
    damage_map: LabelMap,
    damage_prob: npt.NDArray[np.floating],
    part_taxonomy: Taxonomy,
    damage_taxonomy: Taxonomy,
    settings: PipelineSettings | None = None,
    calibrator: Calibrator | None = None,
    part_logits: npt.NDArray[np.floating] | None = None,
) -> PhotoAnalysis:
    """Visible parts, perspective, findings with sizes and confidences, and the photo's DSI."""
    settings = settings or PipelineSettings()
    visible = visible_parts(part_map, part_taxonomy, settings)
    scale = reference_scale(part_map, part_taxonomy, settings)
    findings = find_damaged_parts(
        part_map,
        damage_map,
        damage_prob,
        part_taxonomy,
        damage_taxonomy,
        settings,
        scale,
        calibrator,
        part_logits,
    )
    return PhotoAnalysis(
        visible_parts=visible,
        perspective=perspective_class(len(visible), settings),
        findings=tuple(findings),
        dsi=dsi(f.severity.score for f in findings),
        scale=scale,
    )

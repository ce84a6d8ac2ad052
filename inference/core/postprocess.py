"""From per-pixel part and damage predictions to damaged parts (SPEC steps 4-6, 9).

Step 4: `y_damaged_part(i, j) = (argmax parts, argmax damage)`; every connected region
(scipy.ndimage.label, 8- or 4-connected) of pixels sharing one (part, damage) pair with a
damage other than "no damage" is one damaged part D_k. Regions below `min_region_px`
are dropped. Pixels whose part is background still form regions (part = the part
taxonomy's background name): damage on a part the taxonomy does not label (e.g. a fender
under `parts_reduced_dsmlr`) is kept, not lost.

Step 5: the number of visible parts is the perspective proxy; the share of the part
damaged gives a size class; a physical estimate in cm² comes from reference parts of
known size (see `reference_scale`).

Step 6: C_base,k = mean over the pixels of D_k of the probability of D_k's damage class.

Step 9: the DSI of the photo from the regions' areas, C_base and type weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from inference.core.settings import PipelineSettings
from inference.core.severity import dsi, severity_terms
from inference.core.taxonomy import Taxonomy
from inference.core.types import DamagedPart, FloatMap, LabelMap

_STRUCTURES = {
    4: ndimage.generate_binary_structure(2, 1),
    8: ndimage.generate_binary_structure(2, 2),
}


@dataclass(frozen=True)
class ScaleEstimate:
    """Physical size of one pixel of the processed grid, from reference parts."""

    cm2_per_px: float
    rel_sd: float  # relative standard deviation of cm2_per_px, all sources included
    references: tuple[str, ...]  # reference parts used


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
    part_map, _ = _argmax(part_logits)
    damage_map, top = _argmax(damage_logits)
    denom = np.zeros(top.shape, dtype=np.float32)
    for channel in damage_logits:
        denom += np.exp(channel - top)
    damage_prob = (1.0 / denom).astype(np.float32)
    return part_map, damage_map, damage_prob


def _argmax(
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


def _class_probability(
    damage_map: LabelMap, damage_prob: npt.NDArray[np.floating]
) -> npt.NDArray[np.float64]:
    """Per-pixel probability of the pixel's damage class, from (H, W) or (C, H, W) input."""
    if damage_prob.ndim == 2:
        return damage_prob.astype(np.float64)
    if damage_prob.ndim == 3:
        picked = np.take_along_axis(damage_prob, damage_map[None].astype(np.intp), axis=0)[0]
        return picked.astype(np.float64)
    raise ValueError(f"damage_prob must be (H, W) or (C, H, W), got shape {damage_prob.shape}")


def part_pixel_counts(part_map: LabelMap, taxonomy: Taxonomy) -> npt.NDArray[np.int64]:
    """Pixels per part class, indexed like the taxonomy."""
    return np.bincount(part_map.ravel(), minlength=taxonomy.num_classes)[: taxonomy.num_classes]


def visible_parts(
    part_map: LabelMap, taxonomy: Taxonomy, settings: PipelineSettings
) -> frozenset[str]:
    """Parts (not background) covering at least `min_part_share` of the photo."""
    counts = part_pixel_counts(part_map, taxonomy)
    minimum = max(1, int(np.ceil(settings.min_part_share * part_map.size)))
    return frozenset(
        taxonomy.classes[i] for i in range(1, taxonomy.num_classes) if counts[i] >= minimum
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


def size_class(share_of_part: float, settings: PipelineSettings) -> str:
    """small | medium | large from the damaged share of the part.

    The share is scale free, so it means the same in a full view and a close-up as long as
    the whole part is in the frame; in a close-up that cuts the part, it overstates.
    """
    if share_of_part < settings.small_below:
        return "small"
    if share_of_part < settings.large_from:
        return "medium"
    return "large"


def reference_scale(
    part_map: LabelMap, taxonomy: Taxonomy, settings: PipelineSettings
) -> ScaleEstimate | None:
    """cm² per pixel from parts of known physical size (the taxonomy's `reference_parts`).

    Method: every connected instance of a reference part (e.g. each wheel) with at least
    `min_reference_px` pixels that does not touch the photo border (a cut part would look
    smaller) gives `area_cm2 / pixels`; the median over the instances of one part type is
    that type's estimate, and the types are combined by inverse-variance weighting.

    Uncertainty (one relative standard deviation), from three sources:
    - the spread of the reference size across car models (`sd_cm2 / area_cm2` in the YAML;
      e.g. wheels of 58-68 cm diameter), combined across types as 1/sqrt(sum 1/r²);
    - `depth_rel_sd`: damage and reference at different distances from the camera or at
      different angles to it (the estimate assumes both lie roughly in one plane facing
      the camera);
    - not modelled: segmentation error of either region, lens distortion.

    Assumptions: a passenger car; the reference part is seen roughly face-on (a wheel seen
    from the front or rear is foreshortened and inflates the estimate); a reference class
    region is one physical part (two touching doors merge into one region and halve it).
    Returns None when no usable reference part is visible.
    """
    if not taxonomy.reference_parts:
        return None
    _height, width = part_map.shape
    estimates: list[tuple[float, float, str]] = []  # (cm2 per px, relative sd, part)
    for name, ref in taxonomy.reference_parts.items():
        labels, count = ndimage.label(
            part_map == taxonomy.index(name), structure=_STRUCTURES[settings.connectivity]
        )
        if count == 0:
            continue
        sizes = np.bincount(labels.ravel(), minlength=count + 1)
        border = np.unique(
            np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, width - 1]])
        )
        per_instance = [
            ref.area_cm2 / float(sizes[k])
            for k in range(1, count + 1)
            if sizes[k] >= settings.min_reference_px and k not in border
        ]
        if per_instance:
            estimates.append((float(np.median(per_instance)), ref.sd_cm2 / ref.area_cm2, name))
    if not estimates:
        return None
    weights = np.array([1.0 / r**2 for _, r, _ in estimates])
    values = np.array([s for s, _, _ in estimates])
    scale = float((weights * values).sum() / weights.sum())
    ref_rel = float(1.0 / np.sqrt(weights.sum()))
    rel_sd = float(np.hypot(ref_rel, settings.depth_rel_sd))
    return ScaleEstimate(scale, rel_sd, tuple(sorted(name for _, _, name in estimates)))


def find_damaged_parts(
    part_map: LabelMap,
    damage_map: LabelMap,
    damage_prob: npt.NDArray[np.floating],
    part_taxonomy: Taxonomy,
    damage_taxonomy: Taxonomy,
    settings: PipelineSettings | None = None,
    scale: ScaleEstimate | None = None,
) -> list[DamagedPart]:
    """Damaged parts D_k of one photo (SPEC steps 4-6 and the S_i of step 9).

    `part_map`, `damage_map`: (H, W) argmax class indices. `damage_prob`: (H, W)
    probability of each pixel's predicted damage class, or (C, H, W) probabilities of
    all damage classes. Regions are sorted by (part index, damage index, top, left).
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
    probability = _class_probability(damage_map, damage_prob)
    part_counts = part_pixel_counts(part_map, part_taxonomy)
    image_px = part_map.size
    structure = _STRUCTURES[settings.connectivity]

    # One pass per (part, damage) code, each labelled inside its bounding box only; the
    # labels are offset into one region image so that areas, probability sums and boxes
    # of all regions come from a single bincount / find_objects.
    n_damage = damage_taxonomy.num_classes
    code_map = np.where(
        damage_map > 0, part_map.astype(np.int32) * n_damage + damage_map + 1, 0
    ).astype(np.int32)
    regions = np.zeros(part_map.shape, dtype=np.int32)
    region_codes: list[int] = []
    for code_plus_one, box in enumerate(ndimage.find_objects(code_map), start=1):
        if box is None:
            continue
        labels, count = ndimage.label(code_map[box] == code_plus_one, structure=structure)
        if count:
            offset = len(region_codes)
            inside = labels > 0
            regions[box][inside] = labels[inside] + offset
            region_codes.extend([code_plus_one - 1] * count)
    areas = np.bincount(regions.ravel(), minlength=len(region_codes) + 1)
    sums = np.bincount(
        regions.ravel(), weights=probability.ravel(), minlength=len(region_codes) + 1
    )
    boxes = ndimage.find_objects(regions, max_label=len(region_codes))

    findings: list[DamagedPart] = []
    for region, code in enumerate(region_codes, start=1):
        area = int(areas[region])
        if area < settings.min_region_px:
            continue
        part_index, damage_index = divmod(code, n_damage)
        part = part_taxonomy.classes[part_index]
        damage = damage_taxonomy.classes[damage_index]
        sl = boxes[region - 1]
        assert sl is not None
        mask = np.zeros(part_map.shape, dtype=bool)
        mask[sl] = regions[sl] == region
        c_base = min(1.0, max(0.0, float(sums[region] / area)))
        part_area = int(part_counts[part_index])
        share = area / part_area
        area_cm2 = None if scale is None else area * scale.cm2_per_px
        findings.append(
            DamagedPart(
                part=part,
                damage=damage,
                mask=mask,
                box=(sl[1].start, sl[0].start, sl[1].stop, sl[0].stop),
                area_px=area,
                part_area_px=part_area,
                share_of_part=share,
                size_class=size_class(share, settings),
                area_cm2=area_cm2,
                area_cm2_uncertainty=(
                    None if scale is None or area_cm2 is None else area_cm2 * scale.rel_sd
                ),
                c_base=c_base,
                severity=severity_terms(
                    area / image_px, c_base, damage_taxonomy.dsi_weight(damage)
                ),
            )
        )
    findings.sort(
        key=lambda f: (
            part_taxonomy.index(f.part),
            damage_taxonomy.index(f.damage),
            f.box[1],
            f.box[0],
        )
    )
    return findings


def analyse_photo(
    part_map: LabelMap,
    damage_map: LabelMap,
    damage_prob: npt.NDArray[np.floating],
    part_taxonomy: Taxonomy,
    damage_taxonomy: Taxonomy,
    settings: PipelineSettings | None = None,
) -> PhotoAnalysis:
    """Visible parts, perspective, damaged parts with sizes and C_base, and the photo's DSI."""
    settings = settings or PipelineSettings()
    visible = visible_parts(part_map, part_taxonomy, settings)
    scale = reference_scale(part_map, part_taxonomy, settings)
    findings = find_damaged_parts(
        part_map, damage_map, damage_prob, part_taxonomy, damage_taxonomy, settings, scale
    )
    return PhotoAnalysis(
        visible_parts=visible,
        perspective=perspective_class(len(visible), settings),
        findings=tuple(findings),
        dsi=dsi(f.severity.score for f in findings),
        scale=scale,
    )

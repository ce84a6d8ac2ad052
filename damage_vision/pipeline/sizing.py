"""Physical sizes of damage (SPEC step 5): a scale from reference parts whose shape is
plausible, and no cm² rather than an impossible one.

A scale (cm² per pixel of the processed grid) comes from instances of the taxonomy's
`reference_parts` (wheel, door) of known physical area. An instance gives a scale only
when it is whole and has the shape its part has (`shape: round` or `shape: panel` in the
taxonomy YAML); a cut, hidden, merged or mis-segmented reference is refused, because its
pixel count is not the pixel count of the part. `physical_area` then turns a finding's
pixel area into cm² and refuses any estimate above the largest area its part can have
(`max_areas` in the YAML): a damage is never larger than its part, so such an estimate
means the scale is wrong for that damage, and nothing is shown rather than a wrong size.

Rules for every reference instance (a connected region of one reference part):

- at least `PipelineSettings.min_reference_px` pixels (`too_small`);
- it does not touch the photo border, where it would be cut (`touches_border`);
- then the rules of its `shape`; a reference part without one has no further rule.

Holes (pixels enclosed by the instance but not in it, as a share of the filled region)
mean something in front of the part hides it, or only a ring (a tyre without its rim)
was segmented (`holed`).

`shape: round` (a wheel; numbers in `ROUND`):

- axis ratio sqrt(l_min / l_max) of the eigenvalues l of the pixel coordinates'
  covariance at least 0.5 (`elongated`). A circle seen at an angle t from its axis is an
  ellipse with axis ratio cos(t); 0.5 allows views up to 60 degrees off side-on. The
  pixel count is used as it is, not corrected for the angle: damage on the side of the
  car is foreshortened like the wheel, damage on the front or rear is not (the
  estimate is then too large by up to 1 / ratio, i.e. 2x; `depth_rel_sd` covers part).
- intersection over union with the ellipse of the same second moments (centre at the
  centroid, semi-axes 2 sqrt(l)) at least 0.9 (`not_round`). A filled ellipse at any
  size from 400 pixels and any rotation scores above 0.99; a wheel with the top sixth
  of its height hidden 0.91 (it passes: 12% of its area is missing, within the spread
  of wheel sizes), a fifth 0.897, a quarter 0.88, a half 0.82; two touching wheels 0.80,
  a square 0.83, a ring whose hole is 16% of the disc 0.73. Moments, not the bounding
  box, so that a tilted ellipse (3/4 views, camera roll) passes and a disc cut by a
  chord (which fills the ellipse inscribed in its bounding box as well as a whole disc
  does) does not. On carparts-dsmlr's hand-drawn wheels the refused ones are tyres seen
  from the front or rear, partly under the bumper or the wheel arch.
- holes at most 5% of the filled region.

`shape: panel` (a door; numbers in `PANEL`):

- bounding box width / height between 0.35 and 2.6 (`aspect`). Face-on, a door below
  the window line is 0.9-1.4 m wide and 0.55-0.75 m high (1.2-2.5), a whole door with
  its window (as carparts-dsmlr labels it) 1.0-1.3; seen 70 degrees off face-on its
  width shrinks to a third. Narrower is a door seen edge-on, an open door or a vertical
  sliver; wider is a horizontal sliver or front and rear door merged into one region
  (two doors below the window line: 2.4-5, so the shortest pairs still pass).
- fill of its bounding box at least 0.5 (`sparse`): a door is a quadrilateral that fills
  0.65-1.0 of its box even in perspective with a tapered window frame; an L-shaped,
  diagonal or fragmented region is not a door's outline.
- holes at most 10% of the filled region (a person or a pole in front of the door).

The per-type estimate is the median of `area_cm2 / pixels` over the plausible instances,
and types are combined by inverse-variance weighting, exactly as before these rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from damage_vision.pipeline.grouping import OTHER_PANEL, STRUCTURES
from damage_vision.pipeline.settings import PipelineSettings
from damage_vision.pipeline.types import LabelMap
from damage_vision.taxonomy import Shape, Taxonomy

Problem = Literal[
    "too_small", "touches_border", "holed", "elongated", "not_round", "aspect", "sparse"
]

# The largest single panel of a passenger car is the roof of a large SUV or van, about
# 2.0 m x 1.4 m; no damage on one part is larger. Used when a taxonomy has no max_areas.
NO_PART_LARGER_CM2 = 30_000.0
# A damage on a panel the part model does not label (a fender, a quarter panel, a sill):
# the largest such panel, a quarter panel, is about 1.4 m x 0.7 m. A roof is larger but is
# rarely photographed whole in a claim; its damage then gets no cm² rather than a wrong one.
OTHER_PANEL_MAX_CM2 = 10_000.0


@dataclass(frozen=True)
class RoundRule:
    """Numbers of the `shape: round` rules (module docstring)."""

    min_axis_ratio: float = 0.5
    min_ellipse_iou: float = 0.9
    max_hole_share: float = 0.05


@dataclass(frozen=True)
class PanelRule:
    """Numbers of the `shape: panel` rules (module docstring)."""

    min_aspect: float = 0.35  # bounding box width / height
    max_aspect: float = 2.6
    min_box_fill: float = 0.5
    max_hole_share: float = 0.10


ROUND = RoundRule()
PANEL = PanelRule()


@dataclass(frozen=True)
class ScaleEstimate:
    """Physical size of one pixel of the processed grid, from reference parts."""

    cm2_per_px: float
    rel_sd: float  # relative standard deviation of cm2_per_px, all sources included
    references: tuple[str, ...]  # reference parts used


@dataclass(frozen=True)
class ReferenceInstance:
    """One connected region of a reference part and why it gives no scale (if it does not)."""

    part: str
    area_px: int
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), processed grid
    problem: Problem | None


def _hole_share(mask: npt.NDArray[np.bool_]) -> float:
    filled = int(ndimage.binary_fill_holes(mask).sum())
    return 1.0 - int(mask.sum()) / filled


def _moment_ellipse(mask: npt.NDArray[np.bool_]) -> tuple[float, float]:
    """(axis ratio, IoU of `mask` with the ellipse of its second moments)."""
    rows, cols = np.nonzero(mask)
    cy, cx = float(rows.mean()), float(cols.mean())
    coords = np.stack([rows - cy, cols - cx]).astype(np.float64)
    variances, axes = np.linalg.eigh(coords @ coords.T / rows.size)
    small, large = float(variances[0]), float(variances[1])
    if large <= 0.0 or small <= 0.0:  # a single pixel, row or column: no area
        return 0.0, 0.0
    # Grid covering both the mask's box and the ellipse (semi-axes 2 sqrt(variance)).
    reach = 2.0 * math.sqrt(large) + 1.0
    r0, c0 = min(0, math.floor(cy - reach)), min(0, math.floor(cx - reach))
    r1 = max(mask.shape[0], math.ceil(cy + reach) + 1)
    c1 = max(mask.shape[1], math.ceil(cx + reach) + 1)
    yy, xx = np.mgrid[r0:r1, c0:c1]
    along = np.stack([yy - cy, xx - cx], axis=-1) @ axes  # coordinates on the two axes
    ellipse = along[..., 0] ** 2 / (4.0 * small) + along[..., 1] ** 2 / (4.0 * large) <= 1.0
    grid = np.zeros(ellipse.shape, dtype=bool)
    grid[-r0 : -r0 + mask.shape[0], -c0 : -c0 + mask.shape[1]] = mask
    union = int((grid | ellipse).sum())
    return math.sqrt(small / large), int((grid & ellipse).sum()) / union


def shape_problem(mask: npt.NDArray[np.bool_], shape: Shape | None) -> Problem | None:
    """Why a whole, large enough instance (cropped to its box) does not look like `shape`."""
    if shape is None:
        return None
    if shape == "round":
        if _hole_share(mask) > ROUND.max_hole_share:
            return "holed"
        ratio, iou = _moment_ellipse(mask)
        if ratio < ROUND.min_axis_ratio:
            return "elongated"
        if iou < ROUND.min_ellipse_iou:
            return "not_round"
        return None
    if shape == "panel":
        if _hole_share(mask) > PANEL.max_hole_share:
            return "holed"
        height, width = mask.shape
        if not PANEL.min_aspect <= width / height <= PANEL.max_aspect:
            return "aspect"
        if mask.sum() / mask.size < PANEL.min_box_fill:
            return "sparse"
        return None
    raise ValueError(f"unknown reference shape {shape!r}; expected 'round' or 'panel'")


def reference_instances(
    part_map: LabelMap, taxonomy: Taxonomy, settings: PipelineSettings
) -> list[ReferenceInstance]:
    """Every connected instance of every reference part, with its problem (None: usable)."""
    height, width = part_map.shape
    instances: list[ReferenceInstance] = []
    for name, ref in taxonomy.reference_parts.items():
        labels, _count = ndimage.label(
            part_map == taxonomy.index(name), structure=STRUCTURES[settings.connectivity]
        )
        for k, box in enumerate(ndimage.find_objects(labels), start=1):
            if box is None:
                continue
            mask = labels[box] == k
            rows, cols = box
            area = int(mask.sum())
            problem: Problem | None
            if area < settings.min_reference_px:
                problem = "too_small"
            elif rows.start == 0 or cols.start == 0 or rows.stop == height or cols.stop == width:
                problem = "touches_border"
            else:
                problem = shape_problem(mask, ref.shape)
            instances.append(
                ReferenceInstance(
                    name, area, (cols.start, rows.start, cols.stop, rows.stop), problem
                )
            )
    return instances


def reference_scale(
    part_map: LabelMap, taxonomy: Taxonomy, settings: PipelineSettings
) -> ScaleEstimate | None:
    """cm² per pixel from the plausible instances of the taxonomy's `reference_parts`.

    Method: every instance that passes the rules of this module's docstring gives
    `area_cm2 / pixels`; the median over the instances of one part type is that type's
    estimate, and the types are combined by inverse-variance weighting.

    Uncertainty (one relative standard deviation), from three sources:
    - the spread of the reference size across car models (`sd_cm2 / area_cm2` in the YAML;
      e.g. wheels of 58-68 cm diameter), combined across types as 1/sqrt(sum 1/r²);
    - `depth_rel_sd`: damage and reference at different distances from the camera or at
      different angles to it (the estimate assumes both lie roughly in one plane facing
      the camera);
    - not modelled: segmentation error of either region, lens distortion.

    Assumptions: a passenger car; a reference instance that passes the shape rules is one
    whole physical part. Returns None when no plausible reference part is visible.
    """
    estimates: dict[str, list[float]] = {}
    for instance in reference_instances(part_map, taxonomy, settings):
        if instance.problem is None:
            ref = taxonomy.reference_parts[instance.part]
            estimates.setdefault(instance.part, []).append(ref.area_cm2 / instance.area_px)
    if not estimates:
        return None
    names = sorted(estimates)
    rel = np.array(
        [taxonomy.reference_parts[n].sd_cm2 / taxonomy.reference_parts[n].area_cm2 for n in names]
    )
    values = np.array([float(np.median(estimates[n])) for n in names])
    weights = 1.0 / rel**2
    scale = float((weights * values).sum() / weights.sum())
    ref_rel = float(1.0 / np.sqrt(weights.sum()))
    rel_sd = float(np.hypot(ref_rel, settings.depth_rel_sd))
    return ScaleEstimate(scale, rel_sd, tuple(names))


def physical_area(
    area_px: int | float, part: str, scale: ScaleEstimate | None, taxonomy: Taxonomy
) -> tuple[float | None, float | None]:
    """(cm², one-sd uncertainty in cm²) of a damage of `area_px` pixels on `part`.

    (None, None) when there is no scale, or when the estimate exceeds the largest area
    the part can have (`taxonomy.max_areas`; `OTHER_PANEL_MAX_CM2` for "other_panel";
    for a part without one, such as background
    or a part the taxonomy does not know, the largest maximum of the taxonomy, and
    `NO_PART_LARGER_CM2` for a taxonomy without maxima): the scale is then wrong for
    this damage, and no size is better than an impossible one.
    """
    if area_px < 0:
        raise ValueError(f"a damage area cannot be negative, got {area_px} px")
    if scale is None:
        return None, None
    area = float(area_px) * scale.cm2_per_px
    limit = taxonomy.max_areas.get(part)
    if limit is not None:
        bound = limit.area_cm2
    elif part == OTHER_PANEL:
        bound = OTHER_PANEL_MAX_CM2
    else:
        bound = taxonomy.largest_max_area_cm2 or NO_PART_LARGER_CM2
    if area > bound:
        return None, None
    return area, area * scale.rel_sd

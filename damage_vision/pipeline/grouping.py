"""Whole findings: one damage on one part, as a person would name it (SPEC step 4).

The paper's rule (every connected region of pixels sharing one (part, damage) pair is one
D_k, `postprocess.paper_regions`) splits one dent into slivers wherever the part map or
the damage map flickers. `whole_regions` groups instead:

1. **Clean the damage map**: damage pixels (any class) in connected fragments smaller
   than `speck_share` of the photo are dropped.
2. **Merge fragments of one damage**: a binary closing with a disc of radius
   `merge_gap_share` x the long side bridges small gaps; each connected component of the
   closed map is one damage, made of the original (not the bridging) pixels. Damages
   smaller than `min_damage_share` of the photo are dropped.
3. **Name the damage**: the damage class with the largest probability mass over the
   damage's pixels (a region half scratch, half dent is named by what the model is surer
   of, not split in two).
4. **Assign it to the part(s) it really covers**: every part covering at least
   `part_cover_min` of the damage gets its own finding (a dent across the bumper-door
   border is two findings); slivers on other parts and on background join the nearest
   kept part. When no part reaches the share, the damage belongs to its largest part,
   unless background covers most of it.
5. **Background**: a damage mostly on background lies on a panel the part model does not
   know (a fender, a roof, a quarter panel: part "other_panel") when it is on the
   vehicle, and is dropped when it is off the vehicle. Vehicle evidence is the part map:
   a damage is on the vehicle when its pixels lie, on median, within
   `vehicle_reach_share` x the long side of a labelled part pixel, or between part pixels
   (part pixels on both sides in its row or its column). In a photo where parts cover
   less than `close_up_part_share` of the frame (a close-up of an unlabelled panel) the
   part map is no evidence either way and the damage is kept on "other_panel".
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from scipy import ndimage

from damage_vision.pipeline.settings import PipelineSettings
from damage_vision.pipeline.types import BoolMask, LabelMap

OTHER_PANEL = "other_panel"  # a part the part model does not label (never "background")
OTHER = -1  # part index of OTHER_PANEL in `Region.part`

# Neighbourhoods of a connected region, by `settings.connectivity`.
STRUCTURES = {
    4: ndimage.generate_binary_structure(2, 1),
    8: ndimage.generate_binary_structure(2, 2),
}
_EIGHT = STRUCTURES[8]


@dataclass(frozen=True)
class Region:
    """One finding's pixels before it is measured: a damage on one part."""

    part: int  # index into the part taxonomy, or OTHER for "other_panel"
    damage: int  # index into the damage taxonomy (never 0)
    mask: BoolMask  # H x W, full processed grid
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
    fragments: int  # connected damage fragments merged into it
    part_cover: float  # share of the whole damage's pixels on this region's part


def _disc(radius: int) -> npt.NDArray[np.bool_]:
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    disc: npt.NDArray[np.bool_] = x * x + y * y <= radius * radius
    return disc


def _between(car: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Pixels with vehicle part pixels on both sides in their row or in their column."""

    def sandwiched(axis: int) -> npt.NDArray[np.bool_]:
        before = np.maximum.accumulate(car, axis=axis)
        after = np.flip(np.maximum.accumulate(np.flip(car, axis=axis), axis=axis), axis=axis)
        both: npt.NDArray[np.bool_] = before & after
        return both

    inside: npt.NDArray[np.bool_] = sandwiched(0) | sandwiched(1)
    return inside


def mask_box(
    mask: npt.NDArray[np.bool_], offset: tuple[int, int] = (0, 0)
) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1 exclusive) of a non-empty mask, shifted by `offset`
    (row, column)."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    oy, ox = offset
    return (
        int(cols[0]) + ox,
        int(rows[0]) + oy,
        int(cols[-1]) + 1 + ox,
        int(rows[-1]) + 1 + oy,
    )


def region_from_slice(
    part: int,
    damage: int,
    local: npt.NDArray[np.bool_],
    sl: tuple[slice, slice],
    shape: tuple[int, int],
    fragments: int,
    cover: float,
) -> Region:
    """A region from its mask `local` inside the slice `sl` of a (h, w) photo."""
    mask = np.zeros(shape, dtype=bool)
    mask[sl] = local
    return Region(
        part, damage, mask, mask_box(local, (sl[0].start, sl[1].start)), fragments, float(cover)
    )


def _merge(fg: npt.NDArray[np.bool_], radius: int) -> tuple[npt.NDArray[np.int32], int]:
    """Components of `fg` after a closing with a disc of `radius`, labelled on `fg`'s own
    pixels only. The closing runs on `fg`'s bounding box padded by the radius plus one
    (zero padding keeps it exact at the photo's borders), with OpenCV (scipy's binary
    closing costs about 30 times as much)."""
    if not fg.any():
        return np.zeros(fg.shape, dtype=np.int32), 0
    closed = fg
    if radius > 0:
        rows = np.flatnonzero(fg.any(axis=1))
        cols = np.flatnonzero(fg.any(axis=0))
        y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        pad = radius + 1
        padded = np.pad(fg[y0:y1, x0:x1].astype(np.uint8), pad)
        kernel = _disc(radius).astype(np.uint8)
        bridged = cv2.morphologyEx(padded, cv2.MORPH_CLOSE, kernel, borderValue=0)
        closed = fg.copy()
        closed[y0:y1, x0:x1] |= bridged[pad:-pad, pad:-pad].astype(bool)
    groups, count = ndimage.label(closed, structure=_EIGHT)
    groups[~fg] = 0
    return groups.astype(np.int32), int(count)


def whole_regions(
    part_map: LabelMap,
    damage_map: LabelMap,
    damage_prob: npt.NDArray[np.floating],
    num_parts: int,
    settings: PipelineSettings,
) -> list[Region]:
    """Whole damages assigned to parts (see the module docstring).

    `damage_prob`: (C, H, W) probabilities of every damage class. Regions come ordered by
    damage (top, left), then by part index within one damage.
    """
    h, w = damage_map.shape
    if settings.damage_pixels == "any_damage":
        # Damage where the damage classes together outweigh "no damage", named by the
        # likeliest damage class (argmax alone misses pixels where two damage classes
        # split the probability).
        fg = damage_prob[0] < 0.5
        damage_map = np.where(fg, damage_prob[1:].argmax(axis=0) + 1, 0).astype(np.uint8)
    else:
        fg = damage_map > 0
    if not fg.any():
        return []
    long_side = max(h, w)
    image_px = h * w

    # 1. Specks.
    fragments, n_fragments = ndimage.label(fg, structure=_EIGHT)
    fragment_area = np.bincount(fragments.ravel(), minlength=n_fragments + 1)
    speck = max(1, round(settings.speck_share * image_px))
    keep_fragment = fragment_area >= speck
    keep_fragment[0] = False
    fg = keep_fragment[fragments]
    if not fg.any():
        return []

    # 2-3. Merge fragments across small gaps and name each damage.
    radius = round(settings.merge_gap_share * long_side)
    if settings.merge_classes:
        groups, n_groups = _merge(fg, radius)
        flat = groups.ravel()
        mass = np.stack(
            [
                np.bincount(flat, weights=damage_prob[c].ravel(), minlength=n_groups + 1)
                for c in range(1, damage_prob.shape[0])
            ],
            axis=1,
        )
        group_class = mass.argmax(axis=1) + 1
    else:
        groups = np.zeros(fg.shape, dtype=np.int32)
        classes = [0]
        n_groups = 0
        for c in range(1, damage_prob.shape[0]):
            labels, count = _merge(fg & (damage_map == c), radius)
            if count:
                inside = labels > 0
                groups[inside] = labels[inside] + n_groups
                n_groups += count
                classes += [c] * count
        flat = groups.ravel()
        group_class = np.asarray(classes)
    area = np.bincount(flat, minlength=n_groups + 1)
    min_damage = max(1, round(settings.min_damage_share * image_px))

    # Part histogram per group.
    part_hist = np.bincount(
        flat * num_parts + part_map.ravel().astype(np.int64),
        minlength=(n_groups + 1) * num_parts,
    ).reshape(n_groups + 1, num_parts)

    car = part_map > 0
    car_share = float(car.mean())
    vehicle_known = car_share >= settings.close_up_part_share
    distance: npt.NDArray[np.float64] | None = None
    step = 1
    between: npt.NDArray[np.bool_] | None = None

    regions: list[Region] = []
    boxes = ndimage.find_objects(groups, max_label=n_groups)
    for g in range(1, n_groups + 1):
        if area[g] < min_damage or boxes[g - 1] is None:
            continue
        sl = boxes[g - 1]
        assert sl is not None
        local = groups[sl] == g
        n_frag = len(np.unique(fragments[sl][local]))
        damage = int(group_class[g])
        shares = part_hist[g] / area[g]
        kept = [p for p in range(1, num_parts) if shares[p] >= settings.part_cover_min]
        if not kept:
            on_parts = shares[1:]
            if shares[0] <= 0.5 and on_parts.max(initial=0.0) > 0:
                kept = [int(on_parts.argmax()) + 1]
        if not kept:
            if vehicle_known:
                if distance is None:
                    # On a grid of about 80 px: a reach of a few percent of the photo
                    # needs no finer distances, and the transform then costs ~0.2 ms.
                    step = max(1, long_side // 80)
                    coarse = car[::step, ::step]
                    distance = ndimage.distance_transform_edt(~coarse) * step
                    between = _between(coarse)
                assert between is not None
                ys, xs = np.nonzero(local)
                ys = (ys + sl[0].start) // step
                xs = (xs + sl[1].start) // step
                reach = float(np.median(distance[ys, xs]))
                on_vehicle = reach <= settings.vehicle_reach_share * long_side or (
                    float(between[ys, xs].mean()) >= 0.5
                )
                if not on_vehicle:
                    continue  # off the vehicle
            regions.append(region_from_slice(OTHER, damage, local, sl, (h, w), n_frag, shares[0]))
            continue
        if len(kept) == 1:
            regions.append(
                region_from_slice(kept[0], damage, local, sl, (h, w), n_frag, shares[kept[0]])
            )
            continue
        # Several parts: each pixel of the damage goes to the nearest pixel of a kept part.
        local_parts = part_map[sl]
        seeds = np.isin(local_parts, kept) & local
        _, (iy, ix) = ndimage.distance_transform_edt(~seeds, return_indices=True)
        owner = local_parts[iy, ix]
        for p in kept:
            piece = local & (owner == p)
            if not piece.any():
                continue
            regions.append(region_from_slice(p, damage, piece, sl, (h, w), n_frag, shares[p]))
    return regions

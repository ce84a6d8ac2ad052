"""Matching a version's findings on one photo against the regions the adjusters decided on
(pure, no database): the truth regions and predicted findings in one grid, mask and box IoU,
and `match_findings`, which pairs each finding with at most one kept region of its damage
class (IoU at least `MATCH_IOU`, highest C_refined first) or marks it rejected or false.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from learning.models import ShadowFinding
from review import rle as rle_codec

BoolMask = npt.NDArray[np.bool_]

MATCH_IOU = 0.5


@dataclass(frozen=True)
class TruthRegion:
    """A region of a reviewed photo, in the evaluated version's grid and damage taxonomy."""

    key: str  # "f<finding id>" or "a<decision id>"
    damage: str
    mask: BoolMask
    kept: bool  # False: a finding the adjusters rejected (known false)


@dataclass(frozen=True)
class Predicted:
    """A finding of the evaluated version in the same grid."""

    damage: str
    mask: BoolMask
    box: tuple[int, int, int, int]
    shape: str  # "mask" | "box"
    c_refined: float


@dataclass(frozen=True)
class Match:
    outcome: str  # ShadowFinding.Outcome value
    truth: str  # the key of the region it matched, "" for none
    iou: float


def mask_iou(a: BoolMask, b: BoolMask) -> float:
    union = int(np.logical_or(a, b).sum())
    return float(np.logical_and(a, b).sum()) / union if union else 0.0


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two [x0, y0, x1, y1] boxes (exclusive ends)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _overlap(finding: Predicted, region: TruthRegion) -> float:
    if finding.shape == "box":
        box = rle_codec.bbox(region.mask)
        return 0.0 if box is None else box_iou(finding.box, box)
    return mask_iou(finding.mask, region.mask)


def match_findings(predicted: Sequence[Predicted], truth: Sequence[TruthRegion]) -> list[Match]:
    """One `Match` per finding, in the order given. Highest C_refined first, a finding
    takes the kept region of its class it overlaps most (IoU >= MATCH_IOU) that no finding
    took yet; failing that it is "rejected" when it overlaps a rejected region of its class
    as much, else "false"."""
    matches: list[Match | None] = [None] * len(predicted)
    taken: set[str] = set()
    order = sorted(range(len(predicted)), key=lambda i: -predicted[i].c_refined)
    for i in order:
        finding = predicted[i]
        best: tuple[float, str] = (0.0, "")
        for region in truth:
            if not region.kept or region.key in taken or region.damage != finding.damage:
                continue
            iou = _overlap(finding, region)
            if iou >= MATCH_IOU and iou > best[0]:
                best = (iou, region.key)
        if best[1]:
            taken.add(best[1])
            matches[i] = Match(ShadowFinding.Outcome.CORRECT, best[1], best[0])
            continue
        rejected = max(
            (
                (_overlap(finding, r), r.key)
                for r in truth
                if not r.kept and r.damage == finding.damage
            ),
            default=(0.0, ""),
        )
        if rejected[0] >= MATCH_IOU:
            matches[i] = Match(ShadowFinding.Outcome.REJECTED, rejected[1], rejected[0])
        else:
            matches[i] = Match(ShadowFinding.Outcome.FALSE, "", 0.0)
    return [m for m in matches if m is not None]

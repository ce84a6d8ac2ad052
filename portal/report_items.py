"""The damages a customer's report counts, before they are put in words: from the model's
findings, or from a finished review round's decisions (`review.selectors.reviewed_regions`,
the one scoring of reviewed damages), each with where it is on its photo and under which
number; and the reviewed overlays of a photo. `portal.customer_report` words them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claims import wording
from claims.models import AuditEvent, Case, Photo
from damage_vision.pipeline.severity import case_dsi
from damage_vision.release import needs_review
from inference.rendering import Region
from portal.selectors import case_findings
from review import rle as rle_codec
from review.models import ReviewedReport, ReviewRound
from review.rle import Rle
from review.selectors import reviewed_regions


def replacements(*, case: Case, photos: list[Photo]) -> dict[int, int]:
    """Set-aside photo pk -> number of the photo the customer added later in its place.

    Each photo added after the case was filed (audit `photo.added`) answers the earliest
    set-aside photo before it that no other added photo answered yet."""
    if not any(p.status == Photo.Status.SET_ASIDE for p in photos):
        return {}
    added = {
        (e.data or {}).get("photo")
        for e in AuditEvent.objects.filter(case=case, verb="photo.added").only("data")
    }
    later = [p for p in photos if p.pk in added]
    out: dict[int, int] = {}
    used: set[int] = set()
    for photo in photos:
        if photo.status != Photo.Status.SET_ASIDE:
            continue
        for candidate in later:
            if candidate.position > photo.position and candidate.pk not in used:
                used.add(candidate.pk)
                out[photo.pk] = candidate.position + 1
                break
    return out


@dataclass
class ReportItem:
    """One damage the report counts: its S_i, photo and (when known) size."""

    part: str
    damage: str
    photo_pk: int
    number: int
    score: float
    area_cm2: float | None
    shape: str
    source: str  # "model" | "accepted" | "edited" | "added"; "pending" before review
    confidence: str
    region: dict[str, Any] | None = None  # see ReportRow.regions
    finding_id: int | None = None  # the model finding it comes from (None: added)
    # Its mask, box ([x0, y0, x1, y1], exclusive) and the grid (width, height) both live in:
    # the model's processed grid, or the photo's full size for what an adjuster drew.
    drawn: tuple[Rle, Any, tuple[int, int]] | None = None


def region_of(
    *, number: int, finding_number: int | None, box: Any, size: Any
) -> dict[str, Any] | None:
    """A damage's box as fractions of its photo (`size`: the grid `box` lives in)."""
    try:
        width, height = float(size[0]), float(size[1])
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError, IndexError):
        return None
    if width <= 0 or height <= 0:
        return None
    fractions = [x0 / width, y0 / height, x1 / width, y1 / height]
    return {
        "photo": number,
        "number": finding_number,
        "box": [round(min(1.0, max(0.0, v)), 4) for v in fractions],
    }


def scores_by_row(items: list[ReportItem]) -> dict[tuple[str, str], list[float]]:
    grouped: dict[tuple[str, str], list[float]] = {}
    for item in items:
        grouped.setdefault((item.part, item.damage), []).append(item.score)
    return grouped


def model_items(*, case: Case) -> list[ReportItem]:
    version = case.model_version
    threshold = version.threshold if version is not None else 0.0
    return [
        ReportItem(
            part=f.part,
            damage=f.damage,
            photo_pk=f.photo_id,
            number=f.photo.position + 1,
            score=f.dsi_score,
            area_cm2=f.area_cm2,
            shape=f.shape,
            source="model",
            confidence=wording.TO_CHECK if needs_review(f.c_refined, threshold) else wording.HIGH,
            region=region_of(
                number=f.photo.position + 1,
                finding_number=f.index + 1,
                box=f.box,
                size=f.mask_size,
            ),
            finding_id=f.pk,
        )
        for f in case_findings(case=case).only(
            "part",
            "damage",
            "photo_id",
            "photo__position",
            "dsi_score",
            "area_cm2",
            "shape",
            "c_refined",
            "index",
            "box",
            "mask_size",
        )
    ]


def reviewed_items(*, case: Case, round_number: int) -> list[ReportItem]:
    """The damages of the report finished in round `round_number`, as
    `review.selectors.reviewed_regions` scores them from the decisions in force then (a
    reopened round's decisions are not the report's), each with where it is on its photo
    and under which number."""
    regions = reviewed_regions(case=case, round_number=round_number)
    # Numbered 1, 2, ... on each photo, the model's findings in the model's order and the
    # added damages after them: a rejected finding leaves no gap in the numbers.
    numbered: dict[int, int] = {}
    items: list[ReportItem] = []
    for region in regions.kept:
        photo, f, edit = region.photo, region.finding, region.edit
        numbered[photo.pk] = numbered.get(photo.pk, 0) + 1
        number = numbered[photo.pk]
        if edit is not None:
            box, size = edit.box, (edit.width, edit.height)
            drawn = (edit.rle, edit.box, (edit.width, edit.height))
        else:
            assert f is not None
            box, size = f.box, f.mask_size
            drawn = (Rle.from_coco(f.mask_rle), f.box, (f.mask_size[0], f.mask_size[1]))
        items.append(
            ReportItem(
                part=region.part,
                damage=region.damage,
                photo_pk=photo.pk,
                number=photo.position + 1,
                score=region.score,
                area_cm2=region.area_cm2,
                shape=region.shape,
                source=region.source,
                confidence=wording.HIGH if region.decision is None else wording.CHECKED,
                # Where the adjuster drew it, else the model's outline.
                region=region_of(
                    number=photo.position + 1, finding_number=number, box=box, size=size
                ),
                finding_id=f.pk if f is not None else None,
                drawn=drawn,
            )
        )
    return items


def photo_review_round(*, photo: Photo) -> int | None:
    """The review round whose finished report covers `photo` (the latest finished round,
    when the photo was there before it finished); None before any review."""
    finished = (
        ReviewRound.objects.filter(case_id=photo.case_id, finished_at__isnull=False)
        .order_by("-number")
        .values_list("number", "finished_at")
        .first()
    )
    if finished is None or finished[1] is None or photo.created_at > finished[1]:
        return None
    return int(finished[0])


def photo_reviewed_regions(*, photo: Photo, round_number: int) -> list[Region]:
    """What the reviewed report of round `round_number` shows on `photo`, to draw: the
    model's findings an adjuster accepted (or left above the threshold), the outlines an
    adjuster redrew and the damages one added, under the numbers the report's rows use."""
    regions = []
    for item in reviewed_items(case=photo.case, round_number=round_number):
        if item.photo_pk != photo.pk or item.drawn is None or item.region is None:
            continue
        rle, box, grid = item.drawn
        mask = rle_codec.decode(rle)
        regions.append(
            Region(
                number=int(item.region["number"]),
                damage=item.damage,
                mask=mask,
                box=(int(box[0]), int(box[1]), int(box[2]), int(box[3])),
                grid=grid,
                shape=item.shape,
                area_px=int(mask.sum()),
            )
        )
    return sorted(regions, key=lambda r: r.number)


def matches_report(items: list[ReportItem], report: ReviewedReport) -> bool:
    """Whether `items` are the stored report's rows and give its DSI exactly."""
    mine: dict[tuple[str, str], tuple[list[int], list[str]]] = {}
    for i in items:
        photos, sources = mine.setdefault((i.part, i.damage), ([], []))
        photos.append(i.number)
        sources.append(i.source)
    stored = {
        (r["part"], r["damage"]): (sorted(set(r["photos"])), sorted(r["sources"]))
        for r in report.damaged_parts
    }
    return {k: (sorted(set(p)), sorted(s)) for k, (p, s) in mine.items()} == stored and round(
        case_dsi(scores_by_row(items).values()), 4
    ) == round(report.dsi, 4)

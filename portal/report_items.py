"""The damages a customer's report counts, before they are put in words: from the model's
findings, or as the reviewed report stored them when an adjuster finished
(`review.outcome.ReviewOutcome`, read back, never recomputed), each with where it is on its
photo and under which number; and the reviewed overlays of a photo.
`portal.customer_report` words them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claims import wording
from claims.models import AuditEvent, Case, Photo
from damage_vision.release import needs_review
from inference.services.rendering import Region
from portal.selectors import case_findings
from review import rle as rle_codec
from review.models import ReviewRound
from review.outcome import ReviewOutcome
from review.selectors import report_outcome, round_report


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


def reviewed_items(*, outcome: ReviewOutcome) -> list[ReportItem]:
    """The damages of a stored reviewed report, each with where it is on its photo and
    under which number (1, 2, ... on each photo, as the report kept them: no gap for a
    rejected finding): where the adjuster drew it, else the model's outline."""
    return [
        ReportItem(
            part=k.part,
            damage=k.damage,
            photo_pk=k.photo_id,
            number=k.photo_number,
            score=k.score,
            area_cm2=k.area_cm2,
            shape=k.shape,
            source=k.source,
            confidence=wording.CHECKED if k.checked else wording.HIGH,
            region=region_of(
                number=k.photo_number, finding_number=k.number, box=k.box, size=k.grid
            ),
            finding_id=k.finding_id,
        )
        for k in outcome.kept
    ]


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
    """What the reviewed report of round `round_number` shows on `photo`, to draw, as it was
    stored: the model's findings an adjuster accepted (or left above the threshold), the
    outlines an adjuster redrew and the damages one added, under the numbers the report's
    rows use. Nothing for a report stored without what it keeps (review 0009): its rows
    are shown without figures or outlines."""
    report = round_report(case_id=photo.case_id, round_number=round_number)
    outcome = report_outcome(report=report) if report is not None else None
    if outcome is None:
        return []
    regions = []
    for kept in outcome.kept:
        if kept.photo_id != photo.pk:
            continue
        mask = rle_codec.decode(kept.mask)
        regions.append(
            Region(
                number=kept.number,
                damage=kept.damage,
                mask=mask,
                box=kept.box,
                grid=kept.grid,
                shape=kept.shape,
                area_px=int(mask.sum()),
            )
        )
    return sorted(regions, key=lambda r: r.number)

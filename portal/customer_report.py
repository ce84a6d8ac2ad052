"""The report a customer reads, on the case page and in the PDF alike: one row per damaged
part in plain words, the photos with their overlays, the severity, and once an adjuster
has finished a review, that reviewed report only (what was changed marked), with the
customer's contests and the adjuster's answers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from claims import wording
from claims.models import Case, Photo
from damage_vision.pipeline.severity import case_dsi
from damage_vision.pipeline.severity import dsi as mean_score
from portal.report_items import (
    ReportItem,
    model_items,
    replacements,
    reviewed_items,
    scores_by_row,
)
from portal.selectors import case_photos, contest_pending
from review.models import Contest, ReviewRound
from review.selectors import case_contests, case_latest_report, report_outcome


class _SeverityInWords:
    """A figure's severity as the page and the PDF say it (number and word)."""

    severity: float | None

    @property
    def severity_number(self) -> int | None:
        return None if self.severity is None else wording.severity_number(self.severity)

    @property
    def severity_word(self) -> str:
        return "" if self.severity is None else wording.severity_word(self.severity)


@dataclass
class ReportRow(_SeverityInWords):
    """One damaged part: a (part, damage) pair with the photos that show it."""

    part: str
    damage: str
    photos: list[int]
    severity: float | None  # mean S_i of its damages; None when not known
    area_cm2: float | None  # the largest estimate among its damages
    shape: str  # "box" when every damage is a detector box
    confidence: str  # wording.CHECKED / HIGH / TO_CHECK
    changes: str  # what the adjuster changed, in words ("" when nothing)
    # Where each of its damages is: {"photo": photo number, "number": its number on the
    # annotated photo (a damage an adjuster added comes after the model's findings of that
    # photo), "box": [x0, y0, x1, y1] as fractions of the photo's width and height}. The
    # case page highlights them.
    regions: list[dict[str, Any]] = field(default_factory=list)
    # The model findings behind it (a contest of the row names the first) and the
    # customer's contests of them, with the adjuster's answers.
    finding_ids: list[int] = field(default_factory=list)
    contests: list[Contest] = field(default_factory=list)

    @property
    def contest_open(self) -> bool:
        return any(c.is_open for c in self.contests)

    @property
    def regions_json(self) -> str:
        return json.dumps(self.regions, separators=(",", ":"))

    @property
    def part_words(self) -> str:
        return wording.part_words(self.part)

    @property
    def damage_words(self) -> str:
        return wording.damage_words(self.damage)

    @property
    def size(self) -> str:
        return wording.size_words(self.area_cm2, box=self.shape == "box")

    @property
    def sentence(self) -> str:
        return wording.row_sentence(
            part=self.part, damage=self.damage, severity=self.severity, size=self.size
        )


@dataclass
class ReportPhoto(_SeverityInWords):
    photo: Photo
    number: int  # 1-based, as the rows name photos
    severity: float | None  # its damages' mean S_i (0: none found); None when not used
    set_aside: str  # the reason in plain words ("" unless set aside)
    replaced_by: int | None  # the number of the photo added in its place
    ask_for_another: bool  # the page asks the customer for another photo
    shows: list[str]  # "front bumper (scratch)" for every row that names this photo
    after_report: bool = False  # added after the reviewed report shown was finished

    @property
    def caption(self) -> str:
        """The photo's line under its image, the same on the page and in the PDF."""
        photo = self.photo
        if photo.status == Photo.Status.SET_ASIDE:
            text = f"Set aside: {self.set_aside}."
            if self.replaced_by is not None:
                text += f" Replaced by photo {self.replaced_by}."
            elif self.ask_for_another:
                text += " Please add another photo."
            return text
        if photo.status == Photo.Status.FAILED:
            return f"Processing failed: {wording.failure_words(photo.error)}"
        if photo.status != Photo.Status.DONE:
            return "Being processed."
        if self.after_report:
            return "Added after the adjuster's check; the next check will include it."
        if self.severity is None:
            return "Severity not known."
        if not self.shows:
            return "Severity 0 of 100: no damage found."
        return (
            f"Severity {self.severity_number} of 100 ({self.severity_word}). "
            f"Shows: {'; '.join(self.shows)}."
        )


@dataclass
class CustomerReport:
    reviewed: bool  # the rows are an adjuster's finished review
    rechecking: bool  # reviewed, then reopened: an adjuster is checking it again
    reviewed_at: Any  # datetime of the report shown, None before any review
    removed: int  # model findings the adjuster rejected (not listed)
    dsi: float | None  # the case's severity
    rows: list[ReportRow]
    photos: list[ReportPhoto]
    # Per-part and per-photo severities are shown only when they come from the same
    # scores as `dsi`: always, but for a reviewed report stored before what it keeps was
    # stored with it, whose decisions no longer gave it (review 0009).
    scores_known: bool = True
    contests_other: list[Contest] = field(default_factory=list)  # "missed damage" and others
    contests_left: int = 0  # how many more times the customer may contest the case
    can_contest: bool = False
    # A contest waits for an adjuster's finished review, and what the badge then says.
    contest_pending: bool = False
    status_words: str = ""

    severity_cutoffs = wording.SEVERITY_CUTOFFS_TEXT

    @property
    def has_boxes(self) -> bool:
        return any(r.shape == "box" and r.area_cm2 for r in self.rows)

    @property
    def dsi_number(self) -> int | None:
        return None if self.dsi is None else wording.severity_number(self.dsi)

    @property
    def dsi_word(self) -> str:
        return "" if self.dsi is None else wording.severity_word(self.dsi)

    @property
    def dsi_sentence(self) -> str:
        return wording.severity_sentence(self.dsi)

    @property
    def severity_means(self) -> str:
        """What the index means, in the report's words; after review also why its figures
        may be higher than before."""
        if self.reviewed:
            return f"{wording.SEVERITY_MEANS}; {wording.SEVERITY_AFTER_REVIEW}"
        return wording.SEVERITY_MEANS

    @property
    def status_line(self) -> str:
        when = self.reviewed_at.strftime("%Y-%m-%d") if self.reviewed_at else ""
        if self.contest_pending and self.status_words == wording.CONTEST_UNDER_REVIEW:
            return "An adjuster is checking what you contested and will answer you here; " + (
                f"this is the report of the check finished on {when}."
                if self.reviewed
                else "until then this is what our damage recognition found."
            )
        if self.rechecking:
            return (
                f"An adjuster is checking this claim again; this is the report of the check "
                f"finished on {when}."
            )
        if self.reviewed:
            return f"An adjuster checked this report on {when}."
        if any(r.confidence == wording.TO_CHECK for r in self.rows):
            return (
                "Found by our damage recognition; an adjuster will check the rows marked "
                f'"{wording.TO_CHECK}".'
            )
        return "Found by our damage recognition."


def _rows(items: list[ReportItem]) -> list[ReportRow]:
    grouped: dict[tuple[str, str], list[ReportItem]] = {}
    for item in items:
        grouped.setdefault((item.part, item.damage), []).append(item)
    rows = []
    for (part, damage), group in grouped.items():
        sizes = [i.area_cm2 for i in group if i.area_cm2]
        confidences = {i.confidence for i in group}
        rows.append(
            ReportRow(
                part=part,
                damage=damage,
                photos=sorted({i.number for i in group}),
                severity=mean_score([i.score for i in group]),
                area_cm2=max(sizes) if sizes else None,
                shape="box" if all(i.shape == "box" for i in group) else "mask",
                # One region still to check makes the row "to be checked"; one an adjuster
                # looked at makes it "checked".
                confidence=next(
                    c for c in (wording.TO_CHECK, wording.CHECKED, wording.HIGH) if c in confidences
                ),
                changes=wording.changes_words(i.source for i in group),
                regions=[i.region for i in group if i.region is not None],
                finding_ids=sorted({i.finding_id for i in group if i.finding_id is not None}),
            )
        )
    return sorted(rows, key=lambda r: (r.part_words, r.damage_words))


def _stored_rows(damaged_parts: list[dict[str, Any]]) -> list[ReportRow]:
    """The rows of a report stored without what it keeps: no severities, sizes or places."""
    return sorted(
        (
            ReportRow(
                part=r["part"],
                damage=r["damage"],
                photos=sorted(set(r["photos"])),
                severity=None,
                area_cm2=None,
                shape="mask",
                confidence=wording.HIGH if set(r["sources"]) == {"model"} else wording.CHECKED,
                changes=wording.changes_words(r["sources"]),
            )
            for r in damaged_parts
        ),
        key=lambda r: (r.part_words, r.damage_words),
    )


def _photo_scores(items: list[ReportItem]) -> dict[int, float]:
    """Each photo's severity: the mean S_i of the damages it shows."""
    grouped: dict[int, list[float]] = {}
    for item in items:
        grouped.setdefault(item.photo_pk, []).append(item.score)
    return {pk: mean_score(scores) for pk, scores in grouped.items()}


def case_customer_report(*, case: Case, photos: list[Photo] | None = None) -> CustomerReport:
    """The report a claimant reads (case page and PDF alike): one truth, the latest
    reviewed report once there is one, else what the model found."""
    photos = case_photos(case=case) if photos is None else photos
    report = case_latest_report(case=case)
    # Rounds follow one another (one open at a time): the highest-numbered finished round
    # is also the one finished last.
    last_finished = (
        ReviewRound.objects.filter(case=case, finished_at__isnull=False)
        .only("number", "finished_at")
        .order_by("-number")
        .first()
    )
    outcome = report_outcome(report=report) if report is not None else None
    scores_known = report is None or outcome is not None
    if report is None:
        items = model_items(case=case)
        rows = _rows(items)
        dsi = case.dsi if case.dsi is not None else case_dsi(scores_by_row(items).values())
        reviewed_at, removed = None, 0
        photo_scores = _photo_scores(items)
    elif outcome is not None:
        # The reviewed report as the adjuster finished it, read back, never recomputed.
        rows = _rows(reviewed_items(outcome=outcome))
        dsi, reviewed_at, removed = outcome.dsi, report.created_at, outcome.rejected
        photo_scores = dict(outcome.photo_dsi)
    else:
        # A report from before outcomes were stored that its decisions no longer gave
        # (review 0009): its rows as stored, without figures it never had.
        rows = _stored_rows(report.damaged_parts)
        dsi, reviewed_at, removed = report.dsi, report.created_at, report.rejected
        photo_scores = {}
    replaced = replacements(case=case, photos=photos)
    out_photos = []
    for photo in photos:
        number = photo.position + 1
        usable = photo.status == Photo.Status.DONE
        after_report = reviewed_at is not None and photo.created_at > reviewed_at
        out_photos.append(
            ReportPhoto(
                photo=photo,
                number=number,
                severity=photo_scores.get(photo.pk, mean_score([]))
                if usable and scores_known and not after_report
                else None,
                set_aside=wording.set_aside_words(photo.set_aside_reason)
                if photo.status == Photo.Status.SET_ASIDE
                else "",
                replaced_by=replaced.get(photo.pk),
                ask_for_another=photo.status == Photo.Status.SET_ASIDE
                and photo.pk not in replaced
                and case.status != Case.Status.REVIEWED,
                shows=[f"{r.part_words} ({r.damage_words})" for r in rows if number in r.photos],
                after_report=after_report,
            )
        )
    contests = case_contests(case=case)
    pending = contest_pending(
        contests=contests,
        last_finished=last_finished.finished_at if last_finished is not None else None,
    )
    for row in rows:
        row.contests = [c for c in contests if c.finding_id in row.finding_ids]
    shown = {c.pk for row in rows for c in row.contests}
    contests_left = max(0, settings.CLAIMS_CONTESTS_PER_CASE - len(contests))
    return CustomerReport(
        reviewed=report is not None,
        rechecking=report is not None and case.status != Case.Status.REVIEWED,
        reviewed_at=reviewed_at,
        removed=removed,
        dsi=dsi,
        rows=rows,
        photos=out_photos,
        scores_known=scores_known,
        contests_other=[c for c in contests if c.pk not in shown],
        contests_left=contests_left,
        # As `review.services.contest_create` allows: once the report is there.
        can_contest=case.status != Case.Status.PROCESSING and contests_left > 0,
        contest_pending=pending,
        status_words=wording.case_status_words(
            status=case.status, display=case.get_status_display(), contest_pending=pending
        ),
    )

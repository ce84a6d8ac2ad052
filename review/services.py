"""Writes of the review app: leases, decisions, mask edits, reviewed reports, thresholds,
model-version status and label exports. Keyword-only; every refusal is an ApplicationError."""

from __future__ import annotations

import datetime as dt
import os
import re
import time
import zipfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from claims.errors import ApplicationError
from claims.models import Case, Photo
from claims.roles import Role, is_staff_role, role_of
from claims.services import Upload, audit_record, photo_add
from inference.core.grouping import OTHER_PANEL
from inference.core.severity import case_dsi, severity_terms
from inference.core.severity import dsi as dsi_mean
from inference.core.taxonomy import TaxonomyError, load_taxonomy
from inference.models import Finding, ModelVersion
from inference.services import case_notify
from review import labels as label_writers
from review import rle as rle_codec
from review.models import (
    Contest,
    DatasetSnapshot,
    Lease,
    MaskEdit,
    ReviewDecision,
    ReviewedReport,
    ReviewRound,
)
from review.rle import Rle, RleError

LOCKED_RETRIES = 8
MAX_RLE_CHARS = 4_000_000  # a 12-megapixel mask of noise stays far below this


def _lease_seconds() -> int:
    return int(getattr(settings, "REVIEW_LEASE_SECONDS", 600))


def require_reviewer(user: Any) -> None:
    if role_of(user) not in (Role.ADJUSTER, Role.ADMIN):
        raise ApplicationError("Only adjusters and admins review cases.")


def require_admin(user: Any) -> None:
    if role_of(user) != Role.ADMIN:
        raise ApplicationError("Only admins change model versions and export labels.")


# Leases ---------------------------------------------------------------------------------


def _take(*, case_id: int, user: Any, now: dt.datetime) -> bool:
    """Conditional update: free, expired or already ours. One statement, so two requests
    racing for the same case cannot both win (the database serialises the row update)."""
    Lease.objects.get_or_create(case_id=case_id)
    taken = (
        Lease.objects.filter(case_id=case_id)
        .filter(Q(holder__isnull=True) | Q(expires_at__lte=now) | Q(holder=user))
        .update(
            holder=user,
            claimed_at=now,
            expires_at=now + dt.timedelta(seconds=_lease_seconds()),
        )
    )
    return taken == 1


def _held_message(case_id: int) -> str:
    lease = Lease.objects.select_related("holder").filter(case_id=case_id).first()
    if lease is None or lease.holder is None or lease.expires_at is None:
        return "This case is not available; pick another one from the queue."
    until = timezone.localtime(lease.expires_at).strftime("%H:%M")
    return (
        f"{lease.holder.username} is reviewing this case (lease until {until} unless they "
        "keep working); pick another case from the queue."
    )


def lease_claim(*, case: Case, user: Any, now: dt.datetime | None = None) -> Lease:
    """Take the case for `user`; an adjuster holds one case at a time."""
    require_reviewer(user)
    if case.status in (Case.Status.PROCESSING, Case.Status.FAILED):
        raise ApplicationError("This case is still being processed; it cannot be reviewed yet.")
    for attempt in range(LOCKED_RETRIES):
        try:
            return _claim(case=case, user=user, now=now or timezone.now())
        except OperationalError as exc:
            # SQLite (the embedded default) reports a concurrent writer as "locked"
            # instead of waiting; PostgreSQL waits on the row and never lands here.
            if "locked" not in str(exc) or attempt == LOCKED_RETRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def _claim(*, case: Case, user: Any, now: dt.datetime) -> Lease:
    try:
        with transaction.atomic():
            if not _take(case_id=case.pk, user=user, now=now):
                raise ApplicationError(_held_message(case.pk))
            Lease.objects.filter(holder=user).exclude(case_id=case.pk).update(
                holder=None, expires_at=None
            )
    except IntegrityError:
        # Two first claims created the row at once; the loser retries the update once.
        with transaction.atomic():
            if not _take(case_id=case.pk, user=user, now=now):
                raise ApplicationError(_held_message(case.pk)) from None
    return Lease.objects.select_related("holder").get(case_id=case.pk)


def lease_renew(*, case: Case, user: Any, now: dt.datetime | None = None) -> Lease:
    """Extend the lease while the adjuster works (heartbeat, every decision)."""
    require_reviewer(user)
    now = now or timezone.now()
    with transaction.atomic():
        if not _take(case_id=case.pk, user=user, now=now):
            raise ApplicationError(_held_message(case.pk))
    return Lease.objects.select_related("holder").get(case_id=case.pk)


def lease_release(*, case: Case, user: Any) -> None:
    require_reviewer(user)
    Lease.objects.filter(case_id=case.pk, holder=user).update(holder=None, expires_at=None)


def lease_claim_next(*, user: Any, candidates: list[int], now: dt.datetime | None = None) -> Case:
    """Claim the first case of `candidates` (queue order) that nobody else holds."""
    require_reviewer(user)
    for case_id in candidates:
        case = Case.objects.get(pk=case_id)
        try:
            lease_claim(case=case, user=user, now=now)
        except ApplicationError:
            continue
        return case
    raise ApplicationError("The queue is empty: every case is reviewed or held by someone.")


# Decisions ------------------------------------------------------------------------------


def _open_round(*, case: Case, user: Any) -> ReviewRound:
    """The case's open review round, locked until the transaction ends (opened on the
    first decision). Every write of a review takes this lock first, so the decisions of
    one case, its finishing and its reopening happen one after the other, whatever the
    number of requests in flight; a reviewed case is refused until someone reopens it."""
    for _attempt in range(2):
        open_round = (
            ReviewRound.objects.select_for_update()
            .filter(case=case, finished_at__isnull=True)
            .first()
        )
        if open_round is not None:
            return open_round
        last = ReviewRound.objects.filter(case=case).order_by("-number").first()
        if last is not None:
            raise ApplicationError(_reviewed_message(last))
        try:
            with transaction.atomic():
                ReviewRound.objects.create(case=case, number=1, opened_by=user)
        except IntegrityError:
            continue  # another request opened it at the same moment: take that one
    raise ApplicationError("This case is being changed by another request; try again.")


def _reviewed_message(last: ReviewRound) -> str:
    who = last.finished_by.username if last.finished_by else "an adjuster"
    when = (
        timezone.localtime(last.finished_at).strftime("%Y-%m-%d %H:%M") if last.finished_at else ""
    )
    return (
        f"This case was reviewed by {who} on {when} and is read-only; "
        "reopen the review (with a reason) to change it."
    )


def _lock_for_decision(*, case: Case, user: Any) -> ReviewRound:
    require_reviewer(user)
    if case.status in (Case.Status.PROCESSING, Case.Status.FAILED):
        raise ApplicationError("This case is still being processed; it cannot be reviewed yet.")
    if not _take(case_id=case.pk, user=user, now=timezone.now()):
        raise ApplicationError(_held_message(case.pk))
    return _open_round(case=case, user=user)


def _supersede(*, current: ReviewDecision | None, supersedes: int | None) -> None:
    """Refuse a decision taken on a stale view: `supersedes` must name the decision the
    person saw as current (None when they saw none). Then retire that decision."""
    if (current.pk if current else None) != supersedes:
        if current is None:
            raise ApplicationError(
                "The decision you are replacing was itself replaced; reload the case."
            )
        raise ApplicationError(
            f"This was {current.get_action_display()} by {current.reviewer.username} at "
            f"{timezone.localtime(current.decided_at):%H:%M:%S} meanwhile; reload the case "
            "and decide again if you still disagree."
        )
    if current is not None:
        ReviewDecision.objects.filter(pk=current.pk, current=True).update(current=False)


def _current_decision(**where: Any) -> ReviewDecision | None:
    return ReviewDecision.objects.select_related("reviewer").filter(current=True, **where).first()


def _record(**fields: Any) -> ReviewDecision:
    """Insert the new current decision. The partial unique index is the last word: a
    second current decision for the same finding or photo cannot be stored."""
    try:
        with transaction.atomic():
            return ReviewDecision.objects.create(current=True, **fields)
    except IntegrityError:
        raise ApplicationError(
            "Another decision on this item was stored at the same moment; reload the case."
        ) from None


def _classes(taxonomy: str, keep_first: bool = False) -> tuple[str, ...]:
    try:
        classes = load_taxonomy(taxonomy).classes
        return tuple(classes) if keep_first else tuple(classes[1:])  # 0: background / no damage
    except TaxonomyError:
        return ()


def _check_labels(*, version: ModelVersion, damage_type: str, part: str) -> None:
    damages = _classes(version.damage_taxonomy)
    # Damage on a part the taxonomy does not label (a fender for parts_reduced_dsmlr) is
    # on "other_panel", and may be kept there; class 0 (`background`) stays allowed for
    # findings of versions that still named it so.
    parts = _classes(version.part_taxonomy, keep_first=True)
    parts = (OTHER_PANEL, *parts) if parts else parts
    if damages and damage_type not in damages:
        raise ApplicationError(
            f"Unknown damage type {damage_type!r}; choose one of {', '.join(damages)}."
        )
    if parts and part not in parts:
        raise ApplicationError(f"Unknown part {part!r}; choose one of {', '.join(parts)}.")


def _mask_edit(
    *,
    photo: Photo,
    finding: Finding | None,
    user: Any,
    mask: Any,
    damage_type: str,
    part: str,
    shape: str = MaskEdit.Shape.MASK,
) -> MaskEdit:
    if shape not in MaskEdit.Shape.values:
        raise ApplicationError(
            f"Unknown shape {shape!r}: a correction is a 'mask' or a 'box' (drawn with the box tool)."
        )
    try:
        value = Rle.from_coco(mask)
        if len(value.counts) > MAX_RLE_CHARS:
            raise ApplicationError("The mask is too large to store; simplify it and save again.")
        decoded = rle_codec.decode(value)
    except RleError as exc:
        raise ApplicationError(f"The mask could not be read: {exc}.") from None
    if (value.width, value.height) != (photo.width, photo.height):
        raise ApplicationError(
            f"The mask is {value.width}x{value.height} but the photo is "
            f"{photo.width}x{photo.height}; masks are stored at the photo's full size."
        )
    box = rle_codec.bbox(decoded)
    if box is None:
        raise ApplicationError("The mask is empty: paint the damage, or reject the finding.")
    area_px = int(decoded.sum())
    x0, y0, x1, y1 = box
    if shape == MaskEdit.Shape.BOX and area_px != (x1 - x0) * (y1 - y0):
        # The label then says "box" only when it is one: a detector is trained on it as such.
        raise ApplicationError(
            "A box correction must be one filled rectangle, but this mask is not; "
            "draw it again with the box tool, or save it as a mask."
        )
    return MaskEdit.objects.create(
        photo=photo,
        finding=finding,
        damage_type=damage_type,
        part=part,
        height=value.height,
        width=value.width,
        counts=value.counts,
        area_px=area_px,
        box=list(box),
        shape=shape,
        created_by=user,
    )


def _audit_decision(decision: ReviewDecision, user: Any) -> None:
    audit_record(
        verb=f"review.{decision.action}",
        case=decision.case,
        actor=user,
        data={
            "decision": decision.pk,
            "finding": decision.finding_id,
            "photo": decision.photo_id,
            "damage": decision.damage_type,
            "part": decision.part,
            "mask_edit": decision.mask_edit_id,
        },
    )


def finding_decide(
    *, finding: Finding, user: Any, action: str, supersedes: int | None = None
) -> ReviewDecision:
    """Accept or reject a model finding; a new decision row, the finding is untouched.

    `supersedes` is the id of the decision the person saw on this finding (None when it
    was undecided): a decision taken on a stale view is refused instead of overwriting
    what someone else (or another tab) decided meanwhile."""
    if action not in (ReviewDecision.Action.ACCEPT, ReviewDecision.Action.REJECT):
        raise ApplicationError("The decision must be 'accept' or 'reject'.")
    case = finding.case
    with transaction.atomic():
        review_round = _lock_for_decision(case=case, user=user)
        _supersede(current=_current_decision(finding=finding), supersedes=supersedes)
        decision = _record(
            case=case,
            finding=finding,
            photo_id=finding.photo_id,
            action=action,
            damage_type=finding.damage,
            part=finding.part,
            c_refined=finding.c_refined,
            reviewer=user,
            round=review_round.number,
        )
        _audit_decision(decision, user)
    return decision


def finding_edit(
    *,
    finding: Finding,
    user: Any,
    mask: Any,
    damage_type: str,
    part: str,
    shape: str = MaskEdit.Shape.MASK,
    supersedes: int | None = None,
) -> ReviewDecision:
    """Correct a finding's mask, damage type or part: a mask edit and a decision row.

    `shape` is "box" when the person drew a box (the mask must then be a filled rectangle),
    whatever the finding's own shape: a box finding may be corrected with a painted mask.
    `supersedes` as in `finding_decide`."""
    return _drawn_decision(
        photo=finding.photo,
        finding=finding,
        version=finding.model_version,
        user=user,
        mask=mask,
        damage_type=damage_type,
        part=part,
        shape=shape,
        supersedes=supersedes,
    )


def damage_add(
    *,
    photo: Photo,
    user: Any,
    mask: Any,
    damage_type: str,
    part: str,
    shape: str = MaskEdit.Shape.MASK,
) -> ReviewDecision:
    """Record a damage the model missed, as a mask or (`shape="box"`) a drawn box."""
    version = photo.case.model_version
    if version is None:
        raise ApplicationError("This case has no model version yet; wait until it is processed.")
    if photo.status != Photo.Status.DONE:
        raise ApplicationError(
            "Damages can be added only on photos that went through the pipeline."
        )
    return _drawn_decision(
        photo=photo,
        finding=None,
        version=version,
        user=user,
        mask=mask,
        damage_type=damage_type,
        part=part,
        shape=shape,
        supersedes=None,
    )


def _drawn_decision(
    *,
    photo: Photo,
    finding: Finding | None,
    version: ModelVersion,
    user: Any,
    mask: Any,
    damage_type: str,
    part: str,
    shape: str,
    supersedes: int | None,
) -> ReviewDecision:
    """A mask a person drew: an edit of `finding`, or a missed damage when it is None."""
    case = photo.case
    with transaction.atomic():
        review_round = _lock_for_decision(case=case, user=user)
        _check_labels(version=version, damage_type=damage_type, part=part)
        if finding is not None:
            _supersede(current=_current_decision(finding=finding), supersedes=supersedes)
        edit = _mask_edit(
            photo=photo,
            finding=finding,
            user=user,
            mask=mask,
            damage_type=damage_type,
            part=part,
            shape=shape,
        )
        decision = _record(
            case=case,
            finding=finding,
            photo=photo,
            mask_edit=edit,
            action=ReviewDecision.Action.EDIT if finding else ReviewDecision.Action.ADD,
            damage_type=damage_type,
            part=part,
            c_refined=finding.c_refined if finding else None,
            reviewer=user,
            round=review_round.number,
        )
        _audit_decision(decision, user)
    return decision


def photo_confirm_set_aside(*, photo: Photo, user: Any) -> ReviewDecision:
    """Confirm that a set-aside photo is unusable (it leaves the queue)."""
    if photo.status != Photo.Status.SET_ASIDE:
        raise ApplicationError("Only set-aside photos are confirmed.")
    case = photo.case
    with transaction.atomic():
        review_round = _lock_for_decision(case=case, user=user)
        if _current_decision(photo=photo, action=ReviewDecision.Action.CONFIRM_SET_ASIDE):
            raise ApplicationError("This photo is already confirmed as set aside.")
        decision = _record(
            case=case,
            photo=photo,
            action=ReviewDecision.Action.CONFIRM_SET_ASIDE,
            reviewer=user,
            round=review_round.number,
        )
        _audit_decision(decision, user)
    return decision


# Outcome --------------------------------------------------------------------------------


def _pending_count(case: Case) -> int:
    from review.selectors import case_review_items

    return sum(1 for item in case_review_items(case=case) if item.state == "pending")


def report_compute(*, case: Case) -> dict[str, Any]:
    """Damaged parts and DSI from the human decisions (pure read, no write).

    A finding a person accepted, edited or added counts with confidence 1 (a person saw
    it); a rejected one is dropped; a finding above the threshold that nobody decided
    keeps the model's terms. A_i uses the edited mask's share of the photo. A photo's DSI
    is the mean S_i of what it shows; the case's is the mean over its rows (part, damage
    type), each row the mean of its photos' S_i, as in the model's synthesis.
    """
    version = case.model_version
    try:
        taxonomy = load_taxonomy(version.damage_taxonomy) if version else None
    except TaxonomyError:
        taxonomy = None
    latest: dict[int, ReviewDecision] = {}
    added: list[ReviewDecision] = []
    d: ReviewDecision | None
    for d in ReviewDecision.objects.filter(case=case, current=True).select_related(
        "mask_edit", "photo"
    ):
        if d.finding_id is not None:
            latest[d.finding_id] = d
        elif d.action == ReviewDecision.Action.ADD:
            added.append(d)
    findings = list(
        Finding.objects.filter(case=case, model_version=version).select_related(
            "photo", "model_version"
        )
    )
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    scores_by_photo: dict[int, list[float]] = defaultdict(list)
    scores_by_row: dict[tuple[str, str], list[float]] = defaultdict(list)
    kept = rejected = 0

    def weight(damage: str, fallback: float) -> float:
        try:
            return taxonomy.dsi_weight(damage) if taxonomy else fallback
        except TaxonomyError:
            return fallback

    def add(part: str, damage: str, photo: Photo, score: float, source: str) -> None:
        row = rows.setdefault(
            (part, damage), {"part": part, "damage": damage, "photos": [], "sources": []}
        )
        if photo.position + 1 not in row["photos"]:
            row["photos"].append(photo.position + 1)
        row["sources"].append(source)
        scores_by_photo[photo.pk].append(score)
        scores_by_row[(part, damage)].append(score)

    for f in findings:
        d = latest.get(f.pk)
        if d is None:
            if f.c_refined < f.model_version.threshold:
                continue  # undecided: the report is computed once none is left
            add(f.part, f.damage, f.photo, f.dsi_score, "model")
            kept += 1
        elif d.action == ReviewDecision.Action.REJECT:
            rejected += 1
        elif d.action == ReviewDecision.Action.ACCEPT:
            terms = severity_terms(f.dsi_area / 100.0, 1.0, weight(f.damage, f.dsi_type_weight))
            add(f.part, f.damage, f.photo, terms.score, "accepted")
            kept += 1
        else:
            edit = d.mask_edit
            assert edit is not None
            terms = severity_terms(
                edit.area_px / (edit.width * edit.height),
                1.0,
                weight(d.damage_type, f.dsi_type_weight),
            )
            add(d.part, d.damage_type, f.photo, terms.score, "edited")
            kept += 1
    for d in added:
        edit = d.mask_edit
        assert edit is not None
        terms = severity_terms(
            edit.area_px / (edit.width * edit.height), 1.0, weight(d.damage_type, 0.0)
        )
        add(d.part, d.damage_type, d.photo, terms.score, "added")
    return {
        "damaged_parts": sorted(rows.values(), key=lambda r: (r["part"], r["damage"])),
        "dsi": round(case_dsi(scores_by_row.values()), 4),
        "photo_dsi": {str(k): round(dsi_mean(v), 4) for k, v in scores_by_photo.items()},
        "kept": kept,
        "rejected": rejected,
        "added": len(added),
    }


def case_finish_review(*, case: Case, user: Any) -> ReviewedReport:
    """Finish the open review round: the reviewed report is written, the case becomes
    "reviewed" and read-only, and the customer is told; exactly once however many
    requests ask for it at the same time."""
    with transaction.atomic():
        review_round = _lock_for_decision(case=case, user=user)
        pending = _pending_count(case)
        if pending:
            raise ApplicationError(
                f"{pending} item{'s' if pending != 1 else ''} still to decide; decide "
                f"{'them' if pending != 1 else 'it'} before finishing the review."
            )
        unanswered = Contest.objects.filter(case=case, answered_at__isnull=True).count()
        if unanswered:
            raise ApplicationError(
                f"The customer contested {unanswered} item{'s' if unanswered != 1 else ''} "
                "that you have not answered yet; write an answer to each contest (the "
                "customer reads it) before finishing the review."
            )
        now = timezone.now()
        finished = ReviewRound.objects.filter(pk=review_round.pk, finished_at__isnull=True).update(
            finished_at=now, finished_by=user
        )
        if finished != 1:  # unreachable while the round is locked; kept as the last word
            raise ApplicationError("This review was finished by another request.")
        data = report_compute(case=case)
        report = ReviewedReport.objects.create(
            case=case,
            damaged_parts=data["damaged_parts"],
            dsi=data["dsi"],
            kept=data["kept"],
            rejected=data["rejected"],
            added=data["added"],
            reviewed_by=user,
            created_at=now,
        )
        # The model's DSI stays on the findings; the case carries the reviewed figure.
        Case.objects.filter(pk=case.pk).update(
            status=Case.Status.REVIEWED, dsi=data["dsi"], updated_at=now
        )
        audit_record(
            verb="review.case_reviewed",
            case=case,
            actor=user,
            data={
                "report": report.pk,
                "round": review_round.number,
                "dsi": data["dsi"],
                "kept": data["kept"],
                "rejected": data["rejected"],
                "added": data["added"],
            },
        )
        case_id = case.pk
        transaction.on_commit(lambda: case_notify(case_id=case_id))
    return report


REOPEN_REASON_MAX = 500


def case_reopen(*, case: Case, user: Any, reason: str) -> ReviewRound:
    """Open the next review round of a reviewed case, so its decisions can change again.

    The reason is required and goes to the audit trail; the person takes the case's
    lease. The last reviewed report stays what the customer sees until the new round is
    finished."""
    require_reviewer(user)
    reason = reason.strip()
    if not reason:
        raise ApplicationError("Say why the review is reopened (it goes to the audit trail).")
    if len(reason) > REOPEN_REASON_MAX:
        raise ApplicationError(f"Keep the reason under {REOPEN_REASON_MAX} characters.")
    with transaction.atomic():
        if not _take(case_id=case.pk, user=user, now=timezone.now()):
            raise ApplicationError(_held_message(case.pk))
        last = ReviewRound.objects.select_for_update().filter(case=case).order_by("-number").first()
        if last is None or last.finished_at is None:
            raise ApplicationError(
                "This case is open for review already (not finished); there is nothing to reopen."
            )
        return _round_next(case=case, last=last, user=user, reason=reason)


def _round_next(*, case: Case, last: ReviewRound, user: Any, reason: str) -> ReviewRound:
    """Open the round after `last` (finished, locked by the caller) and send the case back
    to the queue; `user` is the adjuster who reopens it, or the customer who contests it."""
    try:
        with transaction.atomic():
            review_round = ReviewRound.objects.create(
                case=case, number=last.number + 1, opened_by=user, reason=reason
            )
    except IntegrityError:
        raise ApplicationError("This case was reopened by another request.") from None
    Case.objects.filter(pk=case.pk).update(
        status=Case.Status.NEEDS_REVIEW, updated_at=timezone.now()
    )
    audit_record(
        verb="review.case_reopened",
        case=case,
        actor=user,
        data={"round": review_round.number, "reason": reason},
    )
    return review_round


# Model versions -------------------------------------------------------------------------


def _model_version_set(
    *, version: ModelVersion, user: Any, field: str, value: float, verb: str
) -> ModelVersion:
    """Set one number of a model version under a row lock, with its audit record."""
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
        before = getattr(locked, field)
        ModelVersion.objects.filter(pk=version.pk).update(**{field: value})
        audit_record(
            verb=verb,
            actor=user,
            data={"model_version": version.pk, "name": str(locked), "from": before, "to": value},
        )
    version.refresh_from_db()
    return version


def model_version_set_threshold(
    *, version: ModelVersion, user: Any, threshold: float
) -> ModelVersion:
    require_admin(user)
    if not 0.0 <= threshold <= 1.0:
        raise ApplicationError("The threshold is a confidence between 0 and 1.")
    return _model_version_set(
        version=version,
        user=user,
        field="threshold",
        value=threshold,
        verb="model.threshold_changed",
    )


def model_version_set_target_precision(
    *, version: ModelVersion, user: Any, target_precision: float
) -> ModelVersion:
    """The precision this version's released findings should keep; the threshold suggested
    from reviewed findings is chosen for it."""
    require_admin(user)
    if not 0.0 < target_precision < 1.0:
        raise ApplicationError(
            "The target precision is a share strictly between 0 and 1, such as 0.9."
        )
    return _model_version_set(
        version=version,
        user=user,
        field="target_precision",
        value=target_precision,
        verb="model.target_precision_changed",
    )


def model_version_promote(
    *, version: ModelVersion, user: Any, evaluation_id: int | None = None
) -> ModelVersion:
    """Make `version` the active one; the audit event records the figures it was promoted
    on: the shadow evaluation against the active version (`evaluation_id`, the one the
    admin looked at, else the latest finished one) or `"shadow": None` with a note."""
    from review.shadow import promotion_evidence  # review.shadow imports this module

    require_admin(user)
    if version.status == ModelVersion.Status.ACTIVE:
        raise ApplicationError(f"{version} is already the active model version.")
    with transaction.atomic():
        previous = list(
            ModelVersion.objects.select_for_update().filter(status=ModelVersion.Status.ACTIVE)
        )
        # Read under the lock: the figures are those against the version it replaces.
        evidence = promotion_evidence(version=version, evaluation_id=evaluation_id)
        ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).update(
            status=ModelVersion.Status.RETIRED
        )
        ModelVersion.objects.filter(pk=version.pk).update(status=ModelVersion.Status.ACTIVE)
        audit_record(
            verb="model.promoted",
            actor=user,
            data={
                "model_version": version.pk,
                "name": str(version),
                "damage_backend": version.damage_backend,
                "retired": [p.pk for p in previous],
                **evidence,
            },
        )
    version.refresh_from_db()
    return version


def model_version_retire(*, version: ModelVersion, user: Any) -> ModelVersion:
    require_admin(user)
    if version.status == ModelVersion.Status.ACTIVE:
        raise ApplicationError(f"{version} is the active model version; promote another one first.")
    if version.status == ModelVersion.Status.RETIRED:
        raise ApplicationError(f"{version} is already retired.")
    with transaction.atomic():
        ModelVersion.objects.filter(pk=version.pk).update(status=ModelVersion.Status.RETIRED)
        audit_record(
            verb="model.retired",
            actor=user,
            data={"model_version": version.pk, "name": str(version)},
        )
    version.refresh_from_db()
    return version


# Label export ---------------------------------------------------------------------------

VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def export_root() -> Path:
    return Path(getattr(settings, "REVIEW_EXPORT_ROOT", Path(settings.VAR_DIR) / "exports"))


def snapshot_export(
    *, user: Any, version: str | None = None, damage_taxonomy: str | None = None
) -> DatasetSnapshot:
    """Write the reviewed photos as a snapshot under `export_root()/<version>/`.

    `user` is None for the management command (run by an operator on the server).
    """
    if user is not None:
        require_admin(user)
    from review.selectors import reviewed_label_images

    version = version or timezone.now().strftime("reviewed-%Y%m%d-%H%M%S")
    if not VERSION_PATTERN.match(version):
        raise ApplicationError(
            "A snapshot version uses letters, digits, '.', '_' and '-' (64 characters at most)."
        )
    if DatasetSnapshot.objects.filter(version=version).exists():
        raise ApplicationError(f"Snapshot {version} exists already; choose another version.")
    taxonomy_name = damage_taxonomy or _default_damage_taxonomy()
    try:
        categories = list(load_taxonomy(taxonomy_name).classes[1:])
    except TaxonomyError as exc:
        raise ApplicationError(str(exc)) from None
    images, case_ids = reviewed_label_images(damage_taxonomy=taxonomy_name)
    summary = _snapshot_summary(images, case_ids)
    target = export_root() / version
    try:
        manifest = label_writers.write_snapshot(
            target,
            images,
            categories,
            version=version,
            provenance={
                "cases": case_ids,
                "damage_taxonomy": taxonomy_name,
                "created_at": timezone.now().isoformat(),
                "summary": summary,
            },
        )
    except label_writers.LabelExportError as exc:
        raise ApplicationError(str(exc)) from None
    snapshot = DatasetSnapshot.objects.create(
        version=version,
        path=str(target),
        images=int(manifest["images"]),  # type: ignore[call-overload]
        annotations=int(manifest["annotations"]),  # type: ignore[call-overload]
        categories=categories,
        cases=case_ids,
        summary=summary,
        created_by=user,
    )
    audit_record(
        verb="labels.exported",
        actor=user,
        data={
            "snapshot": version,
            "path": str(target),
            "images": snapshot.images,
            "annotations": snapshot.annotations,
            "cases": case_ids,
        },
    )
    for case_id in case_ids:
        audit_record(
            verb="labels.exported",
            case=Case.objects.get(pk=case_id),
            actor=user,
            data={"snapshot": version},
        )
    return snapshot


ALREADY_COMPRESSED = {".jpg", ".jpeg", ".png", ".webp", ".heic"}


def snapshot_archive(*, snapshot: DatasetSnapshot, user: Any) -> Path:
    """The snapshot as one zip (COCO with RLE, PNG label maps, YOLO labels and data.yaml,
    the images, manifest.json) under `<version>/`, built once next to the snapshot:
    snapshots never change, so the archive does not either."""
    if user is not None:
        require_admin(user)
    folder = Path(snapshot.path)
    if not (folder / "manifest.json").is_file():
        raise ApplicationError(
            f"Snapshot {snapshot.version}'s folder {folder} is gone from the server; "
            "export the labels again."
        )
    archive = export_root() / f"{snapshot.version}.zip"
    if archive.is_file():
        return archive
    partial = archive.with_name(f"{archive.name}.{os.getpid()}.partial")
    with zipfile.ZipFile(partial, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(
                    path,
                    arcname=f"{snapshot.version}/{path.relative_to(folder).as_posix()}",
                    compress_type=zipfile.ZIP_STORED
                    if path.suffix.lower() in ALREADY_COMPRESSED
                    else zipfile.ZIP_DEFLATED,
                )
    partial.replace(archive)  # concurrent builders each write their own, last one wins
    return archive


def _snapshot_summary(
    images: list[label_writers.LabelledImage], case_ids: list[int]
) -> dict[str, Any]:
    """What the snapshot list shows: labels by class and by source (accepted, edited,
    added), who finished the reviews and the first and last of them."""
    by_class: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    for image in images:
        for obj in image.objects:
            by_class[obj.category] += 1
            by_source[obj.source] += 1
    rounds = ReviewRound.objects.filter(case_id__in=case_ids, finished_at__isnull=False)
    dates = sorted(r.finished_at for r in rounds if r.finished_at is not None)
    return {
        "by_class": dict(sorted(by_class.items())),
        "by_source": dict(sorted(by_source.items())),
        "reviewers": sorted(
            {r.finished_by.username for r in rounds.select_related("finished_by") if r.finished_by}
        ),
        "reviewed_from": dates[0].isoformat() if dates else None,
        "reviewed_to": dates[-1].isoformat() if dates else None,
    }


def _default_damage_taxonomy() -> str:
    active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    return active.damage_taxonomy if active else "damage_categorical"


# Contests -------------------------------------------------------------------------------

CONTEST_REASON_MAX = 500
CONTEST_ANSWER_MAX = 2000


def _contest_round(*, case: Case, user: Any, reason: str) -> ReviewRound:
    """The open round a contest is answered in: the open one, else round 1 (a released
    case enters the queue), else the round after the finished one (a reviewed case is
    reopened, as an adjuster's `case_reopen` does)."""
    last = ReviewRound.objects.select_for_update().filter(case=case).order_by("-number").first()
    if last is not None and last.finished_at is None:
        return last
    if last is not None:
        return _round_next(case=case, last=last, user=user, reason=reason)
    try:
        with transaction.atomic():
            review_round = ReviewRound.objects.create(
                case=case, number=1, opened_by=user, reason=reason
            )
    except IntegrityError:
        raise ApplicationError(
            "This claim is being changed by another request; try again."
        ) from None
    Case.objects.filter(pk=case.pk).update(
        status=Case.Status.NEEDS_REVIEW, updated_at=timezone.now()
    )
    return review_round


def contest_create(
    *,
    case: Case,
    user: Any,
    reason: str,
    finding: Finding | None = None,
    upload: Upload | None = None,
) -> Contest:
    """The customer contests a finding of their report (or, with no finding, says damage
    was missed), with a short reason and perhaps a photo. The case goes back to the review
    queue, marked contested; a reviewed case is reopened. At most
    `CLAIMS_CONTESTS_PER_CASE` contests a case, and one open contest per finding. An added
    photo goes through `photo_add`, so it is processed like any other."""
    if is_staff_role(user):
        raise ApplicationError(
            "Adjusters and admins cannot contest a report; answer the customer's contests "
            "on the review screen instead."
        )
    if case.customer_id != user.pk:
        raise ApplicationError("Only the customer who filed this claim can contest its report.")
    reason = reason.strip()
    if not reason:
        raise ApplicationError("Say in a few words what is wrong, so the adjuster can check it.")
    if len(reason) > CONTEST_REASON_MAX:
        raise ApplicationError(
            f"Keep the reason under {CONTEST_REASON_MAX} characters; you may add a photo "
            "to show the rest."
        )
    if finding is not None and finding.case_id != case.pk:
        raise ApplicationError("This finding is not part of this claim.")
    limit = settings.CLAIMS_CONTESTS_PER_CASE
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        if case.status in (Case.Status.PROCESSING, Case.Status.FAILED):
            raise ApplicationError(
                "Your photos are still being processed; you can contest the report once "
                "it is ready."
            )
        used = Contest.objects.filter(case=case).count()
        if used >= limit:
            raise ApplicationError(
                f"This claim has been contested {used} time{'s' if used != 1 else ''}, the "
                "most allowed; contact your adjuster if something is still wrong."
            )
        if (
            finding is not None
            and Contest.objects.filter(finding=finding, answered_at__isnull=True).exists()
        ):
            raise ApplicationError(
                "You have contested this row already; an adjuster will answer that first."
            )
        review_round = _contest_round(
            case=case, user=user, reason=f"contested by the customer: {reason}"
        )
        photo = None
        if upload is not None:
            case.refresh_from_db(fields=["status"])  # no longer "reviewed" once reopened
            photo = photo_add(case=case, user=user, upload=upload)
        try:
            with transaction.atomic():
                contest = Contest.objects.create(
                    case=case, finding=finding, photo=photo, reason=reason, created_by=user
                )
        except IntegrityError:
            raise ApplicationError(
                "You have contested this row already; an adjuster will answer that first."
            ) from None
        audit_record(
            verb="case.contested",
            case=case,
            actor=user,
            data={
                "contest": contest.pk,
                "finding": finding.pk if finding else None,
                "photo": photo.pk if photo else None,
                "round": review_round.number,
                "reason": reason,
            },
        )
        case_id = case.pk
        transaction.on_commit(lambda: case_notify(case_id=case_id))
    return contest


def contest_answer(*, contest: Contest, user: Any, answer: str) -> Contest:
    """The adjuster's answer to a contest, which the customer reads on their claim page;
    the contest is then answered (the review can be finished)."""
    require_reviewer(user)
    answer = answer.strip()
    if not answer:
        raise ApplicationError(
            "Write an answer for the customer (they read it on their claim page)."
        )
    if len(answer) > CONTEST_ANSWER_MAX:
        raise ApplicationError(f"Keep the answer under {CONTEST_ANSWER_MAX} characters.")
    with transaction.atomic():
        _lock_for_decision(case=contest.case, user=user)
        now = timezone.now()
        answered = Contest.objects.filter(pk=contest.pk, answered_at__isnull=True).update(
            answer=answer, answered_by=user, answered_at=now
        )
        if answered != 1:
            raise ApplicationError("This contest was answered meanwhile; reload the case.")
        audit_record(
            verb="review.contest_answered",
            case=contest.case,
            actor=user,
            data={"contest": contest.pk, "finding": contest.finding_id, "answer": answer},
        )
    contest.refresh_from_db()
    return contest

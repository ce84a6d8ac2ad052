"""Decisions on findings: accept, reject, redraw, add (and redraw or remove what was added),
confirm a set-aside photo; each a `ReviewDecision` in the case's open review round (a stale
view is refused)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from claims.audit import audit_record
from claims.models import Case, Photo
from common.access import require_reviewer
from common.errors import ApplicationError
from damage_vision.taxonomy import load_taxonomy
from inference.models import Finding, ModelVersion
from review import rle as rle_codec
from review import selectors
from review.models import (
    MaskEdit,
    ReviewDecision,
    ReviewRound,
)
from review.rle import Rle, RleError
from review.services.leases import lease_held_message, lease_take

MAX_RLE_CHARS = 4_000_000  # a 12-megapixel mask of noise stays far below this


def round_create(*, case: Case, number: int, user: User, reason: str = "") -> ReviewRound | None:
    """Open review round `number` of the case; None when another request opened it at the
    same moment (the unique round number refused this one)."""
    try:
        with transaction.atomic():
            review_round = ReviewRound.objects.create(
                case=case, number=number, opened_by=user, reason=reason
            )
            # what claims reads to know that an adjuster is at work (claims.lifecycle)
            Case.objects.filter(pk=case.pk).update(review_round_open=True)
            return review_round
    except IntegrityError:
        return None


def _open_round(*, case: Case, user: User) -> ReviewRound:
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
        round_create(case=case, number=1, user=user)  # or another request did: take that one
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


def lock_for_decision(*, case: Case, user: User) -> ReviewRound:
    require_reviewer(user)
    if case.status == Case.Status.PROCESSING:
        raise ApplicationError("This case is still being processed; it cannot be reviewed yet.")
    if not lease_take(case_id=case.pk, user=user, now=timezone.now()):
        raise ApplicationError(lease_held_message(case.pk))
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


def _check_labels(*, version: ModelVersion, damage_type: str, part: str) -> None:
    damages = selectors.taxonomy_classes(version.damage_taxonomy)
    # Damage on a part the taxonomy does not label (a fender for parts_reduced_dsmlr) is
    # on "other_panel", and may be kept there; class 0 (`background`) stays allowed for
    # findings of versions that still named it so.
    parts = [
        *selectors.taxonomy_classes(version.part_taxonomy, keep_first=True),
        load_taxonomy(version.part_taxonomy).background,
    ]
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
    user: User,
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


def _audit_decision(decision: ReviewDecision, user: User) -> None:
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
            **({"replaces": decision.replaces_id} if decision.replaces_id else {}),
        },
    )


def finding_decide(
    *, finding: Finding, user: User, action: str, supersedes: int | None = None
) -> ReviewDecision:
    """Accept or reject a model finding; a new decision row, the finding is untouched.

    `supersedes` is the id of the decision the person saw on this finding (None when it
    was undecided): a decision taken on a stale view is refused instead of overwriting
    what someone else (or another tab) decided meanwhile."""
    if action not in (ReviewDecision.Action.ACCEPT, ReviewDecision.Action.REJECT):
        raise ApplicationError("The decision must be 'accept' or 'reject'.")
    case = finding.case
    with transaction.atomic():
        review_round = lock_for_decision(case=case, user=user)
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
    user: User,
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
    user: User,
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


def _added_in_force(*, decision: ReviewDecision) -> None:
    """Retire `decision`, an added damage in force, for the one replacing it; refused when
    it is not one, or no longer in force (changed meanwhile)."""
    if decision.action != ReviewDecision.Action.ADD or decision.finding_id is not None:
        raise ApplicationError("Only a damage an adjuster added is changed or removed this way.")
    if not ReviewDecision.objects.filter(pk=decision.pk, current=True).update(current=False):
        raise ApplicationError(
            "This added damage was changed or removed meanwhile; reload the case."
        )


def added_edit(
    *,
    decision: ReviewDecision,
    user: User,
    mask: Any,
    damage_type: str,
    part: str,
    shape: str = MaskEdit.Shape.MASK,
) -> ReviewDecision:
    """Redraw, re-type or move to another part a damage an adjuster added (`decision`, the
    added damage as it stands): a new "add" decision with its mask edit, replacing it."""
    case = decision.case
    version = case.model_version
    if version is None:
        raise ApplicationError("This case has no model version; it cannot be reviewed.")
    with transaction.atomic():
        review_round = lock_for_decision(case=case, user=user)
        _check_labels(version=version, damage_type=damage_type, part=part)
        _added_in_force(decision=decision)
        edit = _mask_edit(
            photo=decision.photo,
            finding=None,
            user=user,
            mask=mask,
            damage_type=damage_type,
            part=part,
            shape=shape,
        )
        new = _record(
            case=case,
            photo=decision.photo,
            mask_edit=edit,
            action=ReviewDecision.Action.ADD,
            damage_type=damage_type,
            part=part,
            reviewer=user,
            round=review_round.number,
            replaces=decision,
        )
        _audit_decision(new, user)
    return new


def added_remove(*, decision: ReviewDecision, user: User) -> ReviewDecision:
    """Take a damage an adjuster added off the report again: a "remove" decision replacing
    it (what it was stays in the chain and the audit trail)."""
    case = decision.case
    with transaction.atomic():
        review_round = lock_for_decision(case=case, user=user)
        _added_in_force(decision=decision)
        new = _record(
            case=case,
            photo=decision.photo,
            action=ReviewDecision.Action.REMOVE,
            damage_type=decision.damage_type,
            part=decision.part,
            reviewer=user,
            round=review_round.number,
            replaces=decision,
        )
        _audit_decision(new, user)
    return new


def _drawn_decision(
    *,
    photo: Photo,
    finding: Finding | None,
    version: ModelVersion,
    user: User,
    mask: Any,
    damage_type: str,
    part: str,
    shape: str,
    supersedes: int | None,
) -> ReviewDecision:
    """A mask a person drew: an edit of `finding`, or a missed damage when it is None."""
    case = photo.case
    with transaction.atomic():
        review_round = lock_for_decision(case=case, user=user)
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


def photo_confirm_set_aside(*, photo: Photo, user: User) -> ReviewDecision:
    """Confirm that a set-aside photo is unusable (it leaves the queue)."""
    if photo.status != Photo.Status.SET_ASIDE:
        raise ApplicationError("Only set-aside photos are confirmed.")
    case = photo.case
    with transaction.atomic():
        review_round = lock_for_decision(case=case, user=user)
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

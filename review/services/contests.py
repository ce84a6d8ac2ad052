"""Contests: a customer objects to a finding of their report (or says damage was missed);
an adjuster answers before the review can be finished again."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from claims.audit import audit_record
from claims.live import case_notify
from claims.models import Case
from claims.services import Upload, photo_add
from common.access import is_staff_role, require_reviewer
from common.errors import ApplicationError
from inference.models import Finding
from review.models import (
    Contest,
    ReviewRound,
)
from review.services.decisions import lock_for_decision, round_create
from review.services.reports import round_next

CONTEST_REASON_MAX = 500
CONTEST_ANSWER_MAX = 2000


def _contest_round(*, case: Case, user: User, reason: str) -> ReviewRound:
    """The open round a contest is answered in: the open one, else round 1 (a released
    case enters the queue), else the round after the finished one (a reviewed case is
    reopened, as an adjuster's `case_reopen` does)."""
    last = ReviewRound.objects.select_for_update().filter(case=case).order_by("-number").first()
    if last is not None and last.finished_at is None:
        return last
    if last is not None:
        return round_next(case=case, last=last, user=user, reason=reason)
    review_round = round_create(case=case, number=1, user=user, reason=reason)
    if review_round is None:
        raise ApplicationError("This claim is being changed by another request; try again.")
    Case.objects.filter(pk=case.pk).update(
        status=Case.Status.NEEDS_REVIEW, updated_at=timezone.now()
    )
    return review_round


def contest_create(
    *,
    case: Case,
    user: User,
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
        if case.status == Case.Status.PROCESSING:
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


def contest_answer(*, contest: Contest, user: User, answer: str) -> Contest:
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
        lock_for_decision(case=contest.case, user=user)
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

"""The outcome of a review round: the reviewed report, finishing a round, reopening a case."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from claims.audit import audit_record
from claims.live import case_notify
from claims.models import Case
from common.access import require_reviewer
from common.errors import ApplicationError
from review import selectors
from review.models import (
    Contest,
    ReviewedReport,
    ReviewRound,
)
from review.outcome import ReviewOutcome
from review.services.decisions import lock_for_decision, round_create
from review.services.leases import lease_held_message, lease_release, lease_take


def _pending_count(case: Case) -> int:

    return sum(1 for item in selectors.case_review_items(case=case) if item.state == "pending")


def report_compute(*, case: Case) -> ReviewOutcome:
    """The reviewed report the decisions in force give now (pure read, no write): what it
    keeps and its figures, as `review.selectors.reviewed_outcome` derives them."""
    return selectors.reviewed_outcome(case=case)


def case_finish_review(*, case: Case, user: User) -> ReviewedReport:
    """Finish the open review round: the reviewed report is written, the case becomes
    "reviewed" and read-only, and the customer is told; exactly once however many
    requests ask for it at the same time."""
    with transaction.atomic():
        review_round = lock_for_decision(case=case, user=user)
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
        outcome = report_compute(case=case)
        report = ReviewedReport.objects.create(
            case=case,
            round=review_round.number,
            outcome=outcome.to_json(),
            damaged_parts=[row.to_json() for row in outcome.damaged_parts],
            dsi=outcome.dsi,
            kept=outcome.kept_findings,
            rejected=outcome.rejected,
            added=outcome.added,
            reviewed_by=user,
            created_at=now,
        )
        # The model's DSI stays on the findings; the case carries the reviewed figure.
        Case.objects.filter(pk=case.pk).update(
            status=Case.Status.REVIEWED, dsi=outcome.dsi, updated_at=now, review_round_open=False
        )
        lease_release(case=case, user=user)  # finished: the case is no longer held
        audit_record(
            verb="review.case_reviewed",
            case=case,
            actor=user,
            data={
                "report": report.pk,
                "round": review_round.number,
                "dsi": outcome.dsi,
                "kept": outcome.kept_findings,
                "rejected": outcome.rejected,
                "added": outcome.added,
            },
        )
        case_id = case.pk
        transaction.on_commit(lambda: case_notify(case_id=case_id))
    return report


REOPEN_REASON_MAX = 500


def case_reopen(*, case: Case, user: User, reason: str) -> ReviewRound:
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
        if not lease_take(case_id=case.pk, user=user, now=timezone.now()):
            raise ApplicationError(lease_held_message(case.pk))
        last = ReviewRound.objects.select_for_update().filter(case=case).order_by("-number").first()
        if last is None or last.finished_at is None:
            raise ApplicationError(
                "This case is open for review already (not finished); there is nothing to reopen."
            )
        return round_next(case=case, last=last, user=user, reason=reason)


def round_next(*, case: Case, last: ReviewRound, user: User, reason: str) -> ReviewRound:
    """Open the round after `last` (finished, locked by the caller) and send the case back
    to the queue; `user` is the adjuster who reopens it, or the customer who contests it."""
    review_round = round_create(case=case, number=last.number + 1, user=user, reason=reason)
    if review_round is None:
        raise ApplicationError("This case was reopened by another request.")
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

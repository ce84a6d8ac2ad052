"""Writes of the review app, by concern: leases, decisions (and mask edits), reports
(finishing and reopening a round), contests. Keyword-only; every refusal is an
ApplicationError. Callers use `review.services.<name>`."""

from review.services.contests import (
    CONTEST_ANSWER_MAX,
    CONTEST_REASON_MAX,
    contest_answer,
    contest_create,
)
from review.services.decisions import (
    MAX_RLE_CHARS,
    added_edit,
    added_remove,
    damage_add,
    finding_decide,
    finding_edit,
    lock_for_decision,
    photo_confirm_set_aside,
    round_create,
)
from review.services.leases import (
    LOCKED_RETRIES,
    lease_claim,
    lease_claim_next,
    lease_held_message,
    lease_release,
    lease_renew,
    lease_take,
)
from review.services.reports import (
    REOPEN_REASON_MAX,
    case_finish_review,
    case_reopen,
    report_compute,
    round_next,
)

__all__ = [
    "CONTEST_ANSWER_MAX",
    "CONTEST_REASON_MAX",
    "LOCKED_RETRIES",
    "MAX_RLE_CHARS",
    "REOPEN_REASON_MAX",
    "added_edit",
    "added_remove",
    "case_finish_review",
    "case_reopen",
    "contest_answer",
    "contest_create",
    "damage_add",
    "finding_decide",
    "finding_edit",
    "lease_claim",
    "lease_claim_next",
    "lease_held_message",
    "lease_release",
    "lease_renew",
    "lease_take",
    "lock_for_decision",
    "photo_confirm_set_aside",
    "report_compute",
    "round_create",
    "round_next",
]

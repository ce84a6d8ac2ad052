"""What becomes of a case once its photos are processed: the claims rule for its status,
its score, the audit record, the customer's webhook and the live push.

Inference calls `case_settle` with what the synthesis found (inside its transaction, the
case row locked); the rule itself lives here, with the case. A leaf module: it imports
claims' own leaves only, so inference may use it without a cycle through
`claims.services` (which starts inference runs).
"""

from __future__ import annotations

from django.utils import timezone

from claims.audit import audit_record
from claims.models import Case, Photo
from claims.outbox import webhook_deliveries_enqueue, webhook_delivery_create


def case_status_after_processing(
    *, case: Case, photos: list[Photo], usable: bool, to_review: bool
) -> Case.Status:
    """`usable`: at least one photo was processed and not set aside; `to_review`: a finding
    is below its version's threshold. Without a usable photo the customer is asked for
    more; with something to check, or a photo not done, or a review round open (review
    keeps `Case.review_round_open`), an adjuster looks first; else the report is released."""
    if not usable:
        return Case.Status.NEEDS_PHOTOS
    if to_review or any(p.status != Photo.Status.DONE for p in photos) or case.review_round_open:
        return Case.Status.NEEDS_REVIEW
    return Case.Status.RELEASED


def case_settle(*, case: Case, status: Case.Status, dsi: float) -> None:
    """Record the outcome of processing on the (locked) case. A reviewed case keeps its
    reviewed status and score; the first outcome is audited and sent to the customer's
    webhook (through the outbox, in the caller's transaction)."""
    if case.status == Case.Status.REVIEWED:
        return
    first = case.finished_at is None
    case.status = status
    case.dsi = dsi
    case.finished_at = timezone.now()
    case.save(update_fields=["status", "dsi", "finished_at", "updated_at"])
    if first:
        audit_record(
            verb="case.processed", case=case, data={"status": status, "dsi": round(dsi, 2)}
        )
        delivery = webhook_delivery_create(case=case)
        if delivery is not None:
            webhook_deliveries_enqueue(delivery_ids=[delivery.pk])

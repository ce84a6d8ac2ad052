"""Reads of the review app, by concern: the queue (`queue`) and one case on the review
screen (`screen`). Callers use `review.selectors.<name>`."""

from review.selectors.queue import (
    AGE_FILTERS,
    QueueFilters,
    QueueResult,
    lease_of,
    queue_cases,
    queue_filter_choices,
)
from review.selectors.screen import (
    DecisionsInForce,
    ReviewItem,
    case_contests,
    case_latest_report,
    case_open_round,
    case_review_items,
    decisions_in_force,
    report_outcome,
    reviewed_outcome,
    round_report,
    taxonomy_classes,
)

__all__ = [
    "AGE_FILTERS",
    "DecisionsInForce",
    "QueueFilters",
    "QueueResult",
    "ReviewItem",
    "case_contests",
    "case_latest_report",
    "case_open_round",
    "case_review_items",
    "decisions_in_force",
    "lease_of",
    "queue_cases",
    "queue_filter_choices",
    "report_outcome",
    "reviewed_outcome",
    "round_report",
    "taxonomy_classes",
]

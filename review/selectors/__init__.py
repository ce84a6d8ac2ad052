"""Reads of the review app, by concern: the queue (`queue`), one case on the review screen
(`screen`), model versions and reviewed labels (`model_versions`). Callers use
`review.selectors.<name>`."""

from review.selectors.model_versions import (
    HEADLINE_METRICS,
    MAX_LIST_SHOWN,
    damage_mapping,
    finding_figures,
    headline_metrics,
    metric_rows,
    model_version_active,
    model_version_audit,
    model_version_counts,
    model_version_outcomes,
    reviewed_label_images,
)
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
    KeptRegion,
    ReviewedRegions,
    ReviewItem,
    case_contests,
    case_latest_report,
    case_open_round,
    case_review_items,
    decisions_in_force,
    reviewed_regions,
    taxonomy_classes,
)

__all__ = [
    "AGE_FILTERS",
    "HEADLINE_METRICS",
    "MAX_LIST_SHOWN",
    "DecisionsInForce",
    "KeptRegion",
    "QueueFilters",
    "QueueResult",
    "ReviewItem",
    "ReviewedRegions",
    "case_contests",
    "case_latest_report",
    "case_open_round",
    "case_review_items",
    "damage_mapping",
    "decisions_in_force",
    "finding_figures",
    "headline_metrics",
    "lease_of",
    "metric_rows",
    "model_version_active",
    "model_version_audit",
    "model_version_counts",
    "model_version_outcomes",
    "queue_cases",
    "queue_filter_choices",
    "reviewed_label_images",
    "reviewed_regions",
    "taxonomy_classes",
]

"""Reads of the model lifecycle, by concern: training runs (`training`), model versions as
the admin pages show them and the labels of reviewed photos (`model_versions`). Callers use
`learning.selectors.<name>`."""

from learning.selectors.model_versions import (
    HEADLINE_METRICS,
    MAX_LIST_SHOWN,
    background_classes,
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
from learning.selectors.training import LOG_TAIL_LINES, log_tail, progress_document, training_runs

__all__ = [
    "HEADLINE_METRICS",
    "LOG_TAIL_LINES",
    "MAX_LIST_SHOWN",
    "background_classes",
    "damage_mapping",
    "finding_figures",
    "headline_metrics",
    "log_tail",
    "metric_rows",
    "model_version_active",
    "model_version_audit",
    "model_version_counts",
    "model_version_outcomes",
    "progress_document",
    "reviewed_label_images",
    "training_runs",
]

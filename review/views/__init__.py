"""HTML and htmx views of the review app; each calls one service or selector and renders.

One module per concern: the queue (`queue_page`), one case's review screen and its lease
(`case_screen`), the screen's writes (`case_writes`), the model-version pages (`versions`)
and label exports (`exports`); `common` holds what they share. The model comparison and
shadow evaluations live in `review.compare_views`.
"""

from review.views.case_screen import case_claim, case_heartbeat, case_release, case_review
from review.views.case_writes import (
    added_edit,
    added_remove,
    case_finish,
    case_reopen,
    contest_answer,
    finding_decide,
    finding_edit,
    photo_add_damage,
    photo_confirm,
)
from review.views.common import ADMIN_ONLY, REVIEWER_ONLY
from review.views.exports import snapshot_create, snapshot_download
from review.views.queue_page import QUEUE_PAGE_SIZE, queue, queue_next
from review.views.versions import (
    model_version_detail,
    model_version_status,
    model_version_target_precision,
    model_version_threshold,
    model_versions,
)

__all__ = [
    "ADMIN_ONLY",
    "QUEUE_PAGE_SIZE",
    "REVIEWER_ONLY",
    "added_edit",
    "added_remove",
    "case_claim",
    "case_finish",
    "case_heartbeat",
    "case_release",
    "case_reopen",
    "case_review",
    "contest_answer",
    "finding_decide",
    "finding_edit",
    "model_version_detail",
    "model_version_status",
    "model_version_target_precision",
    "model_version_threshold",
    "model_versions",
    "photo_add_damage",
    "photo_confirm",
    "queue",
    "queue_next",
    "snapshot_create",
    "snapshot_download",
]

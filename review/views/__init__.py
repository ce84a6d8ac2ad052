"""HTML and htmx views of the review app; each calls one service or selector and renders.

One module per concern: the queue (`queue_page`), one case's review screen and its lease
(`case_screen`) and the screen's writes (`case_writes`); `common` holds what they share.
The model-version pages and label exports are the learning app's (`learning.views`).
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
from review.views.common import REVIEWER_ONLY
from review.views.queue_page import QUEUE_PAGE_SIZE, queue, queue_next

__all__ = [
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
    "photo_add_damage",
    "photo_confirm",
    "queue",
    "queue_next",
]

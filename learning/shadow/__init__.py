"""Shadow evaluation: a candidate version and the active one run on the same last N
reviewed cases, scored against what the adjusters decided (issue 11, point 3). By concern:
`matching` (a version's findings against the adjusters' regions, pure), `metrics` (figures
and bootstrap intervals, pure), `create` (asking for an evaluation), `runs` (running it on
the worker and storing its findings) and `reading` (finished evaluations, promotion evidence).
Callers use `learning.shadow.<name>`.

Truth is what a person kept: accepted and edited findings (the edited mask), added
regions, and findings above the threshold nobody overruled (as the label export counts
them, `selectors.reviewed_label_images`); rejected findings are known false. A shadow
finding is correct when it overlaps a kept region of the same damage class with IoU at
least `MATCH_IOU` (mask IoU; box IoU for a detector box against the region's bounding
box), each kept region matched once, highest C_refined first.

Shadow findings are `ShadowFinding` rows, never `inference.Finding`: no customer page,
report, queue or webhook reads them.
"""

from learning.shadow.create import (
    SHADOW_MAX_CASES,
    SHADOW_TASK,
    SHADOW_TIME_LIMIT_S,
    reviewed_cases_latest,
    shadow_evaluation_create,
    shadow_evaluations_fail_stale,
    training_cases,
)
from learning.shadow.matching import (
    MATCH_IOU,
    BoolMask,
    Match,
    Predicted,
    TruthRegion,
    box_iou,
    mask_iou,
    match_findings,
)
from learning.shadow.metrics import (
    BOOTSTRAP_CONFIDENCE,
    BOOTSTRAP_MIN_CASES,
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    DISAGREEMENTS_SHOWN,
    PhotoScore,
    bootstrap_difference,
    disagreements,
    version_figures,
)
from learning.shadow.reading import (
    HEADLINE_SHADOW,
    evaluation_for_pair,
    evaluations_of,
    promotion_evidence,
    shadow_headline,
    shadow_regions,
)
from learning.shadow.runs import (
    shadow_evaluation_claim,
    shadow_evaluation_fail,
    shadow_evaluation_run,
)

__all__ = [
    "BOOTSTRAP_CONFIDENCE",
    "BOOTSTRAP_MIN_CASES",
    "BOOTSTRAP_RESAMPLES",
    "BOOTSTRAP_SEED",
    "DISAGREEMENTS_SHOWN",
    "HEADLINE_SHADOW",
    "MATCH_IOU",
    "SHADOW_MAX_CASES",
    "SHADOW_TASK",
    "SHADOW_TIME_LIMIT_S",
    "BoolMask",
    "Match",
    "PhotoScore",
    "Predicted",
    "TruthRegion",
    "bootstrap_difference",
    "box_iou",
    "disagreements",
    "evaluation_for_pair",
    "evaluations_of",
    "mask_iou",
    "match_findings",
    "promotion_evidence",
    "reviewed_cases_latest",
    "shadow_evaluation_claim",
    "shadow_evaluation_create",
    "shadow_evaluation_fail",
    "shadow_evaluation_run",
    "shadow_evaluations_fail_stale",
    "shadow_headline",
    "shadow_regions",
    "training_cases",
    "version_figures",
]

"""Reading finished shadow evaluations: the headline figures a promotion is recorded with,
the latest evaluation of a pair of versions, a version's recent evaluations,
`promotion_evidence` (what `model_version_promote` stores in its audit record) and a
version's shadow findings of one photo as regions to draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Q

from claims.models import Photo
from common.errors import ApplicationError
from inference.models import ModelVersion
from inference.services.rendering import Region
from learning import selectors
from learning.models import ShadowEvaluation, ShadowFinding
from review import rle as rle_codec
from review.rle import Rle

HEADLINE_SHADOW: tuple[tuple[str, str], ...] = (
    ("precision", "precision"),
    ("recall", "recall"),
    ("coverage at the target precision", "coverage_at_target_precision"),
    ("findings per photo", "findings_per_photo"),
    ("mean |case DSI - reviewed DSI|", "dsi_mean_abs_difference"),
)


def shadow_headline(figures: Mapping[str, Any]) -> dict[str, Any]:
    """The figures a promotion is recorded with."""
    return {key: figures.get(key) for _, key in HEADLINE_SHADOW} | {
        "findings": figures.get("findings"),
        "cases": figures.get("cases"),
    }


def evaluation_for_pair(*, a: ModelVersion, b: ModelVersion) -> ShadowEvaluation | None:
    """The latest finished evaluation that ran these two versions side by side."""
    return (
        ShadowEvaluation.objects.filter(status=ShadowEvaluation.Status.DONE)
        .filter(Q(candidate=a, baseline=b) | Q(candidate=b, baseline=a))
        .order_by("-finished_at", "-pk")
        .first()
    )


def evaluations_of(*, version: ModelVersion, limit: int = 5) -> list[ShadowEvaluation]:
    return list(
        ShadowEvaluation.objects.filter(candidate=version)
        .select_related("baseline", "created_by")
        .order_by("-created_at", "-pk")[:limit]
    )


def promotion_evidence(*, version: ModelVersion, evaluation_id: int | None) -> dict[str, Any]:
    """What a promotion of `version` is recorded with: the shadow evaluation against the
    version active now (the one named, else the latest finished one) and both versions'
    headline figures; `"shadow": None` with a note when there is none."""
    active = selectors.model_version_active(excluding=version)
    qs = ShadowEvaluation.objects.filter(candidate=version, status=ShadowEvaluation.Status.DONE)
    if active is not None:
        qs = qs.filter(baseline=active)
    if evaluation_id is not None:
        qs = qs.filter(pk=evaluation_id)
    evaluation = qs.order_by("-finished_at", "-pk").first()
    if evaluation is None and evaluation_id is not None:
        raise ApplicationError(
            f"Shadow evaluation {evaluation_id} is not a finished evaluation of {version} "
            "against the active version (another version may have been promoted meanwhile); "
            "reload the comparison and confirm again."
        )
    validation = {
        "candidate": dict(selectors.headline_metrics(version.metrics)),
        "active": dict(selectors.headline_metrics(active.metrics)) if active else None,
    }
    if evaluation is None:
        note = (
            "promoted without a finished shadow evaluation against the active version"
            if active is not None
            else "promoted while no version was active: nothing to compare with"
        )
        return {"shadow": None, "shadow_note": note, "validation": validation}
    figures = evaluation.figures
    boot = figures.get("bootstrap", {})
    return {
        "shadow": {
            "evaluation": evaluation.pk,
            "baseline": evaluation.baseline_id,
            "cases": len(evaluation.case_ids),
            "excluded_cases": len(evaluation.excluded_case_ids),
            "candidate": shadow_headline(figures.get("candidate", {})),
            "baseline_figures": shadow_headline(figures.get("baseline", {})),
            "precision_interval": boot.get("precision"),
            "recall_interval": boot.get("recall"),
            "interval_note": boot.get("note", ""),
        },
        "validation": validation,
    }


def shadow_regions(
    *, evaluation: ShadowEvaluation, version: ModelVersion, photo: Photo
) -> list[Region]:
    """A version's shadow findings of one photo, to draw (`inference.services.rendering.render`)."""
    regions = []
    for row in ShadowFinding.objects.filter(
        evaluation=evaluation, model_version=version, photo=photo
    ).order_by("index"):
        mask = rle_codec.decode(Rle.from_coco(row.mask_rle))
        regions.append(
            Region(
                number=row.index + 1,
                damage=row.damage,
                mask=mask,
                box=(int(row.box[0]), int(row.box[1]), int(row.box[2]), int(row.box[3])),
                grid=(int(row.mask_size[0]), int(row.mask_size[1])),
                shape=row.shape,
                area_px=int(mask.sum()),
            )
        )
    return regions

"""Model versions as the admin pages show them (outcomes, counts, audit, metric tables) and
the labels of reviewed photos for export and evaluation."""

from __future__ import annotations

import functools
from pathlib import Path

from django.db.models import (
    QuerySet,
)

from claims.models import AuditEvent, Case, Photo
from damage_vision.taxonomy import Taxonomy, TaxonomyError, load_taxonomy
from inference.models import Finding, ModelVersion
from learning.labels import LabelledImage, LabelledObject
from review import rle as rle_codec
from review import selectors as review_selectors
from review.models import ReviewDecision


def model_version_outcomes(*, version: ModelVersion) -> list[tuple[float, bool]]:
    """(C_refined, kept by a person) of every finding of `version` a person decided."""
    return [
        (float(c_refined or 0.0), action != ReviewDecision.Action.REJECT)
        for c_refined, action in ReviewDecision.objects.filter(
            finding__model_version=version, current=True
        ).values_list("c_refined", "action")
    ]


def model_version_active(*, excluding: ModelVersion | None = None) -> ModelVersion | None:
    """The active version (None when there is none, or it is `excluding`): the model pages
    compare a version with it before it is promoted."""
    qs = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE)
    if excluding is not None:
        qs = qs.exclude(pk=excluding.pk)
    return qs.first()


def model_version_counts(*, version: ModelVersion) -> dict[str, int]:
    findings = Finding.objects.filter(model_version=version)
    return {
        "findings": findings.count(),
        "below_threshold": findings.filter(c_refined__lt=version.threshold).count(),
        "cases": findings.values("case").distinct().count(),
    }


def background_classes(*versions: ModelVersion) -> frozenset[str]:
    """Class 0 of the versions' part and damage taxonomies ("background", "no_damage"): the
    per-class IoU plots leave it out. "background" also when a taxonomy cannot be loaded."""
    names = {"background"}
    for version in versions:
        for taxonomy in (version.part_taxonomy, version.damage_taxonomy):
            try:
                names.add(load_taxonomy(taxonomy).classes[0])
            except TaxonomyError:
                continue
    return frozenset(names)


# Labels ---------------------------------------------------------------------------------


def damage_mapping(*, target: Taxonomy, source: str) -> dict[str, str]:
    """Damage class names of taxonomy `source` in `target`'s names (its merge map); each
    of `target`'s own classes to itself when there is no map between the two."""
    try:
        return dict(target.merge_map(source))
    except TaxonomyError:
        return {c: c for c in target.classes}


# The word snapshots have always used for a finding kept without a decision (the review
# screen's "auto"); the reviewed report calls its source "model".
UNDECIDED_SOURCE = "auto"


def reviewed_label_images(*, damage_taxonomy: str) -> tuple[list[LabelledImage], list[int]]:
    """Every usable photo of a reviewed case with what a person kept, at full size: the
    kept damages of the case's latest reviewed report, as stored when it was finished.

    Damage names of another taxonomy are mapped through the target's merge map; a name
    that does not map is left out (the snapshot's categories are the target's classes).
    A case whose report was stored without what it keeps (an older report its decisions
    no longer gave, review 0009) is left out: nothing says what was kept on it.
    """
    target = load_taxonomy(damage_taxonomy)
    cases = list(
        Case.objects.filter(status=Case.Status.REVIEWED)
        .select_related("model_version")
        .order_by("pk")
    )
    images: list[LabelledImage] = []
    exported: list[int] = []
    for case in cases:
        version = case.model_version
        if version is None:
            continue
        report = review_selectors.case_latest_report(case=case)
        outcome = review_selectors.report_outcome(report=report) if report is not None else None
        if outcome is None:
            continue
        exported.append(case.pk)
        mapping = damage_mapping(target=target, source=version.damage_taxonomy)
        photos = list(case.photos.filter(status=Photo.Status.DONE).order_by("position"))
        sizes = {photo.pk: (photo.height, photo.width) for photo in photos}
        by_photo: dict[int, list[LabelledObject]] = {}
        for kept in outcome.kept:
            category = mapping.get(
                kept.damage, kept.damage if kept.damage in target.classes else ""
            )
            if not category or category == target.background or kept.photo_id not in sizes:
                continue
            height, width = sizes[kept.photo_id]
            mask = kept.mask
            if (mask.height, mask.width) != (height, width):  # the model's grid
                full = rle_codec.resize_nearest(rle_codec.decode(mask), height, width)
                mask = rle_codec.encode(full)
            by_photo.setdefault(kept.photo_id, []).append(
                LabelledObject(
                    category=category,
                    rle=mask,
                    part=kept.part,
                    source=UNDECIDED_SOURCE if kept.source == "model" else kept.source,
                    shape=kept.shape,
                )
            )
        for photo in photos:
            images.append(
                LabelledImage(
                    file_name=f"case-{case.reference}-photo-{photo.position + 1}-{photo.pk}.jpg",
                    # Read through the storage (a bucket, when configured), not a path.
                    source_path=Path(str(photo.original.name)),
                    source_open=functools.partial(
                        photo.original.storage.open, str(photo.original.name), "rb"
                    ),
                    width=photo.width,
                    height=photo.height,
                    objects=tuple(by_photo.get(photo.pk, [])),
                )
            )
    return images, exported


def model_version_audit(*, version: ModelVersion) -> QuerySet[AuditEvent]:
    return (
        AuditEvent.objects.filter(verb__startswith="model.", data__model_version=version.pk)
        .select_related("actor")
        .order_by("-created_at", "-pk")
    )


def _dig(metrics: object, *path: str) -> object:
    for key in path:
        if not isinstance(metrics, dict):
            return None
        metrics = metrics.get(key)
    return metrics


HEADLINE_METRICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # (column, path in the manifest's metrics): what the model list shows of every version.
    ("parts mIoU", ("segmentation_validation", "parts_miou")),
    ("damage mIoU", ("segmentation_validation", "damage_miou")),
    ("finding precision", ("findings_evaluation", "precision")),
    ("finding recall", ("findings_evaluation", "recall")),
    ("confidence ECE", ("findings_evaluation", "calibration", "ece")),
    ("vehicle accuracy", ("vehicle_validation", "accuracy")),
)


def headline_metrics(metrics: object) -> list[tuple[str, float | None]]:
    """The few figures that compare versions at a glance, None where a version's manifest
    does not hold one (not measured)."""
    out: list[tuple[str, float | None]] = []
    for label, path in HEADLINE_METRICS:
        value = _dig(metrics, *path)
        out.append(
            (
                label,
                float(value)
                if isinstance(value, int | float) and not isinstance(value, bool)
                else None,
            )
        )
    return out


MAX_LIST_SHOWN = 12


def metric_rows(metrics: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Every figure a manifest's metrics hold, nested sections flattened to
    "section · key" rows; numbers rounded for reading, short lists shown, long ones
    (per-photo lists, curve points) counted."""
    rows: list[tuple[str, str]] = []
    if not isinstance(metrics, dict):
        return rows
    for key, value in metrics.items():
        path = (*prefix, str(key))
        if isinstance(value, dict):
            rows.extend(metric_rows(value, path))
            continue
        if isinstance(value, bool) or value is None:
            shown = str(value).lower()
        elif isinstance(value, float):
            shown = f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.3g}"
        elif isinstance(value, list):
            simple = all(isinstance(v, int | float | str) for v in value)
            if simple and len(value) <= MAX_LIST_SHOWN:
                shown = (
                    ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in value)
                    or "(none)"
                )
            else:
                shown = f"{len(value)} items"
        else:
            shown = str(value)
        rows.append((" · ".join(path), shown))
    return rows


def finding_figures(report: object) -> list[tuple[str, str]]:
    """The headline figures of a stored findings evaluation (`metrics.findings_evaluation`
    of a manifest, written by `python -m damage_vision evaluate --task findings --record`), as
    (label, value) rows for the model page; empty when there is none or it is malformed."""
    if not isinstance(report, dict):
        return []

    def number(value: object, digits: int = 3) -> str:
        return "not measured" if not isinstance(value, int | float) else f"{value:.{digits}f}"

    try:
        per_photo = report["findings_per_photo"]
        coverage = report["precision_coverage"]["coverage_at_precision"]
        return [
            ("labelled photos", str(report["photos"])),
            ("labelled damage instances", str(report["instances"])),
            ("findings", str(report["findings"])),
            (
                "findings per photo, median / p90",
                f"{number(per_photo['median'], 1)} / {number(per_photo['p90'], 1)}",
            ),
            (
                "precision (at least half on labelled damage of its class)",
                number(report["precision"]),
            ),
            ("recall of labelled instances", number(report["recall"])),
            ("AUROC of the confidence for correctness", number(report["auroc"])),
            ("expected calibration error (10 bins)", number(report["calibration"]["ece"])),
            ("coverage at precision 0.90", number(coverage.get("0.90"))),
        ]
    except (KeyError, TypeError, AttributeError):
        return []

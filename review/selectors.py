"""Reads of the review app: the queue, a case's review items, model-version statistics and
the labels of reviewed photos."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from django.db.models import (
    Count,
    Exists,
    F,
    Min,
    OuterRef,
    Q,
    QuerySet,
)
from django.utils import timezone

from claims.models import AuditEvent, Case, Photo
from common.errors import ApplicationError
from inference.core.grouping import OTHER_PANEL
from inference.core.taxonomy import Taxonomy, TaxonomyError, load_taxonomy
from inference.models import Finding, ModelVersion
from review import rle as rle_codec
from review.labels import LabelledImage, LabelledObject
from review.models import Contest, Lease, ReviewDecision, ReviewedReport, ReviewRound
from review.rle import Rle

AGE_FILTERS: dict[str, tuple[str, dt.timedelta | None, dt.timedelta | None]] = {
    # key: (label, newer than, older than)
    "": ("any age", None, None),
    "lt1d": ("under a day", dt.timedelta(days=1), None),
    "1to7d": ("1 to 7 days", dt.timedelta(days=7), dt.timedelta(days=1)),
    "gt7d": ("over 7 days", None, dt.timedelta(days=7)),
}


@dataclass(frozen=True)
class QueueFilters:
    damage: str = ""
    part: str = ""
    model_version: int | None = None
    age: str = ""

    @property
    def narrows_findings(self) -> bool:
        return bool(self.damage or self.part or self.model_version)


def _pending_findings(filters: QueueFilters) -> QuerySet[Finding]:
    decided = ReviewDecision.objects.filter(finding=OuterRef("pk"))
    qs = Finding.objects.filter(
        model_version=F("case__model_version"),
        c_refined__lt=F("model_version__threshold"),
    ).exclude(Exists(decided))
    if filters.damage:
        qs = qs.filter(damage=filters.damage)
    if filters.part:
        qs = qs.filter(part=filters.part)
    if filters.model_version:
        qs = qs.filter(model_version_id=filters.model_version)
    return qs


def _pending_set_aside() -> QuerySet[Photo]:
    confirmed = ReviewDecision.objects.filter(
        photo=OuterRef("pk"), action=ReviewDecision.Action.CONFIRM_SET_ASIDE
    )
    return Photo.objects.filter(status=Photo.Status.SET_ASIDE).exclude(Exists(confirmed))


@dataclass(frozen=True)
class _QueueRow:
    case_id: int
    created_at: dt.datetime
    min_confidence: float | None
    pending_findings: int
    pending_photos: int
    contested: bool = False  # an open contest of the customer's

    @property
    def sort_key(self) -> tuple[bool, float, dt.datetime, int]:
        # A set-aside photo counts as confidence 0: nobody can tell what it shows.
        confidence = 0.0 if self.pending_photos else (self.min_confidence or 0.0)
        # A customer waits on a contested case: it comes before routine work.
        return (not self.contested, confidence, self.created_at, self.case_id)


class QueueResult(Sequence[Case]):
    """The ordered queue; only the slice a page shows is loaded as `Case` objects, each
    annotated with `min_confidence`, `pending_findings` and `pending_photos`."""

    def __init__(self, rows: list[_QueueRow]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def ids(self) -> list[int]:
        return [r.case_id for r in self._rows]

    @overload
    def __getitem__(self, index: int) -> Case: ...

    @overload
    def __getitem__(self, index: slice) -> list[Case]: ...

    def __getitem__(self, index: int | slice) -> Case | list[Case]:
        if isinstance(index, int):
            return self[index : index + 1 if index != -1 else None][0]
        rows = self._rows[index]
        cases = (
            Case.objects.select_related("model_version", "review_lease__holder")
            .defer("model_version__metrics", "model_version__threshold_promise")
            .in_bulk([r.case_id for r in rows])
        )
        out = []
        for r in rows:
            case = cases[r.case_id]
            case.min_confidence = r.min_confidence  # type: ignore[attr-defined]
            case.pending_findings = r.pending_findings  # type: ignore[attr-defined]
            case.pending_photos = r.pending_photos  # type: ignore[attr-defined]
            case.contested = r.contested  # type: ignore[attr-defined]
            out.append(case)
        return out


def queue_cases(*, filters: QueueFilters, now: dt.datetime | None = None) -> QueueResult:
    """Cases with findings below their model version's threshold that nobody decided, or
    set-aside photos nobody confirmed, or everything decided but the review not finished;
    cases with an open contest of the customer's first, then lowest confidence first
    (ready-to-finish cases count as 0), then the oldest case.

    Three grouped queries (findings by case, photos by case, cases ready to finish) and a
    merge: one pass over the findings whatever the number of cases, instead of a
    subquery per case.
    """
    now = now or timezone.now()
    closed = [Case.Status.PROCESSING, Case.Status.FAILED, Case.Status.REVIEWED]
    open_cases = ~Q(case__status__in=closed)
    _label, newer, older = AGE_FILTERS.get(filters.age, AGE_FILTERS[""])

    def age_q(created_at: str) -> Q:
        age = Q()
        if newer is not None:
            age &= Q(**{f"{created_at}__gt": now - newer})
        if older is not None:
            age &= Q(**{f"{created_at}__lte": now - older})
        return age

    age = age_q("case__created_at")
    merged: dict[int, _QueueRow] = {}
    for case_id, created_at, min_c, n in (
        _pending_findings(filters)
        .filter(open_cases, age)
        .values("case_id")
        .annotate(min_c=Min("c_refined"), n=Count("pk"))
        .values_list("case_id", "case__created_at", "min_c", "n")
        .order_by()
    ):
        merged[case_id] = _QueueRow(case_id, created_at, min_c, n, 0)
    if not filters.narrows_findings:
        for case_id, created_at, n in (
            _pending_set_aside()
            .filter(open_cases, age)
            .values("case_id")
            .annotate(n=Count("pk"))
            .values_list("case_id", "case__created_at", "n")
            .order_by()
        ):
            row = merged.get(case_id)
            merged[case_id] = _QueueRow(
                case_id,
                created_at,
                row.min_confidence if row else None,
                row.pending_findings if row else 0,
                n,
            )
        # A review started (or reopened) with everything decided but not finished: the
        # adjuster's last step, quick, so these come first.
        open_round = ReviewRound.objects.filter(case=OuterRef("pk"), finished_at__isnull=True)
        ready = (
            Case.objects.filter(Exists(open_round))
            .exclude(status__in=closed)
            .exclude(pk__in=list(merged))
            .filter(age_q("created_at"))
        )
        for case_id, created_at in ready.values_list("pk", "created_at"):
            merged[case_id] = _QueueRow(case_id, created_at, None, 0, 0)
    contested = set(
        Contest.objects.filter(answered_at__isnull=True, case_id__in=list(merged)).values_list(
            "case_id", flat=True
        )
    )
    rows = [dataclasses.replace(r, contested=r.case_id in contested) for r in merged.values()]
    return QueueResult(sorted(rows, key=lambda r: r.sort_key))


def queue_filter_choices() -> dict[str, Any]:
    return {
        "damages": list(
            Finding.objects.order_by("damage").values_list("damage", flat=True).distinct()
        ),
        "parts": list(Finding.objects.order_by("part").values_list("part", flat=True).distinct()),
        "model_versions": list(ModelVersion.objects.order_by("-created_at")),
        "ages": [(k, v[0]) for k, v in AGE_FILTERS.items()],
    }


def lease_of(*, case: Case, now: dt.datetime | None = None) -> Lease | None:
    """The live lease on a case, or None when free or expired."""
    now = now or timezone.now()
    lease = Lease.objects.select_related("holder").filter(case=case).first()
    if lease is None or lease.holder is None or lease.expires_at is None or lease.expires_at <= now:
        return None
    return lease


# The review screen ----------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewItem:
    """One line of the review screen: a model finding, an added damage or a set-aside photo."""

    key: str
    kind: str  # "finding" | "added" | "photo"
    photo: Photo
    state: str  # "pending" | "auto" | "accepted" | "rejected" | "edited" | "added" | "confirmed"
    label: str
    part: str
    damage: str
    c_refined: float | None
    finding: Finding | None
    decision: ReviewDecision | None

    @property
    def needs_review(self) -> bool:
        return self.state == "pending"


@dataclass
class DecisionsInForce:
    latest: dict[int, ReviewDecision]  # by finding: the last decision on it
    added: list[ReviewDecision]  # damages an adjuster drew, in the order they were added
    confirmed: set[int]  # photos whose setting aside an adjuster confirmed


def decisions_in_force(*, case: Case, round_number: int | None = None) -> DecisionsInForce:
    """What the adjusters decided on `case`: the current decisions, or with
    `round_number` those in force when that round finished (its decisions and those of the
    rounds before; a later round's are not that report's)."""
    rows = ReviewDecision.objects.filter(case=case)
    rows = (
        rows.filter(current=True) if round_number is None else rows.filter(round__lte=round_number)
    )
    out = DecisionsInForce(latest={}, added=[], confirmed=set())
    for d in rows.select_related("mask_edit", "photo", "reviewer").order_by("decided_at", "pk"):
        if d.finding_id is not None:
            out.latest[d.finding_id] = d
        elif d.action == ReviewDecision.Action.ADD:
            out.added.append(d)
        elif d.action == ReviewDecision.Action.CONFIRM_SET_ASIDE:
            out.confirmed.add(d.photo_id)
    return out


def case_review_items(*, case: Case) -> list[ReviewItem]:
    version = case.model_version
    decided = decisions_in_force(case=case)
    latest, added, confirmed = decided.latest, decided.added, decided.confirmed
    d: ReviewDecision | None
    photos = {p.pk: p for p in case.photos.order_by("position")}
    items: list[ReviewItem] = []
    for photo in photos.values():
        if photo.status == Photo.Status.SET_ASIDE:
            items.append(
                ReviewItem(
                    key=f"p{photo.pk}",
                    kind="photo",
                    photo=photo,
                    state="confirmed" if photo.pk in confirmed else "pending",
                    label=f"photo {photo.position + 1} set aside",
                    part="",
                    damage="",
                    c_refined=None,
                    finding=None,
                    decision=None,
                )
            )
    findings = (
        Finding.objects.filter(case=case, model_version=version)
        .select_related("model_version")
        .order_by("c_refined", "photo__position", "index")
    )
    for f in findings:
        d = latest.get(f.pk)
        below = f.c_refined < f.model_version.threshold
        state = ReviewDecision.Action(d.action).label if d else ("pending" if below else "auto")
        items.append(
            ReviewItem(
                key=f"f{f.pk}",
                kind="finding",
                photo=photos[f.photo_id],
                state=state,
                label=f"{f.damage} on {f.part} (photo {photos[f.photo_id].position + 1})",
                part=d.part if d and d.part else f.part,
                damage=d.damage_type if d and d.damage_type else f.damage,
                c_refined=f.c_refined,
                finding=f,
                decision=d,
            )
        )
    for d in added:
        items.append(
            ReviewItem(
                key=f"a{d.pk}",
                kind="added",
                photo=photos[d.photo_id],
                state="added",
                label=f"{d.damage_type} on {d.part} (photo {photos[d.photo_id].position + 1}, added)",
                part=d.part,
                damage=d.damage_type,
                c_refined=None,
                finding=None,
                decision=d,
            )
        )
    # Pending first (lowest confidence first), then the rest in the same order.
    return sorted(
        items,
        key=lambda i: (i.state != "pending", i.c_refined if i.c_refined is not None else -1.0),
    )


def case_contests(*, case: Case) -> list[Contest]:
    """The case's contests, oldest first, with who wrote and who answered them."""
    return list(
        Contest.objects.filter(case=case)
        .select_related("created_by", "answered_by", "finding", "photo")
        .order_by("created_at", "pk")
    )


def case_open_round(*, case: Case) -> ReviewRound | None:
    return ReviewRound.objects.filter(case=case, finished_at__isnull=True).first()


def case_latest_report(*, case: Case) -> ReviewedReport | None:
    return (
        case.reviewed_reports.order_by("-created_at", "-pk").select_related("reviewed_by").first()
    )


def taxonomy_classes(name: str, keep_first: bool = False) -> list[str]:
    """Class names a person may choose; with `keep_first`, first the class for "none of
    these" (parts: "other_panel", a part the taxonomy does not label; damage: no damage).
    A taxonomy that cannot be loaded raises `ApplicationError`: choosing from an empty
    list would hide a broken installation."""
    try:
        taxonomy = load_taxonomy(name)
    except TaxonomyError as exc:
        raise ApplicationError(
            f"The taxonomy {name!r} of this model version cannot be loaded ({exc}); "
            "reinstall the version or register it again."
        ) from None
    classes = taxonomy.classes
    if not keep_first:
        return list(classes[1:])
    first = OTHER_PANEL if taxonomy.kind == "parts" else classes[0]
    return [first, *classes[1:]]


# Model versions -------------------------------------------------------------------------


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


# Labels ---------------------------------------------------------------------------------


def damage_mapping(*, target: Taxonomy, source: str) -> dict[str, str]:
    """Damage class names of taxonomy `source` in `target`'s names (its merge map); each
    of `target`'s own classes to itself when there is no map between the two."""
    try:
        return dict(target.merge_map(source))
    except TaxonomyError:
        return {c: c for c in target.classes}


def reviewed_label_images(*, damage_taxonomy: str) -> tuple[list[LabelledImage], list[int]]:
    """Every usable photo of a reviewed case with what a person kept, at full size.

    Damage names of another taxonomy are mapped through the target's merge map; a name
    that does not map is left out (the snapshot's categories are the target's classes).
    """
    target = load_taxonomy(damage_taxonomy)
    cases = list(
        Case.objects.filter(status=Case.Status.REVIEWED)
        .select_related("model_version")
        .order_by("pk")
    )
    images: list[LabelledImage] = []
    for case in cases:
        version = case.model_version
        if version is None:
            continue
        mapping = damage_mapping(target=target, source=version.damage_taxonomy)
        items = case_review_items(case=case)
        by_photo: dict[int, list[LabelledObject]] = {}
        for item in items:
            if item.kind == "photo" or item.state in ("rejected", "pending"):
                continue
            category = mapping.get(
                item.damage, item.damage if item.damage in target.classes else ""
            )
            if not category or category == target.background:
                continue
            photo = item.photo
            edit = item.decision.mask_edit if item.decision else None
            if edit is not None:
                mask = edit.rle
                shape = edit.shape
            else:
                assert item.finding is not None
                grid = rle_codec.decode(Rle.from_coco(item.finding.mask_rle))
                mask = rle_codec.encode(rle_codec.resize_nearest(grid, photo.height, photo.width))
                shape = item.finding.shape
            by_photo.setdefault(photo.pk, []).append(
                LabelledObject(
                    category=category, rle=mask, part=item.part, source=item.state, shape=shape
                )
            )
        for photo in case.photos.filter(status=Photo.Status.DONE).order_by("position"):
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
    return images, [c.pk for c in cases if c.model_version is not None]


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
    of a manifest, written by `python -m inference evaluate --task findings --record`), as
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

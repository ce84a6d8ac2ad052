"""The review queue: which cases wait for an adjuster and in what order, its filters, and
who holds a case."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
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

from claims.models import Case, Photo
from inference.models import Finding, ModelVersion
from review.models import Contest, Lease, ReviewDecision, ReviewRound

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
            # What a row of the queue shows, no more (a page loads 50 of them).
            .only(
                "public_id",
                "created_at",
                "status",
                "model_version__name",
                "model_version__version",
                "review_lease__expires_at",
                "review_lease__holder__username",
            )
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
    closed = [Case.Status.PROCESSING, Case.Status.REVIEWED]
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
        "model_versions": list(
            ModelVersion.objects.order_by("-created_at").only("name", "version")
        ),
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

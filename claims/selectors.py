"""Reads: querysets scoped to what the user may see."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Case as SqlCase
from django.db.models import (
    CharField,
    Count,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.http import Http404

from claims import wording
from claims.models import AuditEvent, Case, Photo
from common.access import is_staff_role
from inference.models import Finding, InferenceRun
from review.models import Contest, ReviewRound


def cases_visible(*, user: Any) -> QuerySet[Case]:
    qs = (
        Case.objects.select_related("customer", "model_version")
        # A version's metrics can be large JSON; a list of cases never shows them.
        .defer("model_version__metrics", "model_version__threshold_promise")
        .annotate(
            photo_count=Count("photos", distinct=True),
            # The status badge of the customer's list, as `wording.case_status_words`.
            status_words=SqlCase(
                When(
                    Q(Exists(_contests_pending().filter(case=OuterRef("pk"))))
                    & ~Q(status__in=wording.STATUSES_OVER_A_CONTEST),
                    then=Value(wording.CONTEST_UNDER_REVIEW),
                ),
                *(
                    When(status=value, then=Value(str(label)))
                    for value, label in Case.Status.choices
                ),
                default=F("status"),
                output_field=CharField(),
            ),
        )
        .order_by("-created_at", "-pk")
    )
    return qs if is_staff_role(user) else qs.filter(customer=user)


def _contests_pending() -> QuerySet[Contest]:
    """Contests no finished review round has settled yet (`contest_pending`)."""
    settled = ReviewRound.objects.filter(
        case=OuterRef("case"), finished_at__gte=OuterRef("created_at")
    )
    return Contest.objects.filter(~Exists(settled))


def contest_pending(*, contests: list[Contest], last_finished: datetime | None) -> bool:
    """Whether a contest waits for a review: one made after the last finished round (an
    adjuster finishes a round only once every contest in it is answered)."""
    return any(last_finished is None or c.created_at > last_finished for c in contests)


def case_get(*, user: Any, public_id: Any) -> Case:
    """The case if the user may see it; another customer's case is a 404, not a 403."""
    case = (
        Case.objects.select_related("customer", "model_version")
        .filter(public_id=public_id)
        .filter(Q() if is_staff_role(user) else Q(customer=user))
        .first()
    )
    if case is None:
        raise Http404("No such case")
    return case


# What the case page and the report show of a finding: masks and the runs' raw output (large
# JSON) stay in the database.
FINDING_LIST_FIELDS = (
    "id",
    "photo_id",
    "index",
    "part",
    "damage",
    "shape",
    "size_class",
    "confidence",
    "c_refined",
)
FINDING_SUMMARY_FIELDS = (
    "part",
    "damage",
    "shape",
    "photo__position",
    "size_class",
    "c_base",
    "confidence",
    "k_agree",
    "c_refined",
    "share_of_part",
    "area_cm2",
    "needs_review",
)


def case_photos(*, case: Case) -> list[Photo]:
    return list(
        case.photos.order_by("position").prefetch_related(
            Prefetch(
                "findings",
                queryset=Finding.objects.filter(model_version=case.model_version)
                .only(*FINDING_LIST_FIELDS)
                .order_by("index"),
            ),
            # Without the raw model output (`result`): only the error is shown, to staff.
            Prefetch(
                "runs",
                queryset=InferenceRun.objects.only(
                    "id", "photo_id", "status", "attempts", "error"
                ).order_by("-queued_at"),
            ),
        )
    )


def case_findings(*, case: Case) -> QuerySet[Finding]:
    return (
        Finding.objects.filter(case=case, model_version=case.model_version)
        .select_related("photo")
        .order_by("photo__position", "index")
    )


def _summary_findings(*, case: Case) -> QuerySet[Finding, dict[str, Any]]:
    # Plain dicts: a case can hold hundreds of findings, and model instances cost time.
    return case_findings(case=case).values(*FINDING_SUMMARY_FIELDS)


def case_audit(*, case: Case) -> QuerySet[AuditEvent]:
    return case.audit_events.select_related("actor").order_by("created_at", "pk")


def photo_get(*, user: Any, public_id: Any, photo_id: int) -> Photo:
    case = case_get(user=user, public_id=public_id)
    photo = case.photos.filter(pk=photo_id).first()
    if photo is None:
        raise Http404("No such photo")
    return photo


def case_summary(*, case: Case) -> list[dict[str, Any]]:
    """The report's rows: one per (part, damage), with the photos that show it and the
    number of damaged regions behind it. `confidence` is the highest calibrated confidence
    of its regions (what people read), `c_refined` the highest confidence * K_agree;
    `shape` is "box" when every region is a detector box (its size is the box's)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for f in _summary_findings(case=case):
        row = rows.setdefault(
            (f["part"], f["damage"]),
            {
                "part": f["part"],
                "damage": f["damage"],
                "photos": [],
                "regions": 0,
                "c_base": 0.0,
                "confidence": 0.0,
                "k_agree": f["k_agree"],
                "c_refined": 0.0,
                "share_of_part": 0.0,
                "size_class": f["size_class"],
                "area_cm2": f["area_cm2"],
                "needs_review": False,
                "shape": f["shape"],
            },
        )
        if f["shape"] != row["shape"]:
            row["shape"] = "mask"  # some regions are pixel masks: not a box alone
        number = f["photo__position"] + 1
        if number not in row["photos"]:
            row["photos"].append(number)
        row["regions"] += 1
        row["c_base"] = max(row["c_base"], f["c_base"])
        row["confidence"] = max(row["confidence"], f["confidence"])
        row["c_refined"] = max(row["c_refined"], f["c_refined"])
        if f["share_of_part"] >= row["share_of_part"]:
            row["share_of_part"] = f["share_of_part"]
            row["size_class"] = f["size_class"]
            row["area_cm2"] = f["area_cm2"]
        row["needs_review"] = row["needs_review"] or f["needs_review"]
    return sorted(rows.values(), key=lambda r: (r["part"], r["damage"]))


# The customer's report ------------------------------------------------------------------
#
# What the case page and the PDF show a claimant, both from `case_customer_report`: before
# any review, the model's findings; once a review round is finished, the latest reviewed
# report only (rejected findings gone, the adjuster's changes marked). Words come from
# `claims.wording`; the figures stay here.

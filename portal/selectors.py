"""Reads: querysets scoped to what the user may see."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.core.paginator import Page, Paginator
from django.db.models import (
    Count,
    Exists,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce
from django.http import Http404

from claims import wording
from claims.models import AuditEvent, Case, Photo
from common.access import is_staff_role
from inference.models import Finding, InferenceRun
from review.models import Contest, ReviewRound

VERSION_DETAIL_FIELDS = ("model_version__metrics", "model_version__threshold_promise")


def cases_visible(*, user: User) -> QuerySet[Case]:
    """The cases the user may see, newest first, with `photo_count` and `contest_open`
    (a contest waits for a review). Both are subqueries, not a join with GROUP BY, so
    counting the cases for a pager runs without them."""
    photo_count = (
        Photo.objects.filter(case=OuterRef("pk"))
        .order_by()
        .values("case")
        .annotate(n=Count("pk"))
        .values("n")
    )
    qs = (
        Case.objects.select_related("customer", "model_version")
        # A version's metrics can be large JSON; a list of cases never shows them.
        .defer(*VERSION_DETAIL_FIELDS)
        .annotate(
            photo_count=Coalesce(Subquery(photo_count), 0),
            contest_open=Exists(_contests_pending().filter(case=OuterRef("pk"))),
        )
        .order_by("-created_at", "-pk")
    )
    return qs if is_staff_role(user) else qs.filter(customer=user)


def case_list_page(*, user: User, number: Any, size: int) -> Page[Case]:
    """One page of `cases_visible`, each case with the `status_words` of its badge."""
    page = Paginator(cases_visible(user=user), size).get_page(number)
    for case in page.object_list:
        case.status_words = wording.case_status_words(  # type: ignore[attr-defined]
            status=case.status,
            display=case.get_status_display(),
            contest_pending=case.contest_open,  # type: ignore[attr-defined]
        )
    return page


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


def case_get(*, user: User, public_id: Any) -> Case:
    """The case if the user may see it; another customer's case is a 404, not a 403."""
    case = (
        Case.objects.select_related("customer", "model_version")
        # A version's metrics can be large JSON; the case page and the report never show them.
        .defer(*VERSION_DETAIL_FIELDS)
        .filter(public_id=public_id)
        .filter(Q() if is_staff_role(user) else Q(customer=user))
        .first()
    )
    if case is None:
        raise Http404("No such case")
    return case


def case_photos(*, case: Case) -> list[Photo]:
    """The case's photos in order. What the page and the report say of their findings
    comes from `portal.report_items` (one query for the case), not from each photo."""
    return list(case.photos.order_by("position"))


def photos_with_run_errors(*, photos: list[Photo]) -> None:
    """Load the runs of the failed photos among `photos` (`photo.runs.all()`), newest first,
    for staff to read their errors; no query when none failed."""
    failed = [p for p in photos if p.status == Photo.Status.FAILED]
    prefetch_related_objects(
        failed,
        # Without the raw model output (`result`): only the error is shown.
        Prefetch(
            "runs",
            queryset=InferenceRun.objects.only(
                "id", "photo_id", "status", "attempts", "error"
            ).order_by("-queued_at"),
        ),
    )


def case_findings(*, case: Case) -> QuerySet[Finding]:
    return (
        Finding.objects.filter(case=case, model_version=case.model_version)
        .select_related("photo")
        .order_by("photo__position", "index")
    )


def case_audit(*, case: Case) -> QuerySet[AuditEvent]:
    return case.audit_events.select_related("actor").order_by("created_at", "pk")


def photo_get(*, user: User, public_id: Any, photo_id: int) -> Photo:
    case = case_get(user=user, public_id=public_id)
    photo = case.photos.filter(pk=photo_id).first()
    if photo is None:
        raise Http404("No such photo")
    return photo

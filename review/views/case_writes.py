"""The writes of the review screen: decisions, redrawn and added damage, confirming a
set-aside photo, contest answers, finishing and reopening a case."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from claims.models import Case, Photo
from common.access import require_reviewer
from common.errors import ApplicationError
from common.http import AuthenticatedHttpRequest, HtmxHttpRequest
from inference.models import Finding
from review import services
from review.models import Contest, ReviewDecision
from review.views.common import (
    REVIEWER_ONLY,
    case_or_404,
    findings_panel_context,
    refusal_response,
)


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ApplicationError(
            "The request body must be JSON with mask, damage_type, part and optionally shape."
        ) from None
    if not isinstance(data, dict):
        raise ApplicationError("The request body must be a JSON object.")
    return data


def _supersedes(value: Any) -> int | None:
    """The decision the person saw as current: an id, or empty/None for none."""
    if value in (None, ""):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ApplicationError(
        "'supersedes' must be the id of the decision you saw on this item, or empty."
    )


def _render_findings(request: HttpRequest, case: Case) -> HttpResponse:
    return render(request, "review/_findings.html", findings_panel_context(request, case))


def _case_write(
    request: HtmxHttpRequest,
    case: Case,
    write: Callable[[], object],
    *,
    done: str = "",
    level: Callable[[HttpRequest, str], None] = messages.success,
) -> HttpResponse:
    """One write of the review screen on `case`: the findings panel for htmx, else back to
    the case page (with `done` said at `level`); a refusal as `refusal_response` answers it."""
    try:
        write()
    except ApplicationError as exc:
        return refusal_response(request, exc, reverse("review:case", args=[case.public_id]))
    if not request.htmx:
        if done:
            level(request, done)
        return redirect("review:case", public_id=case.public_id)
    return _render_findings(request, case)


@login_required
@require_POST
def case_finish(request: HtmxHttpRequest, public_id: Any) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    case = case_or_404(public_id)
    return _case_write(
        request,
        case,
        lambda: services.case_finish_review(case=case, user=request.user),
        done=f"Case {case.reference} is reviewed; the customer is told.",
    )


@login_required
@require_POST
def case_reopen(request: HtmxHttpRequest, public_id: Any) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    case = case_or_404(public_id)
    reason = request.POST.get("reason", "")
    return _case_write(
        request,
        case,
        lambda: services.case_reopen(case=case, user=request.user, reason=reason),
        done=f"Case {case.reference} is open for review again.",
        level=messages.info,
    )


@login_required
@require_POST
def contest_answer(request: HtmxHttpRequest, contest_id: int) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    contest = get_object_or_404(Contest.objects.select_related("case"), pk=contest_id)
    answer = request.POST.get("answer", "")
    return _case_write(
        request,
        contest.case,
        lambda: services.contest_answer(contest=contest, user=request.user, answer=answer),
        done="Answer saved; the customer sees it on their claim page.",
    )


@login_required
@require_POST
def finding_decide(request: HtmxHttpRequest, finding_id: int) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    finding = get_object_or_404(Finding.objects.select_related("case", "photo"), pk=finding_id)
    action = request.POST.get("action", "")
    supersedes = request.POST.get("supersedes")
    return _case_write(
        request,
        finding.case,
        lambda: services.finding_decide(
            finding=finding,
            user=request.user,
            action=action,
            supersedes=_supersedes(supersedes),
        ),
    )


def _drawing(data: dict[str, Any]) -> dict[str, Any]:
    """What the mask editor sends for a region an adjuster drew (a finding redrawn or a
    damage added): the mask (COCO RLE), its damage type, part and shape."""
    return {
        "mask": data.get("mask"),
        "damage_type": str(data.get("damage_type", "")),
        "part": str(data.get("part", "")),
        "shape": str(data.get("shape", "mask")),
    }


@login_required
@require_POST
def finding_edit(request: AuthenticatedHttpRequest, finding_id: int) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    finding = get_object_or_404(
        Finding.objects.select_related("case", "photo", "model_version"), pk=finding_id
    )
    try:
        data = _json_body(request)
        services.finding_edit(
            finding=finding,
            user=request.user,
            supersedes=_supersedes(data.get("supersedes")),
            **_drawing(data),
        )
    except ApplicationError as exc:
        return render(request, "review/_error.html", {"message": exc.message}, status=409)
    return _render_findings(request, finding.case)


@login_required
@require_POST
def photo_add_damage(request: AuthenticatedHttpRequest, photo_id: int) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    photo = get_object_or_404(Photo.objects.select_related("case__model_version"), pk=photo_id)
    try:
        services.damage_add(photo=photo, user=request.user, **_drawing(_json_body(request)))
    except ApplicationError as exc:
        return render(request, "review/_error.html", {"message": exc.message}, status=409)
    return _render_findings(request, photo.case)


def _added(decision_id: int) -> ReviewDecision:
    return get_object_or_404(
        ReviewDecision.objects.select_related("case__model_version", "photo"),
        pk=decision_id,
        action=ReviewDecision.Action.ADD,
    )


@login_required
@require_POST
def added_edit(request: AuthenticatedHttpRequest, decision_id: int) -> HttpResponse:
    """Redraw, re-type or move a damage an adjuster added (the mask editor's JSON)."""
    require_reviewer(request.user, REVIEWER_ONLY)
    decision = _added(decision_id)
    try:
        services.added_edit(decision=decision, user=request.user, **_drawing(_json_body(request)))
    except ApplicationError as exc:
        return render(request, "review/_error.html", {"message": exc.message}, status=409)
    return _render_findings(request, decision.case)


@login_required
@require_POST
def added_remove(request: HtmxHttpRequest, decision_id: int) -> HttpResponse:
    """Take a damage an adjuster added off the report again."""
    require_reviewer(request.user, REVIEWER_ONLY)
    decision = _added(decision_id)
    return _case_write(
        request,
        decision.case,
        lambda: services.added_remove(decision=decision, user=request.user),
        done="The added damage is removed.",
    )


@login_required
@require_POST
def photo_confirm(request: HtmxHttpRequest, photo_id: int) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    photo = get_object_or_404(Photo.objects.select_related("case"), pk=photo_id)
    return _case_write(
        request,
        photo.case,
        lambda: services.photo_confirm_set_aside(photo=photo, user=request.user),
    )

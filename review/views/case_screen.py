"""One case's review screen and the lease on it: claim, heartbeat, release."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from claims.models import Photo
from common.access import require_reviewer
from common.errors import ApplicationError
from common.http import HtmxHttpRequest
from review import selectors, services
from review.views.common import (
    REVIEWER_ONLY,
    case_or_404,
    findings_panel_context,
    refusal_response,
)


@login_required
@require_POST
def case_claim(request: HtmxHttpRequest, public_id: Any) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    case = case_or_404(public_id)
    try:
        services.lease_claim(case=case, user=request.user)
    except ApplicationError as exc:
        return refusal_response(request, exc, reverse("review:queue"))
    return redirect("review:case", public_id=case.public_id)


@login_required
@require_POST
def case_heartbeat(request: HtmxHttpRequest, public_id: Any) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    case = case_or_404(public_id)
    try:
        lease = services.lease_renew(case=case, user=request.user)
    except ApplicationError as exc:
        return refusal_response(request, exc, reverse("review:case", args=[public_id]))
    return render(request, "review/_lease.html", {"lease": lease, "case": case, "mine": True})


@login_required
@require_POST
def case_release(request: HtmxHttpRequest, public_id: Any) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    case = case_or_404(public_id)
    try:
        services.lease_release(case=case, user=request.user)
    except ApplicationError as exc:
        return refusal_response(request, exc, reverse("review:queue"))
    messages.info(request, f"Released case {case.reference}.")
    return redirect("review:queue")


@login_required
@require_GET
def case_review(request: HtmxHttpRequest, public_id: Any) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    case = case_or_404(public_id)
    context = findings_panel_context(request, case)
    if request.htmx:
        return render(request, "review/_findings.html", context)
    version = case.model_version
    photos = list(case.photos.order_by("position"))
    context["photos"] = photos
    context["damage_types"] = selectors.taxonomy_classes(version.damage_taxonomy) if version else []
    context["parts"] = (
        selectors.taxonomy_classes(version.part_taxonomy, keep_first=True) if version else []
    )
    context["audit"] = case.audit_events.select_related("actor").order_by("created_at", "pk")
    context["page_data"] = {
        "case": case.reference,
        "lease_seconds": int(settings.REVIEW_LEASE_SECONDS),
        "heartbeat_seconds": 60,
        "damage_types": context["damage_types"],
        "parts": context["parts"],
        # A missed damage on a detection version's case is drawn as a box by default.
        "damage_backend": version.damage_backend if version else "segmentation",
        "urls": {"heartbeat": reverse("review:case_heartbeat", args=[case.public_id])},
        "photos": [
            {
                "id": p.pk,
                "url": reverse("portal:photo_image", args=[case.public_id, p.pk, "display"]),
                # The model's render, whose numbers are the rows' (after a review the
                # customer's photo is numbered by what was kept).
                "annotated_url": reverse("portal:photo_image", args=[case.public_id, p.pk, "model"])
                if p.annotated
                else None,
                "width": p.width,
                "height": p.height,
                "set_aside": p.set_aside_reason if p.status == Photo.Status.SET_ASIDE else None,
                "add_url": reverse("review:photo_add_damage", args=[p.pk]),
            }
            for p in photos
        ],
    }
    return render(request, "review/case.html", context)

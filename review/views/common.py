"""Shared pieces of the review app's views: the access messages, answering a refusal,
loading a case and the findings panel of the review screen."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from claims.models import Case
from common.errors import ApplicationError
from common.http import HtmxHttpRequest
from review import selectors

REVIEWER_ONLY = "Only adjusters and admins may open the review queue."


def refusal_response(
    request: HtmxHttpRequest, exc: ApplicationError, fallback: str
) -> HttpResponse:
    """A refusal answered: the error fragment (409) for htmx or JSON, else a message and
    back to `fallback`."""
    if request.htmx or request.content_type == "application/json":
        return render(request, "review/_error.html", {"message": exc.message}, status=409)
    messages.error(request, exc.message)
    return redirect(fallback)


def case_or_404(public_id: Any) -> Case:
    """The case with this public id (its model version and customer loaded), or a 404."""
    return get_object_or_404(
        Case.objects.select_related("model_version", "customer"), public_id=public_id
    )


def _items_payload(case: Case, items: list[selectors.ReviewItem]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        edit = item.decision.mask_edit if item.decision else None
        row: dict[str, Any] = {
            "id": item.key,
            "kind": item.kind,
            "photo": item.photo.pk,
            "part": item.part,
            "damage": item.damage,
            "label": item.label,
            "number": item.number,
            "state": item.state,
            "c_refined": item.c_refined,
            "confidence": item.finding.confidence if item.finding else None,
            "c_base": item.finding.c_base if item.finding else None,
            # An added damage's mask is its drawing (the editor opens on it).
            "mask": item.finding.mask_rle if item.finding else (edit.as_coco() if edit else None),
            # "box": drawn as an outline, and the editor opens on its box tool.
            "shape": item.finding.shape if item.finding else None,
            "edit_mask": edit.as_coco() if edit else None,
            "edit_shape": edit.shape if edit else None,
            # Sent back with a decision: refused if someone decided meanwhile.
            "decision": item.decision.pk if item.decision else None,
        }
        if item.finding:
            row["decide_url"] = reverse("review:finding_decide", args=[item.finding.pk])
            row["edit_url"] = reverse("review:finding_edit", args=[item.finding.pk])
        elif item.kind == "photo":
            row["decide_url"] = reverse("review:photo_confirm", args=[item.photo.pk])
        elif item.decision is not None:  # added: redrawn, re-typed, moved or removed
            row["edit_url"] = reverse("review:added_edit", args=[item.decision.pk])
            row["remove_url"] = reverse("review:added_remove", args=[item.decision.pk])
        out.append(row)
    return out


def findings_panel_context(request: HttpRequest, case: Case) -> dict[str, Any]:
    """What the review screen's findings panel shows of `case` to this adjuster."""
    case.refresh_from_db(fields=["status", "dsi"])
    items = selectors.case_review_items(case=case)
    lease = selectors.lease_of(case=case)
    contests = selectors.case_contests(case=case)
    # Each contest beside the finding it is about; "missed damage" (or a finding no longer
    # listed) at the top.
    rows = [
        (item, [c for c in contests if item.finding and c.finding_id == item.finding.pk])
        for item in items
    ]
    shown = {c.pk for _item, row_contests in rows for c in row_contests}
    return {
        "case": case,
        "items": items,
        "rows": rows,
        "other_contests": [c for c in contests if c.pk not in shown],
        "open_contests": sum(1 for c in contests if c.is_open),
        "items_payload": _items_payload(case, items),
        "pending": sum(1 for i in items if i.needs_review),
        "report": selectors.case_latest_report(case=case),
        "reviewed": case.status == Case.Status.REVIEWED,
        "review_round": selectors.case_open_round(case=case),
        "lease": lease,
        "mine": lease is not None and lease.holder_id == request.user.pk,
    }

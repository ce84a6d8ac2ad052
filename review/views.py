"""HTML and htmx views of the review app; each calls one service or selector and renders."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from claims.models import Case, Photo
from common.access import require_admin, require_reviewer
from common.errors import ApplicationError
from common.http import HtmxHttpRequest
from inference import services as inference_services
from inference.models import Finding, ModelVersion
from review import plots, selectors, services, shadow, thresholds
from review.models import Contest, DatasetSnapshot

REVIEWER_ONLY = "Only adjusters and admins may open the review queue."
ADMIN_ONLY = "Only admins manage model versions."

QUEUE_PAGE_SIZE = 50


def _filters(request: HttpRequest) -> selectors.QueueFilters:
    data = request.GET if request.method == "GET" else request.POST
    mv = data.get("model_version", "")
    return selectors.QueueFilters(
        damage=data.get("damage", "")[:50],
        part=data.get("part", "")[:50],
        model_version=int(mv) if mv.isdigit() else None,
        age=data.get("age", "") if data.get("age", "") in selectors.AGE_FILTERS else "",
    )


def _error(request: HtmxHttpRequest, exc: ApplicationError, fallback: str) -> HttpResponse:
    if request.htmx or request.content_type == "application/json":
        return render(request, "review/_error.html", {"message": exc.message}, status=409)
    messages.error(request, exc.message)
    return redirect(fallback)


def _case_write(
    request: HtmxHttpRequest,
    case: Case,
    write: Callable[[], object],
    *,
    done: str = "",
    level: Callable[[HttpRequest, str], None] = messages.success,
) -> HttpResponse:
    """One write of the review screen on `case`: the findings panel for htmx, else back to
    the case page (with `done` said at `level`); a refusal as `_error` answers it."""
    try:
        write()
    except ApplicationError as exc:
        return _error(request, exc, reverse("review:case", args=[case.public_id]))
    if not request.htmx:
        if done:
            level(request, done)
        return redirect("review:case", public_id=case.public_id)
    return _render_findings(request, case)


# Queue ----------------------------------------------------------------------------------


@login_required
@require_GET
def queue(request: HtmxHttpRequest) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    filters = _filters(request)
    page = Paginator(selectors.queue_cases(filters=filters), QUEUE_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "filters": filters,
        "choices": selectors.queue_filter_choices(),
        "query": "&".join(f"{k}={v}" for k, v in request.GET.items() if k != "page" and v),
        "now": timezone.now(),
    }
    template = "review/_queue_rows.html" if request.htmx else "review/queue.html"
    return render(request, template, context)


@login_required
@require_POST
def queue_next(request: HtmxHttpRequest) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    candidates = selectors.queue_cases(filters=_filters(request)).ids()[:200]
    if not candidates:  # good news, not an error
        messages.info(request, "The queue is empty: every case is reviewed. Well done.")
        return redirect("review:queue")
    try:
        case = services.lease_claim_next(user=request.user, candidates=candidates)
    except ApplicationError as exc:
        return _error(request, exc, reverse("review:queue"))
    return redirect("review:case", public_id=case.public_id)


# A case ---------------------------------------------------------------------------------


def _case(public_id: Any) -> Case:
    return get_object_or_404(
        Case.objects.select_related("model_version", "customer"), public_id=public_id
    )


@login_required
@require_POST
def case_claim(request: HtmxHttpRequest, public_id: Any) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    case = _case(public_id)
    try:
        services.lease_claim(case=case, user=request.user)
    except ApplicationError as exc:
        return _error(request, exc, reverse("review:queue"))
    return redirect("review:case", public_id=case.public_id)


@login_required
@require_POST
def case_heartbeat(request: HtmxHttpRequest, public_id: Any) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    case = _case(public_id)
    try:
        lease = services.lease_renew(case=case, user=request.user)
    except ApplicationError as exc:
        return _error(request, exc, reverse("review:case", args=[public_id]))
    return render(request, "review/_lease.html", {"lease": lease, "case": case, "mine": True})


@login_required
@require_POST
def case_release(request: HtmxHttpRequest, public_id: Any) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    case = _case(public_id)
    try:
        services.lease_release(case=case, user=request.user)
    except ApplicationError as exc:
        return _error(request, exc, reverse("review:queue"))
    messages.info(request, f"Released case {case.reference}.")
    return redirect("review:queue")


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
            "state": item.state,
            "c_refined": item.c_refined,
            "confidence": item.finding.confidence if item.finding else None,
            "c_base": item.finding.c_base if item.finding else None,
            "mask": item.finding.mask_rle if item.finding else None,
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
        out.append(row)
    return out


def _findings_context(request: HttpRequest, case: Case) -> dict[str, Any]:
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


@login_required
@require_GET
def case_review(request: HtmxHttpRequest, public_id: Any) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    case = _case(public_id)
    context = _findings_context(request, case)
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
                "url": reverse("claims:photo_image", args=[case.public_id, p.pk, "display"]),
                "annotated_url": reverse(
                    "claims:photo_image", args=[case.public_id, p.pk, "annotated"]
                )
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


def _render_findings(request: HttpRequest, case: Case) -> HttpResponse:
    return render(request, "review/_findings.html", _findings_context(request, case))


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


@login_required
@require_POST
def case_finish(request: HtmxHttpRequest, public_id: Any) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    case = _case(public_id)
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
    case = _case(public_id)
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
def finding_edit(request: HttpRequest, finding_id: int) -> HttpResponse:
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
def photo_add_damage(request: HttpRequest, photo_id: int) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    photo = get_object_or_404(Photo.objects.select_related("case__model_version"), pk=photo_id)
    try:
        services.damage_add(photo=photo, user=request.user, **_drawing(_json_body(request)))
    except ApplicationError as exc:
        return render(request, "review/_error.html", {"message": exc.message}, status=409)
    return _render_findings(request, photo.case)


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


# Model versions -------------------------------------------------------------------------


@login_required
@require_GET
def model_versions(request: HttpRequest) -> HttpResponse:
    require_admin(request.user, ADMIN_ONLY)
    versions = [
        (v, selectors.headline_metrics(v.metrics))
        for v in ModelVersion.objects.order_by("-created_at")
    ]
    snapshots = list(
        DatasetSnapshot.objects.select_related("created_by").order_by("-created_at")[:20]
    )
    for snapshot in snapshots:  # PostgreSQL's jsonb keeps no key order: sort for reading
        summary = snapshot.summary if isinstance(snapshot.summary, dict) else {}
        snapshot.by_class = sorted(summary.get("by_class", {}).items())  # type: ignore[attr-defined]
        snapshot.by_source = sorted(summary.get("by_source", {}).items())  # type: ignore[attr-defined]
    return render(
        request,
        "review/model_versions.html",
        {
            "versions": versions,
            "headline_labels": [label for label, _ in selectors.HEADLINE_METRICS],
            "snapshots": snapshots,
        },
    )


@login_required
@require_GET
def model_version_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require_admin(request.user, ADMIN_ONLY)
    version = get_object_or_404(ModelVersion, pk=pk)
    outcomes = selectors.model_version_outcomes(version=version)
    promise = thresholds.stored_promise(version.threshold_promise)
    metrics = version.metrics or {}
    per_class = metrics.get("per_class_iou") if isinstance(metrics, dict) else None
    confusion = metrics.get("confusion_matrix") if isinstance(metrics, dict) else None
    plot_svgs: list[tuple[str, str]] = []
    if outcomes:
        plot_svgs.append(
            (
                "Reliability of C_refined on reviewed findings",
                plots.reliability_svg(plots.reliability_bins(outcomes)),
            )
        )
    findings_report = metrics.get("findings_evaluation") if isinstance(metrics, dict) else None
    finding_figures = selectors.finding_figures(findings_report)
    if finding_figures and isinstance(findings_report, dict):
        with contextlib.suppress(KeyError, TypeError, ValueError):
            plot_svgs.append(
                (
                    "Reliability of the confidence on labelled photos (evaluation split)",
                    plots.reliability_svg(
                        plots.stored_reliability_bins(findings_report["calibration"]["bins"]),
                        title="Reliability of the finding confidence on labelled photos",
                        x_label="confidence",
                        y_label="share of findings correct",
                    ),
                )
            )
    segmentation = metrics.get("segmentation_validation") if isinstance(metrics, dict) else None
    per_class_plots = [("Per-class IoU", per_class)]
    if isinstance(segmentation, dict):
        per_class_plots += [
            ("Per-class IoU of the parts (validation)", segmentation.get("parts_iou")),
            ("Per-class IoU of the damage (validation)", segmentation.get("damage_iou")),
        ]
    for title, values in per_class_plots:
        if isinstance(values, dict) and values:
            with contextlib.suppress(TypeError, ValueError):
                plot_svgs.append(
                    (title, plots.bars_svg(title, {str(k): float(v) for k, v in values.items()}))
                )
    if isinstance(confusion, dict) and confusion.get("labels") and confusion.get("matrix"):
        with contextlib.suppress(ValueError):
            plot_svgs.append(
                (
                    "Confusion matrix",
                    plots.confusion_svg(
                        "Confusion matrix", confusion["labels"], confusion["matrix"]
                    ),
                )
            )
    context = {
        "version": version,
        "counts": selectors.model_version_counts(version=version),
        "reviewed": len(outcomes),
        "kept": sum(1 for _, ok in outcomes if ok),
        "promise": promise,
        "promise_applies": promise is not None
        and thresholds.promise_applies(promise, version.threshold),
        "suggestion": thresholds.suggest_threshold(
            outcomes, target_precision=version.target_precision
        )
        if outcomes
        else None,
        "plots": plot_svgs,
        "finding_figures": finding_figures,
        "metrics": selectors.metric_rows(metrics),
        "headline": selectors.headline_metrics(metrics),
        "audit": selectors.model_version_audit(version=version),
        "active": selectors.model_version_active(excluding=version),
        "shadow_evaluations": shadow.evaluations_of(version=version),
        "shadow_max": shadow.SHADOW_MAX_CASES,
    }
    return render(request, "review/model_version.html", context)


def _set_version_number(
    request: HtmxHttpRequest,
    pk: int,
    *,
    field: str,
    what: str,
    example: str,
    setter: Callable[..., ModelVersion],
) -> HttpResponse:
    """Parse one number of the model-version page's forms and hand it to its service."""
    require_admin(request.user, ADMIN_ONLY)
    version = get_object_or_404(ModelVersion, pk=pk)
    try:
        value = float(request.POST.get(field, ""))
    except ValueError:
        messages.error(request, f"The {what} is a number between 0 and 1, such as {example}.")
        return redirect("review:model_version", pk=pk)
    try:
        setter(version=version, user=request.user, **{field: value})
    except ApplicationError as exc:
        return _error(request, exc, reverse("review:model_version", args=[pk]))
    messages.success(request, f"{what.capitalize()} of {version} set to {value:g}.")
    return redirect("review:model_version", pk=pk)


@login_required
@require_POST
def model_version_threshold(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _set_version_number(
        request,
        pk,
        field="threshold",
        what="threshold",
        example="0.6",
        setter=inference_services.model_version_set_threshold,
    )


@login_required
@require_POST
def model_version_target_precision(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _set_version_number(
        request,
        pk,
        field="target_precision",
        what="target precision",
        example="0.9",
        setter=inference_services.model_version_set_target_precision,
    )


@login_required
@require_POST
def model_version_status(request: HtmxHttpRequest, pk: int, action: str) -> HttpResponse:
    require_admin(request.user, ADMIN_ONLY)
    version = get_object_or_404(ModelVersion, pk=pk)
    service = {
        "promote": services.model_version_promote,
        "retire": inference_services.model_version_retire,
    }.get(action)
    if service is None:
        raise PermissionDenied("Unknown action.")
    kwargs: dict[str, Any] = {}
    evaluation = request.POST.get("evaluation", "")
    if action == "promote" and evaluation.isdigit():
        # The shadow evaluation the comparison page showed: recorded with the promotion.
        kwargs["evaluation_id"] = int(evaluation)
    try:
        service(version=version, user=request.user, **kwargs)
    except ApplicationError as exc:
        return _error(request, exc, reverse("review:model_version", args=[pk]))
    note = ""
    if version.status == ModelVersion.Status.ACTIVE:
        note = (
            f" New claims go through its damage back end: {version.get_damage_backend_display()}."
        )
    messages.success(request, f"{version} is now {version.get_status_display().lower()}.{note}")
    return redirect("review:model_version", pk=pk)


@login_required
@require_POST
def snapshot_create(request: HtmxHttpRequest) -> HttpResponse:
    require_admin(request.user, ADMIN_ONLY)
    try:
        snapshot = services.snapshot_export(
            user=request.user, version=request.POST.get("version") or None
        )
    except ApplicationError as exc:
        return _error(request, exc, reverse("review:model_versions"))
    messages.success(
        request,
        f"Exported snapshot {snapshot.version}: {snapshot.images} photos, "
        f"{snapshot.annotations} labels, in {snapshot.path}.",
    )
    return redirect("review:model_versions")


@login_required
@require_GET
def snapshot_download(request: HtmxHttpRequest, version: str) -> HttpResponseBase:
    require_admin(request.user, ADMIN_ONLY)
    snapshot = get_object_or_404(DatasetSnapshot, version=version)
    try:
        archive = services.snapshot_archive(snapshot=snapshot, user=request.user)
    except ApplicationError as exc:
        return _error(request, exc, reverse("review:model_versions"))
    return FileResponse(archive.open("rb"), as_attachment=True, filename=archive.name)

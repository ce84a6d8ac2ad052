"""The model-version pages (admins): the list, one version's detail and its forms
(threshold, target precision, promote or retire)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from common.access import require_admin
from common.errors import ApplicationError
from common.http import AuthenticatedHttpRequest
from inference import services as inference_services
from inference.models import ModelVersion
from learning import plots, selectors, services, shadow, thresholds
from learning.models import DatasetSnapshot
from learning.views.common import ADMIN_ONLY


@login_required
@require_GET
def model_versions(request: AuthenticatedHttpRequest) -> HttpResponse:
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
        "learning/model_versions.html",
        {
            "versions": versions,
            "headline_labels": [label for label, _ in selectors.HEADLINE_METRICS],
            "snapshots": snapshots,
        },
    )


@login_required
@require_GET
def model_version_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
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
    background = selectors.background_classes(version)
    for title, values in per_class_plots:
        if isinstance(values, dict) and values:
            with contextlib.suppress(TypeError, ValueError):
                iou = plots.without({str(k): float(v) for k, v in values.items()}, background)
                if iou:
                    plot_svgs.append((title, plots.bars_svg(title, iou)))
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
    return render(request, "learning/model_version.html", context)


def _set_version_number(
    request: AuthenticatedHttpRequest,
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
        return redirect("learning:model_version", pk=pk)
    try:
        setter(version=version, user=request.user, **{field: value})
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("learning:model_version", pk=pk)
    messages.success(request, f"{what.capitalize()} of {version} set to {value:g}.")
    return redirect("learning:model_version", pk=pk)


@login_required
@require_POST
def model_version_threshold(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
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
def model_version_target_precision(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
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
def model_version_status(request: AuthenticatedHttpRequest, pk: int, action: str) -> HttpResponse:
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
        messages.error(request, exc.message)
        return redirect("learning:model_version", pk=pk)
    note = ""
    if version.status == ModelVersion.Status.ACTIVE:
        note = (
            f" New claims go through its damage back end: {version.get_damage_backend_display()}."
        )
    messages.success(request, f"{version} is now {version.get_status_display().lower()}.{note}")
    return redirect("learning:model_version", pk=pk)

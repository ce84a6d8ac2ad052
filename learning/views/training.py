"""Training from the browser (admins only): start a run, follow it, cancel it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.access import require_admin
from common.errors import ApplicationError
from common.http import AuthenticatedHttpRequest
from learning import selectors, services
from learning.forms import TrainingRunForm
from learning.sources import available_sources

ADMIN_ONLY = "Only admins train model versions."


@login_required
@require_GET
def training_runs(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_admin(request.user, ADMIN_ONLY)
    runs = selectors.training_runs()[:50]
    return render(request, "learning/runs.html", {"runs": runs})


@login_required
@require_http_methods(["GET", "POST"])
def training_run_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_admin(request.user, ADMIN_ONLY)
    public = available_sources()
    form = TrainingRunForm(request.POST or None, public=public)
    if request.method == "POST" and form.is_valid():
        try:
            run = services.training_run_create(
                user=request.user,
                start_version=form.cleaned_data["start_version"],
                snapshots=list(form.cleaned_data["snapshots"]),
                public=form.public_choice(),
                schedule=form.schedule(),
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
            for field, errors in exc.errors.items():
                if field in form.fields:
                    for error in errors:
                        form.add_error(field, error)
        else:
            # Tagged so that the run page takes it away once the run has left the queue.
            messages.success(
                request,
                f"Training run {run.pk} is queued for the training worker.",
                extra_tags="run-queued",
            )
            return redirect("learning:run", pk=run.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "learning/new.html", {"form": form}, status=status)


@login_required
@require_GET
def training_run_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    require_admin(request.user, ADMIN_ONLY)
    run = get_object_or_404(selectors.training_runs(), pk=pk)
    return render(
        request,
        "learning/run.html",
        {
            "run": run,
            "document": selectors.progress_document(run=run),
            "snapshots": list(run.snapshots.order_by("pk")),
        },
    )


@login_required
@require_GET
def training_run_progress(request: AuthenticatedHttpRequest, pk: int) -> JsonResponse:
    require_admin(request.user, ADMIN_ONLY)
    run = get_object_or_404(selectors.training_runs(), pk=pk)
    return JsonResponse(selectors.progress_document(run=run))


@login_required
@require_POST
def training_run_cancel(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    require_admin(request.user, ADMIN_ONLY)
    run = get_object_or_404(selectors.training_runs(), pk=pk)
    try:
        run = services.training_run_cancel(run=run, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Training run {run.pk} is cancelled."
            if run.status == run.Status.CANCELLED
            else f"Training run {run.pk} stops at its next step.",
        )
    return redirect("learning:run", pk=pk)

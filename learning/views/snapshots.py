"""Label exports (admins): creating a dataset snapshot and downloading its archive."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET, require_POST

from common.access import require_admin
from common.errors import ApplicationError
from common.http import AuthenticatedHttpRequest
from learning import services
from learning.models import DatasetSnapshot
from learning.views.common import ADMIN_ONLY


@login_required
@require_POST
def snapshot_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_admin(request.user, ADMIN_ONLY)
    try:
        snapshot = services.snapshot_export(
            user=request.user, version=request.POST.get("version") or None
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("learning:model_versions")
    messages.success(
        request,
        f"Exported snapshot {snapshot.version}: {snapshot.images} photos, "
        f"{snapshot.annotations} labels, in {snapshot.path}.",
    )
    return redirect("learning:model_versions")


@login_required
@require_GET
def snapshot_download(request: AuthenticatedHttpRequest, version: str) -> HttpResponseBase:
    require_admin(request.user, ADMIN_ONLY)
    snapshot = get_object_or_404(DatasetSnapshot, version=version)
    try:
        archive = services.snapshot_archive(snapshot=snapshot, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("learning:model_versions")
    return FileResponse(archive.open("rb"), as_attachment=True, filename=archive.name)

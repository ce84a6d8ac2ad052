"""REST endpoints of the model lifecycle for scripts: the label snapshots and their archives
(admins)."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.access import Role, role_of, user_of
from common.api_schema import error
from common.errors import ApplicationError
from learning import services
from learning.api.serializers import SnapshotSerializer
from learning.models import DatasetSnapshot


class IsAdminRole(permissions.BasePermission):
    message = "Only admins export and download labels."

    def has_permission(self, request: Request, view: Any) -> bool:
        return role_of(request.user) == Role.ADMIN


class SnapshotListApi(APIView):
    """Label snapshots, newest first, with their counts and archive links."""

    permission_classes = [permissions.IsAuthenticated, IsAdminRole]

    @extend_schema(responses=SnapshotSerializer(many=True))
    def get(self, request: Request) -> Response:
        snapshots = DatasetSnapshot.objects.order_by("-created_at")[:100]
        return Response(SnapshotSerializer(snapshots, many=True).data)


class SnapshotArchiveApi(APIView):
    """One snapshot as a zip: COCO with RLE, PNG label maps, YOLO labels, the images."""

    permission_classes = [permissions.IsAuthenticated, IsAdminRole]

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiTypes.BINARY,
            409: error("The snapshot's folder is gone from the server; export again"),
        }
    )
    def get(self, request: Request, version: str) -> HttpResponseBase:
        snapshot = get_object_or_404(DatasetSnapshot, version=version)
        try:
            archive = services.snapshot_archive(snapshot=snapshot, user=user_of(request.user))
        except ApplicationError as exc:
            return Response({"detail": exc.message}, status=status.HTTP_409_CONFLICT)
        return FileResponse(archive.open("rb"), as_attachment=True, filename=archive.name)

"""REST endpoints for integrations and scripts: the queue and accept / reject decisions."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from claims.errors import ApplicationError
from claims.roles import Role, role_of
from inference.models import Finding
from review import selectors, services
from review.api.serializers import DecisionOutSerializer, DecisionSerializer, QueueCaseSerializer


class IsReviewer(permissions.BasePermission):
    message = "Only adjusters and admins review cases."

    def has_permission(self, request: Request, view: Any) -> bool:
        return role_of(request.user) in (Role.ADJUSTER, Role.ADMIN)


class QueueApi(APIView):
    permission_classes = [permissions.IsAuthenticated, IsReviewer]

    @extend_schema(responses=QueueCaseSerializer(many=True))
    def get(self, request: Request) -> Response:
        cases = selectors.queue_cases(filters=selectors.QueueFilters())[:100]
        return Response(QueueCaseSerializer(cases, many=True).data)


class FindingDecisionApi(APIView):
    permission_classes = [permissions.IsAuthenticated, IsReviewer]

    @extend_schema(request=DecisionSerializer, responses={201: DecisionOutSerializer})
    def post(self, request: Request, finding_id: int) -> Response:
        body = DecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        finding = get_object_or_404(Finding.objects.select_related("case"), pk=finding_id)
        try:
            decision = services.finding_decide(
                finding=finding, user=request.user, action=body.validated_data["action"]
            )
        except ApplicationError as exc:
            return Response({"error": exc.message}, status=status.HTTP_409_CONFLICT)
        return Response(DecisionOutSerializer(decision).data, status=status.HTTP_201_CREATED)

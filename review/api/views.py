"""REST endpoints for integrations and scripts: the queue, decisions, finishing and reopening a review."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from claims.models import Case
from common.access import Role, role_of, user_of
from common.api_schema import error
from common.errors import ApplicationError
from inference.models import Finding
from review import selectors, services
from review.api.serializers import (
    DecisionOutSerializer,
    DecisionSerializer,
    QueueCaseSerializer,
    ReopenSerializer,
    ReviewedReportSerializer,
    ReviewRoundSerializer,
)


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

    @extend_schema(
        request=DecisionSerializer,
        responses={
            201: DecisionOutSerializer,
            409: error(
                "Refused: someone else holds the case, the decision you replace changed "
                "meanwhile (`supersedes`), or the case is reviewed (reopen it first)"
            ),
        },
    )
    def post(self, request: Request, finding_id: int) -> Response:
        body = DecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        finding = get_object_or_404(Finding.objects.select_related("case"), pk=finding_id)
        try:
            decision = services.finding_decide(
                finding=finding,
                user=user_of(request.user),
                action=body.validated_data["action"],
                supersedes=body.validated_data["supersedes"],
            )
        except ApplicationError as exc:
            return Response({"detail": exc.message}, status=status.HTTP_409_CONFLICT)
        return Response(DecisionOutSerializer(decision).data, status=status.HTTP_201_CREATED)


class CaseFinishApi(APIView):
    """Finish the open review round: the reviewed report is written once; 409 when
    items are still undecided or the case is already reviewed."""

    permission_classes = [permissions.IsAuthenticated, IsReviewer]

    @extend_schema(
        request=None,
        responses={
            201: ReviewedReportSerializer,
            409: error("Items still undecided, the case held by someone else, or already reviewed"),
        },
    )
    def post(self, request: Request, public_id: Any) -> Response:
        case = get_object_or_404(Case, public_id=public_id)
        try:
            report = services.case_finish_review(case=case, user=user_of(request.user))
        except ApplicationError as exc:
            return Response({"detail": exc.message}, status=status.HTTP_409_CONFLICT)
        return Response(ReviewedReportSerializer(report).data, status=status.HTTP_201_CREATED)


class CaseReopenApi(APIView):
    """Reopen a reviewed case for another round (reason required, audited)."""

    permission_classes = [permissions.IsAuthenticated, IsReviewer]

    @extend_schema(
        request=ReopenSerializer,
        responses={
            201: ReviewRoundSerializer,
            409: error("Not reviewed (nothing to reopen), or the case is held by someone else"),
        },
    )
    def post(self, request: Request, public_id: Any) -> Response:
        body = ReopenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        case = get_object_or_404(Case, public_id=public_id)
        try:
            review_round = services.case_reopen(
                case=case, user=user_of(request.user), reason=body.validated_data["reason"]
            )
        except ApplicationError as exc:
            return Response({"detail": exc.message}, status=status.HTTP_409_CONFLICT)
        return Response(ReviewRoundSerializer(review_round).data, status=status.HTTP_201_CREATED)

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from claims import selectors
from claims.api.serializers import (
    CaseCreateSerializer,
    CaseListSerializer,
    CaseSerializer,
    WebhookSerializer,
)
from claims.errors import ApplicationError
from claims.models import ApiClient, Case
from claims.roles import is_staff_role
from claims.services import STAFF_CANNOT_FILE, Upload, case_submit


class CaseListCreateApi(ListAPIView):  # type: ignore[type-arg]
    serializer_class = CaseListSerializer
    parser_classes = [MultiPartParser, FormParser]
    throttle_scope = "uploads"

    def get_throttles(self) -> list[Any]:
        return [ScopedRateThrottle()] if self.request.method == "POST" else []

    def get_queryset(self) -> Any:
        return selectors.cases_visible(user=self.request.user)

    @extend_schema(request=CaseCreateSerializer, responses={201: CaseSerializer})
    def post(self, request: Request) -> Response:
        if is_staff_role(request.user):
            raise PermissionDenied(STAFF_CANNOT_FILE)
        serializer = CaseCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        files = data.pop("photos")
        try:
            case = case_submit(
                customer=request.user,
                uploads=[Upload(name=f.name, stream=f, size=f.size) for f in files],
                **data,
            )
        except ApplicationError as exc:
            raise ValidationError({"detail": exc.message, **exc.errors}) from exc
        return Response(
            CaseSerializer(case, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class CaseDetailApi(APIView):
    @extend_schema(responses=CaseSerializer)
    def get(self, request: Request, public_id: Any) -> Response:
        case: Case = selectors.case_get(user=request.user, public_id=public_id)
        return Response(CaseSerializer(case, context={"request": request}).data)


class WebhookApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(responses=WebhookSerializer)
    def get(self, request: Request) -> Response:
        client, _ = ApiClient.objects.get_or_create(user=request.user)  # type: ignore[misc]
        return Response(WebhookSerializer(client).data)

    @extend_schema(request=WebhookSerializer, responses=WebhookSerializer)
    def put(self, request: Request) -> Response:
        client, _ = ApiClient.objects.get_or_create(user=request.user)  # type: ignore[misc]
        serializer = WebhookSerializer(client, data=request.data)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)

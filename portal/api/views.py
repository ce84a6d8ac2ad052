from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, Throttled, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from claims.models import ApiClient, ApiToken, Case
from claims.services import Upload, case_submit
from common.access import STAFF_CANNOT_FILE, is_staff_role, user_of
from common.api_schema import THROTTLED, error
from common.errors import ApplicationError
from portal import selectors
from portal.api.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    CaseCreateSerializer,
    CaseListSerializer,
    CaseSerializer,
    TokenObtainSerializer,
    WebhookSerializer,
)
from portal.api.tokens import CreatedToken, api_token_create, api_token_revoke, api_tokens_active


class CaseListCreateApi(ListAPIView):  # type: ignore[type-arg]
    serializer_class = CaseListSerializer
    # Photos are files: only multipart/form-data can carry them.
    parser_classes = [MultiPartParser]
    throttle_scope = "uploads"

    def get_throttles(self) -> list[Any]:
        return [ScopedRateThrottle()] if self.request.method == "POST" else []

    def get_queryset(self) -> Any:
        return selectors.cases_visible(user=user_of(self.request.user))

    @extend_schema(
        request=CaseCreateSerializer,
        responses={
            201: CaseSerializer,
            403: error("Staff (adjusters, admins) cannot file claims, or a read-only token"),
            429: THROTTLED,
        },
        description="File a claim with 1 to 30 photos (multipart/form-data, one `photos` "
        "part per file). The case starts `processing`; poll it or set a webhook.",
    )
    def post(self, request: Request) -> Response:
        if is_staff_role(request.user):
            raise PermissionDenied(STAFF_CANNOT_FILE)
        serializer = CaseCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        files = data.pop("photos")
        try:
            case = case_submit(
                customer=user_of(request.user),
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
        case: Case = selectors.case_get(user=user_of(request.user), public_id=public_id)
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


def _validation_error(exc: ApplicationError) -> ValidationError:
    return ValidationError({"detail": exc.message, **exc.errors})


def _created(created: CreatedToken) -> Response:
    data = {**ApiTokenSerializer(created.token).data, "token": created.secret}
    response = Response(data, status=status.HTTP_201_CREATED)
    response["Cache-Control"] = "no-store"  # the secret: no cache keeps a copy
    return response


class ApiTokenListCreateApi(ListAPIView):  # type: ignore[type-arg]
    """The caller's active API tokens; a new one (its secret in this answer only)."""

    serializer_class = ApiTokenSerializer
    parser_classes = [JSONParser, FormParser]

    def get_queryset(self) -> Any:
        return api_tokens_active(user=user_of(self.request.user))

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer})
    def post(self, request: Request) -> Response:
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            created = api_token_create(user=user_of(request.user), **serializer.validated_data)
        except ApplicationError as exc:
            raise _validation_error(exc) from exc
        return _created(created)


class ApiTokenDetailApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, token_id: int) -> Response:
        """Revoke the token: requests that send it are refused (401) from now on."""
        try:
            api_token_revoke(user=user_of(request.user), token_id=token_id)
        except ApiToken.DoesNotExist as exc:
            raise Http404("No such token (or already revoked)") from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenObtainApi(APIView):
    """A user name and password for a new API token, for scripts; throttled by django-axes."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        request=TokenObtainSerializer,
        responses={
            201: ApiTokenCreatedSerializer,
            429: error(
                "Too many failed log-ins for this user name from this address; wait the "
                "Retry-After seconds (the web login shares the count)"
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = TokenObtainSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        # The Django request, not DRF's wrapper: django-axes counts the failure on it and
        # refuses a locked-out user name and address before the password is checked.
        django_request = request._request
        user = authenticate(
            request=django_request, username=data["username"], password=data["password"]
        )
        if getattr(django_request, "axes_locked_out", False):
            # Answered here, as JSON; left set, AxesMiddleware would put the site's HTML
            # lockout page in its place.
            django_request.axes_locked_out = False  # type: ignore[attr-defined]
            raise Throttled(
                wait=settings.AXES_COOLOFF_TIME.total_seconds(),
                detail="Too many failed log-ins for this user name from this address.",
            )
        if user is None:
            raise ValidationError({"detail": "Unable to log in with the user name and password."})
        try:
            created = api_token_create(user=user, name=data["name"], scope=data["scope"])
        except ApplicationError as exc:
            raise _validation_error(exc) from exc
        return _created(created)

"""JSON errors under /api/: an API client never gets one of the site's HTML pages.

DRF already answers errors raised inside its views as `{"detail": "..."}`; these cover the
rest: a URL that matches nothing, an error outside DRF's handling, and the database being
unreachable (503 with Retry-After, so a client backs off and tries again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
DATABASE_RETRY_AFTER_S = 30


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def _detail(message: str, status: int) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        return _detail("Bad request.", 400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        return _detail(str(exception) or "You do not have permission to perform this action.", 403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        return _detail("Not found.", 404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api(request):
        return _detail("Server error; the error was logged.", 500)
    return defaults.server_error(request)


class ApiDatabaseErrorMiddleware:
    """The database being down during an API request is a JSON 503, not an HTML 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api(request) or not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.error(
            "database unavailable during %s %s", request.method, request.path, exc_info=exception
        )
        response = _detail("The database is unavailable; try again in a minute.", 503)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response

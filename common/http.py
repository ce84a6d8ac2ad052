"""The request type of views that read `request.htmx`, so mypy checks what they use.

`django_htmx.middleware.HtmxMiddleware` (in `MIDDLEWARE` for every request) sets
`request.htmx`; Django's `HttpRequest` does not declare it. Annotate such a view's request
as `HtmxHttpRequest`, as django-htmx's documentation shows, and read `request.htmx`
(true for a request htmx sent) instead of `getattr(request, "htmx", False)`.
"""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails

"""Request types for views, so mypy checks what they read from the request.

`AuthenticatedHttpRequest`: a view behind `@login_required` only ever sees a logged-in
user, so its request carries `user: User` instead of Django's `User | AnonymousUser`
(the pattern django-stubs documents); it passes `request.user` to services that take
`user: User` without a cast. Annotate only views behind `@login_required` (and helpers
they alone call) with it: nothing checks at run time that the user is logged in.

`HtmxHttpRequest`: `django_htmx.middleware.HtmxMiddleware` (in `MIDDLEWARE` for every
request) sets `request.htmx`; Django's `HttpRequest` does not declare it. Annotate such a
view's request as `HtmxHttpRequest`, as django-htmx's documentation shows, and read
`request.htmx` (true for a request htmx sent) instead of `getattr(request, "htmx", False)`.
Every view that reads `request.htmx` is behind `@login_required`, so it also carries
`user: User`; a view open to anonymous users that reads `request.htmx` needs its own type
without it.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class AuthenticatedHttpRequest(HttpRequest):
    user: User


class HtmxHttpRequest(AuthenticatedHttpRequest):
    htmx: HtmxDetails

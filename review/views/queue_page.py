"""The review queue: the filtered, paged list of cases and taking the next one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from common.access import require_reviewer
from common.errors import ApplicationError
from common.http import HtmxHttpRequest
from review import selectors, services
from review.views.common import REVIEWER_ONLY, refusal_response

QUEUE_PAGE_SIZE = 50


def _filters(request: HttpRequest) -> selectors.QueueFilters:
    data = request.GET if request.method == "GET" else request.POST
    mv = data.get("model_version", "")
    return selectors.QueueFilters(
        damage=data.get("damage", "")[:50],
        part=data.get("part", "")[:50],
        model_version=int(mv) if mv.isdigit() else None,
        age=data.get("age", "") if data.get("age", "") in selectors.AGE_FILTERS else "",
    )


@login_required
@require_GET
def queue(request: HtmxHttpRequest) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    filters = _filters(request)
    page = Paginator(selectors.queue_cases(filters=filters), QUEUE_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "filters": filters,
        "choices": selectors.queue_filter_choices(),
        "query": "&".join(f"{k}={v}" for k, v in request.GET.items() if k != "page" and v),
        "now": timezone.now(),
    }
    template = "review/_queue_rows.html" if request.htmx else "review/queue.html"
    return render(request, template, context)


@login_required
@require_POST
def queue_next(request: HtmxHttpRequest) -> HttpResponse:
    require_reviewer(request.user, REVIEWER_ONLY)
    candidates = selectors.queue_cases(filters=_filters(request)).ids()[:200]
    if not candidates:  # good news, not an error
        messages.info(request, "The queue is empty: every case is reviewed. Well done.")
        return redirect("review:queue")
    try:
        case = services.lease_claim_next(user=request.user, candidates=candidates)
    except ApplicationError as exc:
        return refusal_response(request, exc, reverse("review:queue"))
    return redirect("review:case", public_id=case.public_id)

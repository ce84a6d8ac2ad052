"""The reviewed report on the customer's case page (platform templates include it)."""

from __future__ import annotations

from typing import Any

from django import template

from claims.models import Case
from review.selectors import case_latest_report

register = template.Library()


@register.inclusion_tag("review/_reviewed_report.html")
def reviewed_report(case: Case) -> dict[str, Any]:
    return {"case": case, "report": case_latest_report(case=case)}

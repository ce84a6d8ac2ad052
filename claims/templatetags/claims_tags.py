from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    """0.004 -> '<1%', 0.437 -> '44%': a share or a confidence as people read it."""
    if value is None:
        return "-"
    pct = float(value) * 100
    if 0 < pct < 0.5:
        return "<1%"
    return f"{pct:.0f}%"

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from claims.submissions import submission_key_clean, submission_key_new

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


@register.simple_tag(takes_context=True)
def submission_key(context: template.Context) -> SafeString:
    """The hidden field that makes a form's sending happen once (`claims.submissions`): a
    new key, or the one the form was sent with when it is shown again after an error.

    A text input with the hidden attribute, not type="hidden": after Back, a browser that
    loads the form again from the server puts back what the person had in its text fields
    and files (Chromium does), never a hidden input's value; submit-once.js makes this
    one's value the person's when they send the form, so that it comes back too (else the
    new page's key would file the claim a second time)."""
    request = context.get("request")
    sent = submission_key_clean(request.POST.get("submission_key")) if request else ""
    return format_html(
        '<input type="text" name="submission_key" value="{}" hidden>',
        sent or submission_key_new(),
    )

"""Live pushes: open case pages refresh when their case changes (over the channel layer,
when there is a cross-process one; the pages also poll)."""

from __future__ import annotations

import logging

from django.conf import settings

logger = logging.getLogger(__name__)


def case_notify(*, case_id: int) -> None:
    """Tell open case pages to refresh (a no-op without a cross-process channel layer)."""
    if not settings.CLAIMS_LIVE_PUSH:
        return
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(f"case-{case_id}", {"type": "case.updated"})
    except Exception:  # a push is a nicety: the page also polls
        logger.warning("could not push an update for case %s", case_id, exc_info=True)

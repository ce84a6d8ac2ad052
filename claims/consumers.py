"""Live case pages: the worker sends `case.updated` to the case's group; the page refetches."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from claims.models import Case
from claims.services import can_view_case


class CaseConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    group: str = ""

    async def connect(self) -> None:
        public_id = self.scope["url_route"]["kwargs"]["public_id"]
        case_pk = await self._allowed_case(public_id)
        if case_pk is None:
            await self.close(code=4404)
            return
        self.group = f"case-{case_pk}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def case_updated(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "case.updated"})

    @database_sync_to_async
    def _allowed_case(self, public_id: Any) -> int | None:
        case = Case.objects.filter(public_id=public_id).first()
        user = self.scope.get("user")
        if case is None or user is None or not can_view_case(user=user, case=case):
            return None
        return case.pk

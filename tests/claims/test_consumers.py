from __future__ import annotations

import datetime as dt
import io

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from claims.routing import websocket_urlpatterns
from claims.services import Upload, case_submit

pytestmark = pytest.mark.django_db(transaction=True)


def _case(customer, vehicle_jpeg):  # type: ignore[no-untyped-def]
    return case_submit(
        customer=customer,
        policy_number="WS-1",
        loss_date=dt.date(2026, 11, 3),
        loss_place="Bridge",
        description="Door dent",
        uploads=[Upload(name="a.jpg", stream=io.BytesIO(vehicle_jpeg))],
    )


async def _connect(user, public_id):  # type: ignore[no-untyped-def]
    app = URLRouter(websocket_urlpatterns)
    communicator = WebsocketCommunicator(app, f"/ws/cases/{public_id}/")
    communicator.scope["user"] = user
    connected, code = await communicator.connect()
    return communicator, connected, code


def test_owner_receives_push(customer, active_model, vehicle_jpeg) -> None:  # type: ignore[no-untyped-def]
    case = _case(customer, vehicle_jpeg)

    async def scenario() -> dict[str, str]:
        communicator, connected, _ = await _connect(customer, case.public_id)
        assert connected
        await get_channel_layer().group_send(f"case-{case.pk}", {"type": "case.updated"})
        message = await communicator.receive_json_from(timeout=2)
        await communicator.disconnect()
        return message

    assert async_to_sync(scenario)() == {"type": "case.updated"}


def test_other_customer_is_refused(customer, other_customer, active_model, vehicle_jpeg) -> None:  # type: ignore[no-untyped-def]
    case = _case(customer, vehicle_jpeg)

    async def scenario() -> tuple[bool, int]:
        communicator, connected, code = await _connect(other_customer, case.public_id)
        await communicator.disconnect()
        return connected, code

    assert async_to_sync(scenario)() == (False, 4404)

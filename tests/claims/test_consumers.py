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


@pytest.mark.parametrize("live_push", [True, False])
def test_case_notify_pushes_only_with_a_shared_layer(  # type: ignore[no-untyped-def]
    live_push: bool, settings, customer, active_model, vehicle_jpeg
) -> None:
    from claims.live import case_notify

    settings.CLAIMS_LIVE_PUSH = live_push
    case = _case(customer, vehicle_jpeg)
    layer = get_channel_layer()

    async def scenario() -> list[dict[str, str]]:
        import asyncio

        channel = await layer.new_channel()
        await layer.group_add(f"case-{case.pk}", channel)
        from asgiref.sync import sync_to_async

        await sync_to_async(case_notify)(case_id=case.pk)
        try:
            return [await asyncio.wait_for(layer.receive(channel), timeout=0.5)]
        except TimeoutError:
            return []

    received = async_to_sync(scenario)()
    assert received == ([{"type": "case.updated"}] if live_push else [])


@pytest.mark.parametrize("live_push", [True, False])
def test_case_page_polls_and_opens_socket_per_setting(  # type: ignore[no-untyped-def]
    live_push: bool, settings, client, customer, active_model, vehicle_jpeg
) -> None:
    settings.CLAIMS_LIVE_PUSH = live_push
    case = _case(customer, vehicle_jpeg)
    client.force_login(customer)
    html = client.get(f"/cases/{case.public_id}/").content.decode()
    # Polls while processing unless a push socket is open (live.js sets casePushOpen).
    assert 'hx-trigger="every 2s [!window.casePushOpen], case-updated"' in html
    socket = f'data-ws="/ws/cases/{case.public_id}/"'
    assert (socket in html) == live_push

"""The live board's WebSocket through a real daphne server: staff with a role receive the network's events
(published on the real Redis channel layer, or caused by a real OCPP client); everyone else is refused."""

import asyncio
import contextlib
import json

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client

from stations.live import live_publish
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def headers_for(server, user=None, origin=None) -> dict[str, str]:
    headers = {"Origin": origin or f"http://127.0.0.1:{server.port}"}
    if user is not None:
        headers["Cookie"] = f"{settings.SESSION_COOKIE_NAME}={await session_cookie(user)}"
    return headers


@contextlib.asynccontextmanager
async def board_socket(server, user):
    headers = await headers_for(server, user)
    async with websockets.connect(f"{server.ws_url}/ws/live/", additional_headers=headers) as ws:
        yield ws


async def handshake_status(server, headers) -> int:
    try:
        async with websockets.connect(f"{server.ws_url}/ws/live/", additional_headers=headers):
            return 101
    except websockets.InvalidStatus as refused:
        return refused.response.status_code
    except websockets.InvalidMessage:
        return 403  # daphne's 403 carries no Content-Length, which some websockets versions do not parse


async def next_event(ws, matching=lambda event: True, within=5.0) -> dict:
    async with asyncio.timeout(within):
        while True:
            event = json.loads(await ws.recv())
            if matching(event):
                return event


async def test_staff_with_a_role_receive_the_events_published_on_the_channel_layer(daphne_server, analyst, technician):
    async with board_socket(daphne_server, analyst) as first, board_socket(daphne_server, technician) as second:
        event = {"kind": "connector", "station": "CP-9", "connector_id": 1, "status": "Charging", "power_w": 7400}
        await live_publish(event)
        assert await next_event(first) == event
        assert await next_event(second) == event
        await live_publish({"kind": "station", "station": "CP-9", "online": False})
        assert (await next_event(first))["online"] is False
        await first.send(json.dumps({"type": "ping"}))
        assert await next_event(first) == {"kind": "pong", "live": True}


@pytest.mark.parametrize("who", ["anonymous", "driver", "staff without a role"])
async def test_the_board_socket_is_refused_to_anyone_without_a_board_role(
    daphne_server, who, driver, django_user_model
):
    user = {
        "anonymous": None,
        "driver": driver,
        "staff without a role": await sync_to_async(django_user_model.objects.create_user)(
            email="plain@example.com", password="plain-pass-123", is_staff=True
        ),
    }[who]
    assert await handshake_status(daphne_server, await headers_for(daphne_server, user)) == 403


async def test_the_board_socket_refuses_pages_of_other_sites(daphne_server, analyst):
    assert await handshake_status(daphne_server, await headers_for(daphne_server, analyst)) == 101
    foreign = await headers_for(daphne_server, analyst, origin="https://evil.example.com")
    assert await handshake_status(daphne_server, foreign) == 403


@pytest.mark.parametrize(
    "origin",
    ["http://127.0.0.1:9999", "https://127.0.0.1:{port}", "http://127.0.0.1", "null", ""],
)
async def test_the_board_socket_refuses_another_port_or_scheme_of_the_portal_host(daphne_server, finance_user, origin):
    """Finance reads the live board; a page on another port of the same host (another app) must not."""
    headers = await headers_for(daphne_server, finance_user, origin=origin.format(port=daphne_server.port) or None)
    if not origin:
        del headers["Origin"]
    assert await handshake_status(daphne_server, headers) == 403
    assert await handshake_status(daphne_server, await headers_for(daphne_server, finance_user)) == 101


async def test_a_real_station_status_change_reaches_the_board(daphne_server, make_station, analyst):
    """Needs the OCPP layer to publish live events (stations.live.live_publish in the services/consumer)."""
    await sync_to_async(make_station)(ocpp_id="CP-LIVE")
    async with board_socket(daphne_server, analyst) as board:
        async with ocpp_connection(daphne_server, "CP-LIVE", STATION_PASSWORD) as station:
            from ocpp.v16 import call

            await station.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
            await station.call(call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted"))
            event = await next_event(
                board,
                lambda e: (
                    e.get("kind") == "connector" and e.get("station") == "CP-LIVE" and e.get("status") == "Faulted"
                ),
            )
            assert event["connector_id"] == 1 and event["error_code"] == "GroundFailure"
        went = await next_event(
            board, lambda e: e.get("kind") == "station" and e.get("station") == "CP-LIVE" and e.get("online") is False
        )
        assert went["online"] is False

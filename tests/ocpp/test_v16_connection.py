"""A connection's life: commands in flight when it ends, a consumer that crashes, and reconnect storms."""

import asyncio
import base64
import json
import time

import pytest
from asgiref.sync import sync_to_async
from channels.generic import websocket
from channels.testing import WebsocketCommunicator
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from stations.models import Station
from stations.protocol.commands import station_call
from stations.protocol.connection import ConsumerConnection
from stations.services import station_authenticate
from tests.factories import STATION_PASSWORD
from tests.ocpp.test_v16_framing import call as call_frame
from tests.ocpp.test_v16_framing import raw_station
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)


class SlowToReset(ChargePoint):
    """Takes its time over a Reset: the command is still in flight when the test disconnects it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.resetting = asyncio.Event()

    @on(Action.reset)
    async def on_reset(self, type, **_):
        self.resetting.set()
        await asyncio.sleep(30)
        return call_result.Reset(status="Accepted")


async def online(ocpp_id: str, expected: bool = True, timeout: float = 5.0) -> bool:
    async def as_expected() -> bool:
        return (await Station.objects.aget(ocpp_id=ocpp_id)).is_online == expected

    await until(as_expected, within=timeout, every=0.02, quiet=True)
    return (await Station.objects.aget(ocpp_id=ocpp_id)).is_online


async def test_a_command_in_flight_reports_offline_as_soon_as_the_station_disconnects(daphne_server, make_station):
    station = await sync_to_async(make_station)("CP-1")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD, client_class=SlowToReset) as cp:
        await cp.call(call.Heartbeat())
        command = asyncio.create_task(
            station_call(station=station, action="Reset", payload={"type": "Soft"}, timeout=20)
        )
        await asyncio.wait_for(cp.resetting.wait(), 5)
        disconnected_at = time.monotonic()
    command = await asyncio.wait_for(command, 5)
    assert time.monotonic() - disconnected_at < 2  # not the 20 s the caller was ready to wait
    assert (command.status, command.error_description) == ("offline", "The station disconnected before answering.")


async def test_an_answer_sent_just_before_the_station_disconnects_still_reaches_the_caller(daphne_server, make_station):
    station = await sync_to_async(make_station)("CP-1")
    async with raw_station(daphne_server, "CP-1") as ws:
        await call_frame(ws, "h1", "Heartbeat", {})
        command = asyncio.create_task(
            station_call(station=station, action="Reset", payload={"type": "Soft"}, timeout=20)
        )
        reset = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reset[2] == "Reset"
        # A call of its own, the answer, and gone at once (a station that reboots): the answer reaches the
        # server while it is still busy with that call, and the connection ends before the answer is read.
        await ws.send(json.dumps([2, "a1", "Authorize", {"idTag": "TAG-1"}]))
        await ws.send(json.dumps([3, reset[1], {"status": "Accepted"}]))
        ws.transport.abort()
    command = await asyncio.wait_for(command, 5)
    assert (command.status, command.response) == ("answered", {"status": "Accepted"})


def auth_headers(ocpp_id: str) -> list[tuple[bytes, bytes]]:
    token = base64.b64encode(f"{ocpp_id}:{STATION_PASSWORD}".encode())
    return [(b"authorization", b"Basic " + token)]


async def test_a_consumer_that_crashes_still_records_its_station_offline(consumer_here, make_station, monkeypatch):
    await sync_to_async(make_station)("CP-1")

    def broken_feed(self, data):
        raise RuntimeError("a bug in the wire layer")

    monkeypatch.setattr(ConsumerConnection, "feed", broken_feed)
    communicator = WebsocketCommunicator(
        consumer_here, "/ocpp/CP-1", headers=auth_headers("CP-1"), subprotocols=["ocpp1.6"]
    )
    assert await communicator.connect(timeout=5) == (True, "ocpp1.6")
    assert await online("CP-1")
    await communicator.send_to(text_data='[2, "h1", "Heartbeat", {}]')
    # The consumer dies with the exception, and never gets a disconnect from the server.
    with pytest.raises(RuntimeError, match="a bug in the wire layer"):
        await communicator.wait(timeout=5)
    assert not await online("CP-1", expected=False)


async def test_a_consumer_cancelled_by_the_server_records_its_station_offline(consumer_here, make_station):
    await sync_to_async(make_station)("CP-1")
    communicator = WebsocketCommunicator(
        consumer_here, "/ocpp/CP-1", headers=auth_headers("CP-1"), subprotocols=["ocpp1.6"]
    )
    assert await communicator.connect(timeout=5) == (True, "ocpp1.6")
    assert await online("CP-1")
    # What daphne does to an application instance that does not end in time.
    communicator.future.cancel()
    with pytest.raises(asyncio.CancelledError):
        await communicator.future
    assert not await online("CP-1", expected=False)


async def test_a_closed_connection_does_not_hop_to_the_sync_thread_to_close_its_database_connections(
    consumer_here, make_station, monkeypatch
):
    """Channels' consumer does (a hop into its one sync thread for every closed socket, a storm's refusals
    included); this one does no database work there."""
    await sync_to_async(make_station)("CP-1")
    hops = []

    async def close_old_connections():
        hops.append(1)

    monkeypatch.setattr(websocket, "aclose_old_connections", close_old_connections)
    communicator = WebsocketCommunicator(
        consumer_here, "/ocpp/CP-1", headers=auth_headers("CP-1"), subprotocols=["ocpp1.6"]
    )
    assert await communicator.connect(timeout=5) == (True, "ocpp1.6")
    assert await online("CP-1")
    await communicator.disconnect()
    assert not await online("CP-1", expected=False)
    assert hops == []


def test_a_password_verified_once_is_not_hashed_again_but_a_wrong_one_is_still_refused(make_station, monkeypatch):
    make_station("CP-1")
    assert station_authenticate(ocpp_id="CP-1", password=STATION_PASSWORD) is not None

    def no_more_hashing(self, raw_password):
        raise AssertionError("the password was hashed again")

    monkeypatch.setattr(Station, "check_password", no_more_hashing)
    assert station_authenticate(ocpp_id="CP-1", password=STATION_PASSWORD) is not None
    assert station_authenticate(ocpp_id="CP-1", password="not-the-password") is None


def test_a_changed_password_refuses_the_old_one_at_once(make_station):
    station = make_station("CP-1")
    assert station_authenticate(ocpp_id="CP-1", password=STATION_PASSWORD) is not None
    station.set_password("a-brand-new-password-1")
    station.save()
    assert station_authenticate(ocpp_id="CP-1", password=STATION_PASSWORD) is None
    assert station_authenticate(ocpp_id="CP-1", password="a-brand-new-password-1") is not None


async def test_a_reconnect_storm_is_served_in_arrival_order_and_every_station_gets_online(daphne_server, make_station):
    ids = [f"CP-{n}" for n in range(60)]
    for ocpp_id in ids:
        await sync_to_async(make_station)(ocpp_id)

    async def one(ocpp_id):
        async with ocpp_connection(daphne_server, ocpp_id, STATION_PASSWORD) as cp:
            return (await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))).status

    assert await asyncio.gather(*(one(ocpp_id) for ocpp_id in ids)) == ["Accepted"] * len(ids)
    assert await Station.objects.filter(ocpp_id__in=ids, last_boot_at__isnull=False).acount() == len(ids)

"""Station identity at the WebSocket handshake: who may connect, with which subprotocol, and replacement."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from ocpp.v16 import call

from stations.models import Station
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import basic_auth_header, handshake_status, ocpp_connection
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)


async def test_registered_station_with_its_password_boots_and_heartbeats(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        boot = await cp.call(
            call.BootNotification(
                charge_point_vendor="Alfen",
                charge_point_model="Eve Single",
                charge_point_serial_number="SN-77",
                firmware_version="5.8.1",
                iccid="8931",
                imsi="2040",
                meter_type="MID",
                meter_serial_number="M-1",
            )
        )
        assert boot.status == "Accepted"
        assert boot.interval == 300
        heartbeat = await cp.call(call.Heartbeat())
        assert heartbeat.current_time
        # Answered at once; the writer records it a moment later (stations.protocol.heartbeats).
        heard = Station.objects.filter(ocpp_id="CP-1", last_heartbeat_at__isnull=False)
        await until(heard.aexists, what="heartbeat recorded")
        station = await Station.objects.aget(ocpp_id="CP-1")
    assert station.is_online and station.ocpp_version == "1.6"
    assert (station.vendor, station.model, station.serial_number, station.firmware_version) == (
        "Alfen",
        "Eve Single",
        "SN-77",
        "5.8.1",
    )
    assert (station.iccid, station.imsi, station.meter_type) == ("8931", "2040", "MID")
    assert station.meter_serial_number == "M-1"


async def test_station_is_marked_offline_when_it_disconnects(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD):
        pass
    for _ in range(50):
        station = await Station.objects.aget(ocpp_id="CP-1")
        if not station.is_online:
            break
        await asyncio.sleep(0.05)
    assert not station.is_online


async def test_wrong_password_is_refused_at_the_handshake(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1")
    assert await handshake_status(daphne_server, "CP-1", basic_auth_header("CP-1", "wrong")) == 403


async def test_missing_password_is_refused_at_the_handshake(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1")
    assert await handshake_status(daphne_server, "CP-1") == 403


async def test_password_of_another_station_is_refused(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1")
    await sync_to_async(make_station)("CP-2", password="other-password")
    assert await handshake_status(daphne_server, "CP-1", basic_auth_header("CP-2", "other-password")) == 403


async def test_unknown_station_is_refused(daphne_server, db):
    assert await handshake_status(daphne_server, "NOBODY", basic_auth_header("NOBODY", "x")) == 403
    assert not await Station.objects.filter(ocpp_id="NOBODY").aexists()


async def test_missing_or_unsupported_subprotocol_is_refused(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1")
    headers = basic_auth_header("CP-1", STATION_PASSWORD)
    assert await handshake_status(daphne_server, "CP-1", headers, subprotocols=()) == 403
    assert await handshake_status(daphne_server, "CP-1", headers, subprotocols=("ocpp1.5",)) == 403


async def test_second_connection_with_the_same_id_replaces_the_first(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as first:
        async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as second:
            await asyncio.wait_for(first.websocket.wait_closed(), timeout=5)
            assert first.websocket.close_code == 4000
            heartbeat = await second.call(call.Heartbeat())
            assert heartbeat.current_time
            station = await Station.objects.aget(ocpp_id="CP-1")
            assert station.is_online


async def test_a_connection_on_another_node_replaces_the_first_and_leaves_the_station_online(
    node_servers, make_station
):
    await sync_to_async(make_station)("CP-1")
    node_a, node_b = node_servers(), node_servers()
    async with ocpp_connection(node_a, "CP-1", STATION_PASSWORD) as first:
        await until(lambda: Station.objects.filter(ocpp_id="CP-1", is_online=True).aexists(), what="CP-1 online")
        async with ocpp_connection(node_b, "CP-1", STATION_PASSWORD) as second:
            await asyncio.wait_for(first.websocket.wait_closed(), timeout=5)
            assert first.websocket.close_code == 4000
            assert (await second.call(call.Heartbeat())).current_time
            # The first connection's end does not record the station offline under the second.
            await asyncio.sleep(0.5)
            station = await Station.objects.aget(ocpp_id="CP-1")
            assert station.is_online and station.node_id is not None

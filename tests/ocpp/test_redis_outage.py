"""Redis away from a server: its stations are served from PostgreSQL, only commands and live events pause.

The server under test reaches Redis through the fault suite's TCP proxy, which the test cuts (every
connection reset, new ones refused) and restores; the system Redis the other tests use is not touched.
"""

import asyncio
import json
from pathlib import Path

import pytest
import requests
import websockets
from asgiref.sync import sync_to_async
from django.conf import settings
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from rest_framework.authtoken.models import Token

from accounts.models import IdToken
from sessions.models import MeterSample, Transaction
from stations.models import Station, StationCommand
from stations.protocol.commands import station_call
from tests.factories import STATION_PASSWORD
from tests.faults.conftest import redis_proxy  # noqa: F401 - the fault suite's Redis proxy
from tests.monitoring.test_live_board import headers_for
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

START, STOP = "2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z"


class Station16(ChargePoint):
    @on(Action.clear_cache)
    def on_clear_cache(self):
        return call_result.ClearCache(status="Accepted")


def http(method: str, url: str, **kwargs):
    return sync_to_async(requests.request, thread_sensitive=False)(method, url, timeout=20, **kwargs)


async def serve_a_whole_session(cp) -> int:
    """Every kind of call a station makes while charging; each must be answered."""
    boot = await cp.call(call.BootNotification(charge_point_vendor="Voltgrid", charge_point_model="Outage"))
    assert boot.status == "Accepted"
    await cp.call(call.Heartbeat())
    started = await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG-1", meter_start=1000, timestamp=START))
    assert started.id_tag_info["status"] == "Accepted"
    sample = {"timestamp": "2026-01-01T10:30:00Z", "sampled_value": [{"value": "1600", "unit": "Wh"}]}
    await cp.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id, meter_value=[sample]))
    await cp.call(call.StopTransaction(transaction_id=started.transaction_id, meter_stop=2500, timestamp=STOP))
    return started.transaction_id


@pytest.mark.django_db(transaction=True)
async def test_stations_are_served_while_redis_is_away_and_commands_reach_them_once_it_is_back(
    node_servers,
    redis_proxy,  # noqa: F811
    make_station,
    operator_admin,
):
    for ocpp_id in ("CP-1", "CP-2"):
        await sync_to_async(make_station)(ocpp_id)
    await IdToken.objects.acreate(token="TAG-1")
    api = {"Authorization": f"Token {(await Token.objects.acreate(user=operator_admin)).key}"}
    node = node_servers(REDIS_URL=redis_proxy.through(settings.REDIS_URL), CMS_OCPP_NODE_RENEW_SECONDS="0.5")

    async with ocpp_connection(node, "CP-1", STATION_PASSWORD, client_class=Station16) as cp1:
        await until(lambda: Station.objects.filter(ocpp_id="CP-1", is_online=True).aexists(), what="CP-1 online")
        redis_proxy.cut()

        await asyncio.sleep(2)  # the outage used to close every socket within a second
        transaction_id = await serve_a_whole_session(cp1)
        # A station connecting meanwhile is accepted and served too.
        async with ocpp_connection(node, "CP-2", STATION_PASSWORD) as cp2_during:
            await cp2_during.call(call.Heartbeat())
            assert await Station.objects.filter(ocpp_id="CP-2", is_online=True).aexists()

            health = await http("GET", f"{node.http_url}/healthz")
            assert health.status_code == 503 and health.json()["redis"].startswith("error")
            # A command cannot travel without Redis: a clear 503, not a 500, and nothing was sent.
            refused = await http(
                "POST",
                f"{node.http_url}/api/stations/CP-1/calls/",
                headers=api,
                json={"action": "ClearCache", "payload": {}},
            )
            assert refused.status_code == 503, refused.text
            assert refused.json()["status"] == "unavailable" and "Redis" in refused.json()["error_description"]
            assert not cp1.websocket.close_code and not cp2_during.websocket.close_code
            # The live board still opens; it says it is not live until its next ping joins after the outage.
            board = await websockets.connect(
                f"{node.ws_url}/ws/live/", additional_headers=await headers_for(node, operator_admin)
            )
            await board.send(json.dumps({"type": "ping"}))
            assert json.loads(await board.recv()) == {"kind": "pong", "live": False}

            redis_proxy.restore()
            await until(lambda: _healthy(node), within=15, what="the server's health check passes again")
            # The connection accepted during the outage is replaced by a newer connection of the same station,
            # as outside an outage.
            await asyncio.sleep(1.5)  # the channel receive's back-off
            async with ocpp_connection(node, "CP-2", STATION_PASSWORD) as cp2_again:
                await until(lambda: cp2_during.websocket.close_code == 4000, what="the older CP-2 socket replaced")
                await cp2_again.call(call.Heartbeat())
            await board.send(json.dumps({"type": "ping"}))
            assert json.loads(await board.recv()) == {"kind": "pong", "live": True}
            await board.close()

        # Pooled Redis connections broken by the outage are replaced, not failed once more: first try.
        answered = await http(
            "POST",
            f"{node.http_url}/api/stations/CP-1/calls/",
            headers=api,
            json={"action": "ClearCache", "payload": {}},
        )
        assert answered.status_code == 200, answered.text
        assert answered.json()["response"] == {"status": "Accepted"}
        # And from another process (this one), through Redis to the node.
        station = await Station.objects.aget(ocpp_id="CP-1")
        command = await station_call(station=station, action="ClearCache", payload={}, timeout=5)
        assert command.status == StationCommand.Status.ANSWERED

    # The station's goodbye after the outage meets no broken pooled connection either.
    await until(lambda: Station.objects.filter(ocpp_id="CP-1", is_online=False).aexists(), what="CP-1 offline")
    log = Path(node.log_path).read_text()
    assert log.count("channel layer unreachable") == 1, "the outage is logged once, and nothing fails after it"
    assert "group commit failed" not in log

    session = await Transaction.objects.aget(pk=transaction_id)
    assert (session.status, session.meter_start, session.meter_stop) == (Transaction.Status.COMPLETED, 1000, 2500)
    assert [s.value async for s in MeterSample.objects.filter(transaction=session)] == [1600]
    station = await Station.objects.aget(ocpp_id="CP-1")
    assert station.vendor == "Voltgrid" and station.last_heartbeat_at is not None


async def _healthy(node) -> bool:
    return (await http("GET", f"{node.http_url}/healthz")).status_code == 200

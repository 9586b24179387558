"""A server killed outright loses nothing it acknowledged, and the station's replayed queue counts nothing twice."""

import signal

import pytest
from asgiref.sync import sync_to_async
from ocpp.v16 import call

from accounts.models import IdToken
from sessions.models import MeterSample, Transaction
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection

pytestmark = pytest.mark.django_db(transaction=True)

START = "2026-01-01T10:00:00+00:00"


def meter(timestamp: str, wh: int, transaction_id: int) -> call.MeterValues:
    sample = {"timestamp": timestamp, "sampled_value": [{"value": str(wh), "unit": "Wh"}]}
    return call.MeterValues(connector_id=1, transaction_id=transaction_id, meter_value=[sample])


async def test_a_killed_server_keeps_what_it_answered_and_the_replayed_queue_changes_nothing(
    node_servers, make_station
):
    await sync_to_async(make_station)("CP-R")
    await IdToken.objects.acreate(token="ANY")
    first = await sync_to_async(node_servers)()
    async with ocpp_connection(first, "CP-R", STATION_PASSWORD) as cp:
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="ANY", meter_start=1000, timestamp=START))
        await cp.call(meter("2026-01-01T10:15:00+00:00", 1600, started.transaction_id))
        first.process.send_signal(signal.SIGKILL)  # no disconnect handling, no flush: only what was committed
        first.process.wait(timeout=10)

    second = await sync_to_async(node_servers)()
    async with ocpp_connection(second, "CP-R", STATION_PASSWORD) as cp:
        # The station never saw answers it could trust after the crash, so it replays its whole queue.
        replayed = await cp.call(call.StartTransaction(connector_id=1, id_tag="ANY", meter_start=1000, timestamp=START))
        await cp.call(meter("2026-01-01T10:15:00+00:00", 1600, started.transaction_id))
        await cp.call(meter("2026-01-01T10:30:00+00:00", 2200, started.transaction_id))
        await cp.call(
            call.StopTransaction(
                transaction_id=started.transaction_id, meter_stop=2500, timestamp="2026-01-01T10:45:00+00:00"
            )
        )

    assert replayed.transaction_id == started.transaction_id
    assert await Transaction.objects.acount() == 1
    session = await Transaction.objects.aget(pk=started.transaction_id)
    assert (session.status, session.energy_wh) == (Transaction.Status.COMPLETED, 1500)
    assert sorted([s.value async for s in MeterSample.objects.filter(transaction=session)]) == [1600, 2200]

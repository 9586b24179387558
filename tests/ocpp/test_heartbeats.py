"""Heartbeats are answered at once and recorded by the hot path's writer in its next transaction
(``stations.protocol.heartbeats``): the consumer and the writer run in this test process, so the writer can be held."""

import json
import logging

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from stations import services
from stations.models import Station
from tests.ocpp.test_v16_connection import auth_headers, online
from tests.ocpp.test_v16_group_commit import hold_the_writer
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)


async def connected(consumer_here, subprotocol="ocpp1.6") -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        consumer_here, "/ocpp/CP-1", headers=auth_headers("CP-1"), subprotocols=[subprotocol]
    )
    assert await communicator.connect(timeout=5) == (True, subprotocol)
    assert await online("CP-1")  # recorded by the writer, which the tests then hold
    return communicator


async def heartbeat(communicator, unique_id: str) -> list:
    await communicator.send_to(text_data=json.dumps([2, unique_id, "Heartbeat", {}]))
    return json.loads(await communicator.receive_from(timeout=5))


def recorded():
    return Station.objects.filter(ocpp_id="CP-1", last_heartbeat_at__isnull=False).aexists()


@pytest.mark.parametrize("subprotocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_a_heartbeat_is_answered_while_the_writer_is_busy_and_recorded_once_it_is_free(
    consumer_here, group_commit_here, make_station, subprotocol
):
    await sync_to_async(make_station)("CP-1")
    communicator = await connected(consumer_here, subprotocol)
    release, held = await hold_the_writer(group_commit_here)
    answer = await heartbeat(communicator, "h1")
    assert answer[:2] == [3, "h1"] and answer[2]["currentTime"]
    assert not await recorded()
    release.set()
    await held
    await until(recorded, what="heartbeat recorded")
    await communicator.disconnect()


async def test_a_station_s_heartbeats_queued_while_the_writer_is_busy_are_one_write(
    consumer_here, group_commit_here, make_station
):
    await sync_to_async(make_station)("CP-1")
    communicator = await connected(consumer_here)
    release, held = await hold_the_writer(group_commit_here)
    for n in range(5):
        assert (await heartbeat(communicator, f"h{n}"))[:2] == [3, f"h{n}"]
    assert len(group_commit_here._waiting) == 1
    release.set()
    await held
    await until(recorded, what="heartbeat recorded")
    await communicator.disconnect()


async def test_a_heartbeat_whose_write_fails_is_logged_and_the_next_one_is_recorded(
    consumer_here, group_commit_here, make_station, monkeypatch, caplog
):
    await sync_to_async(make_station)("CP-1")
    communicator = await connected(consumer_here)
    record = services.station_heartbeats_record

    def fails(*, stations):
        raise RuntimeError("PostgreSQL went away")

    monkeypatch.setattr(services, "station_heartbeats_record", fails)
    with caplog.at_level(logging.ERROR):
        assert (await heartbeat(communicator, "h1"))[:2] == [3, "h1"]
        # In the batch, then alone: both refused.
        await until(lambda: "writes nobody waited for were not stored" in caplog.text, what="failure logged")
    monkeypatch.setattr(services, "station_heartbeats_record", record)
    assert not await recorded()
    assert (await heartbeat(communicator, "h2"))[:2] == [3, "h2"]
    await until(recorded, what="the next heartbeat recorded")
    await communicator.disconnect()

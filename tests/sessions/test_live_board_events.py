"""The live board hears of a session opening and ending whichever version the station speaks: a 2.0.1 session
announces itself once it is open on a known EVSE, as a 1.6 StartTransaction does, through the real channel layer."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from sessions.services import PresentedIdToken, SessionEvent, session_event_record
from stations.live import NETWORK_GROUP

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 1, 1, 10, tzinfo=UTC)
TAG = PresentedIdToken("TAG-1", "ISO14443")


@pytest.fixture
def board():
    """A listener in the live board's group: ``board()`` answers the transaction events heard so far."""
    layer = get_channel_layer()
    # A plain channel name (not new_channel's process-local one): received straight from Redis, on any loop.
    channel = f"test.board.{uuid.uuid4().hex}"
    async_to_sync(layer.group_add)(NETWORK_GROUP, channel)

    async def drain():
        heard = []
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), timeout=0.5)
            except TimeoutError:
                return heard
            for event in message["events"]:
                if event.get("kind") == "transaction":
                    heard.append((event["state"], event["connector_id"]))

    yield async_to_sync(drain)
    async_to_sync(layer.group_discard)(NETWORK_GROUP, channel)


def event(event_type, seq_no, minutes, trigger, **fields) -> SessionEvent:
    values = {"transaction_id": "TX-LIVE", "timestamp": START + timedelta(minutes=minutes)} | fields
    return SessionEvent(event_type=event_type, seq_no=seq_no, trigger_reason=trigger, **values)


def test_a_201_session_is_announced_open_once_and_then_stopped(station, celery_eager, board):
    session_event_record(station=station, event=event("Started", 0, 0, "Authorized", evse_id=1, id_token=TAG))
    session_event_record(station=station, event=event("Updated", 1, 5, "MeterValuePeriodic"))
    session_event_record(station=station, event=event("Updated", 1, 5, "MeterValuePeriodic"))  # a replay
    assert board() == [("started", 1)]
    session_event_record(station=station, event=event("Ended", 2, 9, "StopAuthorized", stopped_reason="Local"))
    assert board() == [("stopped", 1)]


def test_a_201_session_whose_evse_comes_later_is_announced_when_it_does(station, celery_eager, board):
    session_event_record(station=station, event=event("Started", 0, 0, "CablePluggedIn"))
    assert board() == []
    session_event_record(station=station, event=event("Updated", 1, 1, "Authorized", evse_id=2, id_token=TAG))
    assert board() == [("started", 2)]


def test_an_offline_queue_delivering_only_the_end_announces_no_opening(station, celery_eager, board):
    session_event_record(
        station=station, event=event("Ended", 3, 9, "StopAuthorized", evse_id=1, stopped_reason="Local")
    )
    assert board() == [("stopped", 1)]

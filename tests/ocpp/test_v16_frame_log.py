"""The station message log: every frame on the wire, both directions, with latencies; and its retention."""

import asyncio
import json
import threading
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connections, transaction
from django.utils import timezone
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from stations.models import OcppMessage, Station
from stations.protocol.commands import station_call
from stations.tasks import purge_ocpp_messages
from tests.factories import STATION_PASSWORD
from tests.ocpp.test_v16_group_commit import hold_the_writer
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)

IN, OUT = OcppMessage.Direction.IN, OcppMessage.Direction.OUT


class ClearsItsCache(ChargePoint):
    @on(Action.clear_cache)
    def on_clear_cache(self):
        return call_result.ClearCache(status="Accepted")


async def logged(count: int, timeout: float = 5.0) -> list[OcppMessage]:
    """The log once it holds ``count`` frames (it is written in batches, a few milliseconds late)."""

    async def enough() -> bool:
        return await OcppMessage.objects.acount() >= count

    await until(enough, within=timeout, every=0.02, quiet=True)
    return [row async for row in OcppMessage.objects.order_by("created_at")]


async def test_calls_from_the_station_and_our_answers_are_logged_with_our_latency(daphne_server, make_station):
    station = await sync_to_async(make_station)("CP-1")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"), unique_id="boot-1")
        await cp.call(call.Heartbeat(), unique_id="beat-1")
        rows = await logged(4)
    assert [(r.direction, r.message_type, r.action, r.unique_id) for r in rows] == [
        (IN, 2, "BootNotification", "boot-1"),
        (OUT, 3, "BootNotification", "boot-1"),
        (IN, 2, "Heartbeat", "beat-1"),
        (OUT, 3, "Heartbeat", "beat-1"),
    ]
    assert all(row.station_id == station.pk for row in rows)
    assert rows[0].payload == {"chargePointVendor": "V", "chargePointModel": "M"}
    assert rows[1].payload["status"] == "Accepted"
    assert rows[0].latency_ms is None and rows[1].latency_ms >= 0
    assert (await Station.objects.aget(pk=station.pk)).last_seen_at >= rows[2].created_at


async def test_bad_frames_and_their_callerrors_are_logged(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        await cp.websocket.send('[2, "bad-1", "Heartbeat", {')
        await cp.websocket.send(json.dumps([2, "x" * 100, "Heartbeat", {}]))
        rows = await logged(4)
    frame, answer, long_id, long_id_answer = rows
    assert (frame.direction, frame.message_type, frame.unique_id, frame.payload) == (IN, 2, "bad-1", None)
    assert frame.raw == '[2, "bad-1", "Heartbeat", {'
    assert (answer.direction, answer.message_type, answer.unique_id, answer.error_code) == (
        OUT,
        4,
        "bad-1",
        "FormationViolation",
    )
    assert answer.latency_ms >= 0
    assert long_id.unique_id == long_id_answer.unique_id == "x" * 64
    assert long_id_answer.error_code == "TypeConstraintViolation"


async def test_commands_to_the_station_and_its_answers_are_logged_with_its_latency(daphne_server, make_station):
    station = await sync_to_async(make_station)("CP-1")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD, client_class=ClearsItsCache) as cp:
        await cp.call(call.Heartbeat())  # the connection is registered before the command is sent
        cleared = await station_call(station=station, action="ClearCache", payload={})
        refused = await station_call(station=station, action="GetLocalListVersion", payload={})
        rows = await logged(6)
    assert (cleared.status, refused.status) == ("answered", "call_error")
    commands = [(r.direction, r.message_type, r.action, r.error_code) for r in rows[2:]]
    assert commands == [
        (OUT, 2, "ClearCache", ""),
        (IN, 3, "ClearCache", ""),
        (OUT, 2, "GetLocalListVersion", ""),
        (IN, 4, "GetLocalListVersion", "NotImplemented"),
    ]
    assert rows[3].payload == {"status": "Accepted"} and rows[3].latency_ms >= 0
    assert rows[5].latency_ms >= 0 and rows[2].unique_id == rows[3].unique_id


async def test_frames_are_written_in_one_batch_when_enough_wait_or_on_flush(make_station, group_commit_here):
    from stations.protocol.framing.log import FrameLog, FrameRecord

    station = await sync_to_async(make_station)("CP-1")
    log = FrameLog(flush_interval=3600, batch_size=3)

    def record(unique_id):
        log.record(FrameRecord(station.pk, IN, 2, "Heartbeat", unique_id, {}, "", "", None, timezone.now()))

    record("1")
    record("2")
    await asyncio.sleep(0.05)
    assert not await OcppMessage.objects.aexists()  # two frames, and the interval is an hour away
    record("3")
    assert len(await logged(3)) == 3
    record("4")
    await log.flush()
    assert await OcppMessage.objects.acount() == 4


async def test_the_log_is_written_beside_the_hot_path_s_writer_not_in_its_transactions(make_station, group_commit_here):
    """Stations wait for the writer's transactions; a COPY of the log in one of them made it 7 ms longer."""
    from stations.protocol.framing.log import FrameLog, FrameRecord

    station = await sync_to_async(make_station)("CP-1")
    log = FrameLog(flush_interval=3600, batch_size=100)
    release, held = await hold_the_writer(group_commit_here)
    try:
        log.record(FrameRecord(station.pk, IN, 2, "Heartbeat", "1", {}, "", "", None, timezone.now()))
        await asyncio.wait_for(log.flush(), 5)
        assert await OcppMessage.objects.acount() == 1
    finally:
        release.set()
        await held


def test_a_station_row_locked_meanwhile_does_not_hold_the_log_up(make_station):
    """The writer's transaction holds the rows of the stations it serves; the log skips their last_seen_at."""
    from stations.protocol.framing.log import FrameRecord
    from stations.services import ocpp_messages_store

    station = make_station("CP-1")
    locked, release = threading.Event(), threading.Event()

    def hold_the_row():
        with transaction.atomic():
            Station.objects.select_for_update().get(pk=station.pk)
            locked.set()
            release.wait(5)
        connections.close_all()

    def frame(unique_id):
        return FrameRecord(station.pk, IN, 2, "Heartbeat", unique_id, {}, "", "", None, timezone.now())

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    assert locked.wait(5)
    try:
        ocpp_messages_store(records=[frame("1")])
        station.refresh_from_db()
        assert station.last_seen_at is None  # skipped, not waited for
        assert OcppMessage.objects.count() == 1
    finally:
        release.set()
        holder.join()
    ocpp_messages_store(records=[frame("2")])
    station.refresh_from_db()
    assert station.last_seen_at is not None


def test_retention_purges_older_frames_in_batches(make_station, settings):
    settings.CMS_OCPP_MESSAGE_RETENTION_DAYS = 7
    station = make_station("CP-1")
    now = timezone.now()
    OcppMessage.objects.bulk_create(
        OcppMessage(
            station=station,
            direction=IN,
            message_type=2,
            action="Heartbeat",
            unique_id=str(age),
            payload={},
            created_at=now - timedelta(days=age, minutes=1),
        )
        for age in (0, 1, 6, 7, 8, 30, 400)
    )
    assert purge_ocpp_messages(batch_size=2) == 4
    assert sorted(int(uid) for uid in OcppMessage.objects.values_list("unique_id", flat=True)) == [0, 1, 6]


def test_retention_of_zero_days_keeps_the_log(make_station, settings):
    settings.CMS_OCPP_MESSAGE_RETENTION_DAYS = 0
    station = make_station("CP-1")
    OcppMessage.objects.create(station=station, direction=IN, created_at=timezone.now() - timedelta(days=999))
    assert purge_ocpp_messages() == 0
    assert OcppMessage.objects.count() == 1


def test_frames_the_database_refuses_are_dropped_alone(make_station):
    from stations.protocol.framing.log import FrameRecord
    from stations.services import ocpp_messages_store

    station = make_station("CP-1")
    now = timezone.now()

    def record(unique_id, payload, station_id=station.pk):
        return FrameRecord(station_id, IN, 2, "DataTransfer", unique_id, payload, "", "", None, now)

    ocpp_messages_store(
        records=[
            record("ok-1", {"data": "fine"}),
            record("nul-1", {"data": "a\u0000b"}),  # PostgreSQL's jsonb refuses NUL
            record("gone-1", {}, station_id=station.pk + 1000),  # a station deleted meanwhile
        ]
    )
    rows = {row.unique_id: row for row in OcppMessage.objects.all()}
    assert set(rows) == {"ok-1", "nul-1"}
    assert rows["nul-1"].payload is None and json.loads(rows["nul-1"].raw) == {"data": "ab"}

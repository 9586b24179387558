"""The hot path's group commit: many stations' messages in one transaction, each answered only after it commits.

The writer runs in this test process (as in each daphne process) against the real test database; the
last tests go through daphne with real stations.
"""

import asyncio
import threading
from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async

from sessions.metering import Reading
from sessions.models import MeterSample
from sessions.services import MeterValuesReport, meter_values_record_many
from stations.models import Connector, Station
from tests.ocpp.test_v16_framing import call, raw_station

pytestmark = pytest.mark.django_db(transaction=True)

T1 = datetime(2026, 1, 1, 10, tzinfo=UTC)
# PostgreSQL's text columns refuse it; the schema (any string for a signed value) and our checks do not.
SIGNATURE_WITH_NUL = "\x00"


def report(station, connector_id, wh, signed_data=""):
    reading = Reading(T1, "Energy.Active.Import.Register", "", "Outlet", "Sample.Periodic", "Wh", wh, signed_data)
    return MeterValuesReport(station=station, connector_id=connector_id, readings=[reading])


async def hold_the_writer(writer):
    """Occupy the writer until the returned event is set, so that what is submitted meanwhile forms one batch."""
    inside, release = threading.Event(), threading.Event()

    def wait_for_release(items):
        inside.set()
        release.wait(5)
        return items

    held = asyncio.create_task(writer.submit(wait_for_release, None))
    await asyncio.to_thread(inside.wait, 5)
    return release, held


async def test_a_call_is_answered_only_once_its_transaction_has_committed(group_commit_here, make_station):
    station = await sync_to_async(make_station)("CP-1")
    inside, release = threading.Event(), threading.Event()

    def rename(names):
        Station.objects.filter(pk=station.pk).update(name=names[-1])
        inside.set()
        release.wait(5)  # the transaction is still open
        return names

    answer = asyncio.create_task(group_commit_here.submit(rename, "renamed"))
    await asyncio.to_thread(inside.wait, 5)
    await asyncio.sleep(0.05)
    assert not answer.done()
    assert (await Station.objects.aget(pk=station.pk)).name == ""  # seen from another connection: not committed
    release.set()
    assert await answer == "renamed"
    # The moment the caller has its answer, any other connection sees the data.
    assert (await Station.objects.aget(pk=station.pk)).name == "renamed"


async def test_what_arrives_while_a_transaction_is_written_goes_into_the_next_one_together(
    group_commit_here, make_station
):
    stations = [await sync_to_async(make_station)(f"CP-{n}") for n in range(3)]
    batches = []

    def record(reports):
        batches.append(len(reports))
        return meter_values_record_many(reports=reports)

    release, held = await hold_the_writer(group_commit_here)
    answers = [
        asyncio.create_task(group_commit_here.submit(record, report(station, 1, 100 + n)))
        for n, station in enumerate(stations)
    ]
    await asyncio.sleep(0.05)
    release.set()
    await held
    assert await asyncio.gather(*answers) == [None, None, None]
    assert batches == [3]
    assert await MeterSample.objects.acount() == 3
    live = [c.energy_register_wh async for c in Connector.objects.order_by("station__ocpp_id")]
    assert live == [100, 101, 102]


async def test_the_writer_takes_the_next_batch_itself_while_the_event_loop_is_busy(group_commit_here):
    """With 100 busy stations the event loop is never idle: a writer waiting for its turn there to start each batch
    sat idle for 10 to 15 % of the time."""
    started = threading.Event()

    def next_batch(items):
        started.set()
        return items

    release, held = await hold_the_writer(group_commit_here)
    queued = asyncio.create_task(group_commit_here.submit(next_batch, "next"))
    await asyncio.sleep(0.05)  # submitted while the held batch runs
    release.set()
    assert started.wait(5)  # the event loop is blocked meanwhile: only the writer can have started it
    await held
    assert await queued == "next"


async def test_an_item_the_database_refuses_fails_alone_and_the_rest_of_its_batch_is_stored(
    group_commit_here, make_station
):
    good_1, bad, good_2 = [await sync_to_async(make_station)(f"CP-{n}") for n in range(3)]
    batches = []

    def record(reports):
        batches.append(len(reports))
        return meter_values_record_many(reports=reports)

    release, held = await hold_the_writer(group_commit_here)
    answers = [
        asyncio.create_task(group_commit_here.submit(record, item))
        for item in (report(good_1, 1, 10), report(bad, 1, 20, SIGNATURE_WITH_NUL), report(good_2, 1, 30))
    ]
    await asyncio.sleep(0.05)
    release.set()
    await held
    outcomes = await asyncio.gather(*answers, return_exceptions=True)
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], Exception) and "\\u0000 cannot be converted to text" in str(outcomes[1])
    # The batch of three failed whole; each was then written alone.
    assert batches == [3, 1, 1, 1]
    stored = sorted([(s.station_id, s.value) async for s in MeterSample.objects.all()])
    assert stored == [(good_1.pk, 10), (good_2.pk, 30)]


async def test_the_next_batch_is_written_after_a_failure(group_commit_here, make_station):
    station = await sync_to_async(make_station)("CP-1")

    def record(reports):
        return meter_values_record_many(reports=reports)

    with pytest.raises(Exception, match=r"\\u0000 cannot be converted to text"):
        await group_commit_here.submit(record, report(station, 1, 1, SIGNATURE_WITH_NUL))
    assert await group_commit_here.submit(record, report(station, 1, 2)) is None
    assert [s.value async for s in MeterSample.objects.all()] == [2]


async def test_a_station_whose_meter_values_the_database_refuses_gets_internal_error_and_others_are_served(
    daphne_server, make_station
):
    await sync_to_async(make_station)("CP-1")
    await sync_to_async(make_station)("CP-2")
    sample = {"timestamp": "2026-01-01T10:00:00Z", "sampledValue": [{"value": "1500"}]}
    async with raw_station(daphne_server, "CP-1") as refused, raw_station(daphne_server, "CP-2") as served:
        signed = {"value": SIGNATURE_WITH_NUL, "format": "SignedData", "context": "Transaction.End"}
        bad = {"connectorId": 1, "meterValue": [{**sample, "sampledValue": [signed]}]}
        good = {"connectorId": 1, "meterValue": [sample]}
        # Both in flight at once: they may share a transaction.
        answers = await asyncio.gather(call(refused, "m1", "MeterValues", bad), call(served, "m2", "MeterValues", good))
        assert answers[0][:3] == [4, "m1", "InternalError"]
        assert answers[1][:2] == [3, "m2"]
        # The refused station's connection stays up, and its next message is stored.
        assert (await call(refused, "m3", "MeterValues", good))[:2] == [3, "m3"]
    stored = sorted([(s.station.ocpp_id, s.connector_id) async for s in MeterSample.objects.select_related("station")])
    assert stored == [("CP-1", 1), ("CP-2", 1)]


async def test_many_stations_at_once_are_each_answered_with_their_own_result(daphne_server, make_station):
    ids = [f"CP-{n}" for n in range(20)]
    for ocpp_id in ids:
        await sync_to_async(make_station)(ocpp_id)

    async def one(ocpp_id):
        async with raw_station(daphne_server, ocpp_id) as ws:
            beat = await call(ws, f"{ocpp_id}-h", "Heartbeat", {})
            sample = {"timestamp": "2026-01-01T10:00:00Z", "sampledValue": [{"value": ocpp_id[3:]}]}
            values = await call(ws, f"{ocpp_id}-m", "MeterValues", {"connectorId": 1, "meterValue": [sample]})
            return beat, values

    for ocpp_id, (beat, values) in zip(ids, await asyncio.gather(*(one(i) for i in ids)), strict=True):
        assert beat[:2] == [3, f"{ocpp_id}-h"] and datetime.fromisoformat(beat[2]["currentTime"])
        assert values[:2] == [3, f"{ocpp_id}-m"]
    registers = {c.station.ocpp_id: c.energy_register_wh async for c in Connector.objects.select_related("station")}
    assert registers == {ocpp_id: int(ocpp_id[3:]) for ocpp_id in ids}
    assert await Station.objects.filter(last_heartbeat_at__isnull=False).acount() == 20

"""StartTransaction and StopTransaction from a 1.6 station: ids, replays, refusals, unknown stops, energy."""

from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async
from ocpp.v16 import call

from accounts.models import IdToken
from sessions.models import MeterSample, Transaction
from stations.models import Connector
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection

pytestmark = pytest.mark.django_db(transaction=True)

T_START = "2026-01-01T10:00:00Z"
T_STOP = "2026-01-01T11:00:00Z"


def start(id_tag="TAG-1", meter_start=1000, timestamp=T_START, connector_id=1):
    return call.StartTransaction(connector_id=connector_id, id_tag=id_tag, meter_start=meter_start, timestamp=timestamp)


def register(timestamp: str, kwh: str, context="Sample.Periodic"):
    return {
        "timestamp": timestamp,
        "sampledValue": [
            {"value": kwh, "unit": "kWh", "measurand": "Energy.Active.Import.Register", "context": context}
        ],
    }


@pytest.fixture
def station(make_station):
    return make_station("CP-1")


async def test_start_creates_a_session_with_a_csms_assigned_id_linked_to_the_token_owner(
    daphne_server, station, driver
):
    group = await IdToken.objects.acreate(token="FLEET-1")
    expiry = datetime(2031, 1, 1, tzinfo=UTC)
    await IdToken.objects.acreate(token="TAG-1", owner=driver, parent=group, expires_at=expiry)
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        started = await cp.call(start())
    assert started.id_tag_info["status"] == "Accepted"
    assert started.id_tag_info["parent_id_tag"] == "FLEET-1"
    assert datetime.fromisoformat(started.id_tag_info["expiry_date"]) == expiry
    session = await Transaction.objects.select_related("id_token").aget(pk=started.transaction_id)
    assert (session.station_id, session.connector_id, session.id_tag, session.meter_start) == (
        station.pk,
        1,
        "TAG-1",
        1000,
    )
    assert session.started_at == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert session.user_id == driver.pk and session.id_token.token == "TAG-1"
    assert (session.status, session.authorization_status) == (Transaction.Status.ACTIVE, "Accepted")
    assert await Connector.objects.filter(station=station, connector_id=1).aexists()


async def test_replayed_start_transaction_returns_same_id_and_creates_nothing(daphne_server, station):
    await IdToken.objects.acreate(token="TAG-1")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        first = await cp.call(start())
        replay = await cp.call(start())
        other = await cp.call(start(meter_start=1001))
    assert replay.transaction_id == first.transaction_id
    assert replay.id_tag_info == first.id_tag_info == {"status": "Accepted"}
    assert other.transaction_id != first.transaction_id
    assert await Transaction.objects.acount() == 2


async def test_start_refused_by_the_token_rules_is_recorded_and_answered_with_the_refusal(daphne_server, station):
    await IdToken.objects.acreate(token="BLOCKED-1", status=IdToken.Status.BLOCKED)
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        blocked = await cp.call(start(id_tag="BLOCKED-1"))
        unknown = await cp.call(start(id_tag="NOBODY", connector_id=2))
    assert blocked.id_tag_info["status"] == "Blocked"
    assert unknown.id_tag_info["status"] == "Invalid"
    sessions = {s.pk: s async for s in Transaction.objects.all()}
    assert sessions[blocked.transaction_id].authorization_status == "Blocked"
    assert sessions[unknown.transaction_id].authorization_status == "Invalid"
    assert sessions[unknown.transaction_id].id_token_id is None


async def test_stop_stores_transaction_data_and_energy_and_answers_the_id_tag(daphne_server, station):
    await IdToken.objects.acreate(token="TAG-1")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        started = await cp.call(start())
        stopped = await cp.call(
            call.StopTransaction(
                transaction_id=started.transaction_id,
                meter_stop=8500,
                timestamp=T_STOP,
                id_tag="TAG-1",
                reason="EVDisconnected",
                transaction_data=[
                    register(T_START, "1.0", "Transaction.Begin"),
                    register("2026-01-01T10:30:00Z", "4.75"),
                    register(T_STOP, "8.5", "Transaction.End"),
                ],
            )
        )
    assert stopped.id_tag_info == {"status": "Accepted"}
    session = await Transaction.objects.aget(pk=started.transaction_id)
    assert (session.status, session.meter_stop, session.energy_wh) == (Transaction.Status.COMPLETED, 8500, 7500)
    assert (session.stop_reason, session.stop_id_tag, session.meter_mismatch) == ("EVDisconnected", "TAG-1", False)
    assert session.stopped_at == datetime(2026, 1, 1, 11, tzinfo=UTC)
    values = [(s.context, s.value, s.unit) async for s in MeterSample.objects.filter(transaction=session)]
    assert values == [
        ("Transaction.Begin", 1000, "Wh"),
        ("Sample.Periodic", 4750, "Wh"),
        ("Transaction.End", 8500, "Wh"),
    ]
    connector = await Connector.objects.aget(station=station, connector_id=1)
    assert (connector.power_w, connector.energy_register_wh) == (0, 8500)


async def test_stop_without_id_tag_defaults_the_reason_and_omits_id_tag_info(daphne_server, station):
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        started = await cp.call(start())
        stopped = await cp.call(
            call.StopTransaction(transaction_id=started.transaction_id, meter_stop=1000, timestamp=T_STOP)
        )
    assert stopped.id_tag_info is None
    session = await Transaction.objects.aget(pk=started.transaction_id)
    assert (session.stop_reason, session.energy_wh) == ("Local", 0)


async def test_replayed_stop_changes_nothing(daphne_server, station):
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        started = await cp.call(start())
        stop = call.StopTransaction(
            transaction_id=started.transaction_id, meter_stop=2000, timestamp=T_STOP, reason="Local"
        )
        await cp.call(stop)
        before = await Transaction.objects.aget(pk=started.transaction_id)
        replay = call.StopTransaction(
            transaction_id=started.transaction_id,
            meter_stop=2500,
            timestamp="2026-01-01T12:00:00Z",
            reason="Remote",
            transaction_data=[register("2026-01-01T11:30:00Z", "2.4")],
        )
        assert await cp.call(replay) is not None
    after = await Transaction.objects.aget(pk=started.transaction_id)
    assert (after.meter_stop, after.stop_reason, after.stopped_at, after.updated_at) == (
        before.meter_stop,
        before.stop_reason,
        before.stopped_at,
        before.updated_at,
    )
    assert not await MeterSample.objects.aexists()


async def test_stop_for_an_unknown_transaction_is_accepted_and_recorded_once(daphne_server, station):
    await IdToken.objects.acreate(token="TAG-1")
    stop = call.StopTransaction(
        transaction_id=424242,
        meter_stop=5000,
        timestamp=T_STOP,
        id_tag="TAG-1",
        transaction_data=[register(T_START, "3.0", "Transaction.Begin"), register(T_STOP, "5.0", "Transaction.End")],
    )
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        first = await cp.call(stop)
        replay = await cp.call(stop)
    assert first.id_tag_info == replay.id_tag_info == {"status": "Accepted"}
    unmatched = await Transaction.objects.aget()
    assert (unmatched.status, unmatched.ocpp_transaction_id) == (Transaction.Status.UNMATCHED, "424242")
    assert (unmatched.meter_start, unmatched.meter_stop, unmatched.energy_wh) == (None, 5000, 2000)
    assert unmatched.started_at == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert await MeterSample.objects.filter(transaction=unmatched).acount() == 2


async def test_stop_of_another_stations_transaction_is_not_applied_to_it(daphne_server, make_station):
    await IdToken.objects.acreate(token="TAG-1")
    await sync_to_async(make_station)("CP-1")
    await sync_to_async(make_station)("CP-2")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        started = await cp.call(start())
    async with ocpp_connection(daphne_server, "CP-2", STATION_PASSWORD) as cp:
        await cp.call(call.StopTransaction(transaction_id=started.transaction_id, meter_stop=9000, timestamp=T_STOP))
    session = await Transaction.objects.aget(pk=started.transaction_id)
    assert session.status == Transaction.Status.ACTIVE
    assert await Transaction.objects.filter(status=Transaction.Status.UNMATCHED, station__ocpp_id="CP-2").aexists()


async def test_register_readings_that_disagree_with_meter_start_and_stop_flag_the_session(daphne_server, station):
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        started = await cp.call(start(meter_start=1000))
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=started.transaction_id,
                meter_value=[register("2026-01-01T10:30:00Z", "25.0")],
            )
        )
        await cp.call(call.StopTransaction(transaction_id=started.transaction_id, meter_stop=3000, timestamp=T_STOP))
    session = await Transaction.objects.aget(pk=started.transaction_id)
    assert (session.energy_wh, session.meter_mismatch) == (2000, True)


async def test_meter_running_backwards_leaves_energy_unknown_and_flags_the_session(daphne_server, station):
    await IdToken.objects.acreate(token="TAG-1")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        started = await cp.call(start(meter_start=5000))
        await cp.call(call.StopTransaction(transaction_id=started.transaction_id, meter_stop=10, timestamp=T_STOP))
    session = await Transaction.objects.aget(pk=started.transaction_id)
    assert (session.status, session.energy_wh, session.meter_mismatch) == (Transaction.Status.COMPLETED, None, True)


async def test_reconnect_mid_transaction_continues_the_same_session(daphne_server, station):
    await IdToken.objects.acreate(token="TAG-1")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        started = await cp.call(start())
    transaction_id = started.transaction_id
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        await cp.call(
            call.MeterValues(
                connector_id=1, transaction_id=transaction_id, meter_value=[register("2026-01-01T10:30:00Z", "2.5")]
            )
        )
        stopped = await cp.call(call.StopTransaction(transaction_id=transaction_id, meter_stop=4000, timestamp=T_STOP))
    assert stopped is not None
    session = await Transaction.objects.aget(pk=transaction_id)
    assert (session.status, session.energy_wh, session.meter_mismatch) == (Transaction.Status.COMPLETED, 3000, False)
    assert [s.value async for s in MeterSample.objects.filter(transaction=session)] == [2500]


async def test_meter_values_sent_without_transaction_id_join_the_session_at_its_stop(daphne_server, station):
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        started = await cp.call(start())
        await cp.call(call.MeterValues(connector_id=1, meter_value=[register("2026-01-01T10:15:00Z", "1.5")]))
        await cp.call(call.MeterValues(connector_id=2, meter_value=[register("2026-01-01T10:15:00Z", "7.0")]))
        await cp.call(call.StopTransaction(transaction_id=started.transaction_id, meter_stop=2000, timestamp=T_STOP))
    samples = {s.connector_id: s.transaction_id async for s in MeterSample.objects.all()}
    assert samples == {1: started.transaction_id, 2: None}

"""OCPP 1.6 translation of the input rules (``sessions.services``): the values refused get the CALLERROR of
OCPP-J §4.2.3 (PropertyConstraintViolation, not InternalError), the values corrected a CALLRESULT."""

from datetime import timedelta

import pytest
from django.utils import timezone
from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.v16 import call

from accounts.models import IdToken
from sessions.anomalies import anomaly_codes
from sessions.models import MeterSample, Transaction
from stations.models import ConfigurationKey, Connector
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection

pytestmark = pytest.mark.django_db(transaction=True)

T_START = "2026-01-01T10:00:00Z"


@pytest.fixture
def station(make_station):
    return make_station("CP-1")


def start(id_tag="TAG-1", meter_start=1000, timestamp=T_START, connector_id=1):
    return call.StartTransaction(connector_id=connector_id, id_tag=id_tag, meter_start=meter_start, timestamp=timestamp)


def meter(value: str, connector_id=1, transaction_id=None):
    sample = {"timestamp": T_START, "sampled_value": [{"value": value, "unit": "Wh"}]}
    return call.MeterValues(connector_id=connector_id, transaction_id=transaction_id, meter_value=[sample])


async def refused_with(cp, payload) -> str:
    with pytest.raises(PropertyConstraintViolationError) as error:
        await cp.call(payload, suppress=False)
    return error.value.details.get("path", "")


async def test_values_no_meter_or_station_has_get_property_constraint_violation(daphne_server, station):
    await IdToken.objects.acreate(token="TAG-1")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        assert await refused_with(cp, start(meter_start=-100)) == "/meterStart"
        assert await refused_with(cp, start(meter_start=2**63)) == "/meterStart"
        assert await refused_with(cp, start(connector_id=-1)) == "/connectorId"
        assert await refused_with(cp, start(connector_id=2**31)) == "/connectorId"
        for value in ("NaN", "Infinity", "9.99e307", "1e18", "-5", "abc"):
            assert await refused_with(cp, meter(value)) == "/meterValue/0/sampledValue/0/value"
        assert await refused_with(cp, meter("5", connector_id=2**31)) == "/connectorId"
        status = call.StatusNotification(connector_id=-1, error_code="NoError", status="Available")
        assert await refused_with(cp, status) == "/connectorId"
        # Still served after all that.
        assert (await cp.call(meter("5"))) is not None
    assert not await Transaction.objects.aexists()
    assert [sample.value async for sample in MeterSample.objects.all()] == [5]


async def test_a_connector_beyond_number_of_connectors_is_refused_and_no_phantom_is_made(daphne_server, station):
    await ConfigurationKey.objects.acreate(
        station=station, key="NumberOfConnectors", value="2", readonly=True, reported_at=timezone.now()
    )
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        assert await refused_with(cp, meter("5", connector_id=7)) == "/connectorId"
        assert await cp.call(meter("5", connector_id=2)) is not None
    assert [connector.connector_id async for connector in Connector.objects.all()] == [2]


async def test_a_start_dated_2099_is_accepted_at_the_receipt_time_and_flagged(daphne_server, station):
    await IdToken.objects.acreate(token="TAG-1")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        before = timezone.now()
        started = await cp.call(start(timestamp="2099-01-01T00:00:00Z"))
        replay = await cp.call(start(timestamp="2099-01-01T00:00:00Z"))
    assert started.id_tag_info["status"] == "Accepted" and replay.transaction_id == started.transaction_id
    session = await Transaction.objects.aget()
    assert before <= session.started_at <= timezone.now()
    assert anomaly_codes(session) == ["start_clamped"] and "2099-01-01" in session.anomalies[0]["detail"]


async def test_another_tag_in_the_same_second_gets_its_own_answer(daphne_server, station):
    await IdToken.objects.acreate(token="BLOCKED-1", status=IdToken.Status.BLOCKED)
    await IdToken.objects.acreate(token="TAG-1")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        blocked = await cp.call(start(id_tag="BLOCKED-1"))
        unknown = await cp.call(start(id_tag="NOBODY"))
        accepted = await cp.call(start(id_tag="TAG-1"))
    answers = [answer.id_tag_info["status"] for answer in (blocked, unknown, accepted)]
    assert answers == ["Blocked", "Invalid", "Accepted"]
    assert len({answer.transaction_id for answer in (blocked, unknown, accepted)}) == 3
    statuses = {session.id_tag: session.status async for session in Transaction.objects.all()}
    assert statuses == {"BLOCKED-1": "refused", "NOBODY": "refused", "TAG-1": "active"}


async def test_available_closes_the_session_left_open_and_the_stop_that_follows_reconciles(daphne_server, station):
    await IdToken.objects.acreate(token="TAG-1")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        started = await cp.call(start(meter_start=1000))
        await cp.call(meter("1800", transaction_id=started.transaction_id))
        available_at = timezone.now() - timedelta(seconds=1)
        await cp.call(
            call.StatusNotification(
                connector_id=1, error_code="NoError", status="Available", timestamp=available_at.isoformat()
            )
        )
        session = await Transaction.objects.aget()
        assert (session.status, session.energy_wh, anomaly_codes(session)) == ("completed", 800, ["closed_by_status"])
        stopped = await cp.call(
            call.StopTransaction(
                transaction_id=started.transaction_id, meter_stop=2000, timestamp=available_at.isoformat()
            )
        )
    assert stopped is not None
    session = await Transaction.objects.aget()
    assert (session.energy_wh, anomaly_codes(session)) == (1000, ["closed_by_status", "late_stop"])


async def test_a_stop_with_a_meter_stop_no_meter_shows_is_accepted_and_flagged(daphne_server, station):
    await IdToken.objects.acreate(token="TAG-1")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        started = await cp.call(start(meter_start=1000))
        stopped = await cp.call(
            call.StopTransaction(
                transaction_id=started.transaction_id,
                meter_stop=2**63,
                timestamp="2026-01-01T11:00:00Z",
                transaction_data=[{"timestamp": "2026-01-01T10:30:00Z", "sampled_value": [{"value": "NaN"}]}],
            ),
            suppress=False,
        )
    assert stopped is not None
    session = await Transaction.objects.aget()
    assert (session.status, session.meter_stop, session.energy_wh) == ("completed", 1000, 0)
    assert anomaly_codes(session) == ["reading_discarded", "meter_stop_discarded"]

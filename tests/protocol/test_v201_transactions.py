"""TransactionEvent from a 2.0.1 station over a real WebSocket: the translation to the session services (the
rules themselves are proven in tests/sessions/test_session_events.py)."""

from datetime import UTC, datetime

import pytest
from ocpp.v201 import call

from accounts.models import IdToken
from sessions.models import MeterSample, Transaction, TransactionEvent
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection

pytestmark = pytest.mark.django_db(transaction=True)

TAG = {"id_token": "TAG-1", "type": "ISO14443"}


def energy(timestamp: str, kwh: float, context: str = "Sample.Periodic") -> dict:
    return {
        "timestamp": timestamp,
        "sampled_value": [
            {
                "value": kwh,
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "unit_of_measure": {"unit": "kWh"},
            }
        ],
    }


def event(event_type, seq_no, timestamp, trigger_reason, transaction_id="TX-1", **fields):
    info = {"transaction_id": transaction_id} | fields.pop("transaction_info", {})
    return call.TransactionEvent(
        event_type=event_type,
        timestamp=timestamp,
        trigger_reason=trigger_reason,
        seq_no=seq_no,
        transaction_info=info,
        **fields,
    )


def connect(server):
    return ocpp_connection(server, "CP-1", STATION_PASSWORD, subprotocols=("ocpp2.0.1",))


@pytest.fixture
def station(make_station):
    return make_station("CP-1")


async def test_a_session_started_authorized_metered_and_ended(daphne_server, station, driver):
    await IdToken.objects.acreate(token="TAG-1", owner=driver, expires_at=datetime(2031, 1, 1, tzinfo=UTC))
    async with connect(daphne_server) as cp:
        started = await cp.call(
            event(
                "Started",
                0,
                "2026-01-01T10:00:00Z",
                "CablePluggedIn",
                evse={"id": 1, "connector_id": 1},
                meter_value=[energy("2026-01-01T10:00:00Z", 1.0, "Transaction.Begin")],
            )
        )
        authorized = await cp.call(
            event(
                "Updated",
                1,
                "2026-01-01T10:01:00Z",
                "Authorized",
                id_token=TAG,
                transaction_info={"charging_state": "Charging"},
            )
        )
        await cp.call(
            event(
                "Updated",
                2,
                "2026-01-01T10:30:00Z",
                "MeterValuePeriodic",
                meter_value=[energy("2026-01-01T10:30:00Z", 2.5)],
            )
        )
        ended = await cp.call(
            event(
                "Ended",
                3,
                "2026-01-01T11:00:00Z",
                "StopAuthorized",
                id_token=TAG,
                transaction_info={"stopped_reason": "Local"},
                meter_value=[energy("2026-01-01T11:00:00Z", 4.0, "Transaction.End")],
            )
        )
    assert started.id_token_info is None
    assert authorized.id_token_info["status"] == "Accepted"
    assert datetime.fromisoformat(authorized.id_token_info["cache_expiry_date_time"]) == datetime(
        2031, 1, 1, tzinfo=UTC
    )
    assert ended.id_token_info["status"] == "Accepted"
    session = await Transaction.objects.aget(station=station, ocpp_transaction_id="TX-1")
    assert (session.status, session.connector_id, session.id_tag, session.id_token_type, session.user_id) == (
        Transaction.Status.COMPLETED,
        1,
        "TAG-1",
        "ISO14443",
        driver.pk,
    )
    assert (session.meter_start, session.meter_stop, session.energy_wh, session.stop_reason) == (
        1000,
        4000,
        3000,
        "Local",
    )
    assert await MeterSample.objects.filter(transaction=session).acount() == 3


async def test_an_offline_queue_replayed_out_of_order_is_stored_once(daphne_server, station):
    await IdToken.objects.acreate(token="TAG-1")
    queue = [
        event(
            "Started",
            0,
            "2026-01-01T10:00:00Z",
            "Authorized",
            id_token=TAG,
            offline=True,
            evse={"id": 1},
            meter_value=[energy("2026-01-01T10:00:00Z", 1.0, "Transaction.Begin")],
        ),
        event(
            "Updated",
            1,
            "2026-01-01T10:30:00Z",
            "MeterValuePeriodic",
            offline=True,
            meter_value=[energy("2026-01-01T10:30:00Z", 2.0)],
        ),
        event(
            "Ended",
            2,
            "2026-01-01T11:00:00Z",
            "EVCommunicationLost",
            offline=True,
            transaction_info={"stopped_reason": "EVDisconnected"},
            meter_value=[energy("2026-01-01T11:00:00Z", 3.0, "Transaction.End")],
        ),
    ]
    async with connect(daphne_server) as cp:
        for sent in (queue[2], queue[0], queue[1], queue[2], queue[0]):
            await cp.call(sent)
    session = await Transaction.objects.aget(ocpp_transaction_id="TX-1")
    assert (session.status, session.energy_wh, session.stop_reason) == (
        Transaction.Status.COMPLETED,
        2000,
        "EVDisconnected",
    )
    assert [
        seq async for seq in TransactionEvent.objects.filter(transaction=session).values_list("seq_no", flat=True)
    ] == [0, 1, 2]


async def test_an_evse_the_station_does_not_have_is_a_property_constraint_violation(daphne_server, station):
    from ocpp.exceptions import PropertyConstraintViolationError

    async with connect(daphne_server) as cp:
        with pytest.raises(PropertyConstraintViolationError):
            await cp.call(
                event("Started", 0, "2026-01-01T10:00:00Z", "CablePluggedIn", evse={"id": 99}), suppress=False
            )
    assert not await Transaction.objects.aexists()

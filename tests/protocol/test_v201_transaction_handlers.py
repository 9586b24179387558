"""The 2.0.1 TransactionEvent handler in this process, routed by the `ocpp` library's v201 ChargePoint (schema
validation both ways) over a connection that keeps what it is sent: the translation, until ChargePoint201 and
its wire tests (test_v201_transactions.py) are merged."""

import json

import pytest
from ocpp.v201 import ChargePoint

from accounts.models import IdToken
from sessions.models import Transaction
from stations.protocol.db import in_db_pool, pool_close_connections
from stations.protocol.v201.transactions import TransactionHandlers

pytestmark = pytest.mark.django_db(transaction=True)


class Outbox:
    def __init__(self):
        self.sent = []

    async def send(self, message):
        self.sent.append(json.loads(message))

    async def recv(self):  # pragma: no cover - routed by hand here
        raise NotImplementedError


class ProbeChargePoint(TransactionHandlers, ChargePoint):
    def __init__(self, station):
        super().__init__(station.ocpp_id, Outbox())
        self.station = station


@pytest.fixture
def probe(make_station):
    """Checks run in the handlers' pool too, whose connections are closed after the test."""
    IdToken.objects.create(token="TAG-1")
    yield ProbeChargePoint(make_station("CP-1"))
    pool_close_connections()


async def send(probe, payload, message_id="m1"):
    await probe.route_message(json.dumps([2, message_id, "TransactionEvent", payload]))
    return probe._connection.sent[-1]


def event(event_type, seq_no, trigger, **fields):
    info = {"transactionId": "TX-1"} | fields.pop("transactionInfo", {})
    return {
        "eventType": event_type,
        "timestamp": f"2026-01-01T10:{seq_no:02d}:00Z",
        "triggerReason": trigger,
        "seqNo": seq_no,
        "transactionInfo": info,
        **fields,
    }


def energy(minute: int, kwh: float, context: str = "Sample.Periodic") -> list:
    return [
        {
            "timestamp": f"2026-01-01T10:{minute:02d}:00Z",
            "sampledValue": [{"value": kwh, "context": context, "unitOfMeasure": {"unit": "kWh"}}],
        }
    ]


async def test_events_are_translated_and_an_id_token_answered_with_its_info(probe):
    started = await send(
        probe,
        event(
            "Started",
            0,
            "CablePluggedIn",
            evse={"id": 1, "connectorId": 1},
            meterValue=energy(0, 1.0, "Transaction.Begin"),
        ),
    )
    assert started == [3, "m1", {}]
    authorized = await send(
        probe,
        event(
            "Updated",
            1,
            "Authorized",
            idToken={"idToken": "TAG-1", "type": "ISO14443"},
            transactionInfo={"chargingState": "Charging"},
        ),
    )
    assert authorized[2] == {
        "idTokenInfo": {
            "status": "Accepted",
            "language1": "en",
            "personalMessage": {"format": "UTF8", "content": "Welcome.", "language": "en"},
        }
    }
    ended = await send(
        probe,
        event(
            "Ended",
            2,
            "EVCommunicationLost",
            transactionInfo={"stoppedReason": "EVDisconnected"},
            meterValue=energy(2, 1.5, "Transaction.End"),
        ),
    )
    assert ended == [3, "m1", {}]
    session = await in_db_pool(Transaction.objects.get)(ocpp_transaction_id="TX-1")
    assert (session.status, session.connector_id, session.id_tag, session.id_token_type) == (
        Transaction.Status.COMPLETED,
        1,
        "TAG-1",
        "ISO14443",
    )
    assert (session.meter_start, session.meter_stop, session.energy_wh, session.stop_reason) == (
        1000,
        1500,
        500,
        "EVDisconnected",
    )
    started_again = await send(probe, event("Started", 0, "CablePluggedIn", evse={"id": 1}), message_id="m2")
    assert started_again == [3, "m2", {}]


async def test_a_value_the_services_refuse_is_a_property_constraint_violation(probe):
    error = await send(probe, event("Started", 0, "CablePluggedIn", evse={"id": 99}))
    assert error[:3] == [4, "m1", "PropertyConstraintViolation"]
    unreadable = await send(probe, event("Started", 0, "CablePluggedIn", meterValue=energy(0, -5.0)), message_id="m2")
    assert unreadable[:3] == [4, "m2", "PropertyConstraintViolation"]
    assert not await in_db_pool(Transaction.objects.exists)()

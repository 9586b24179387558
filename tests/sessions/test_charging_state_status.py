"""A 2.0.1 session's chargingState in the connector's status history, as the 1.6 status that means the same
(what analytics and billing read): one row per event at its own time, whatever the delivery order, however
often replayed."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessions.models import Transaction, TransactionEvent
from sessions.services import SessionEvent, session_event_record
from stations.models import Connector, ConnectorStatusEvent

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 1, 1, 10, tzinfo=UTC)
RECEIVED = START + timedelta(hours=3)


def event(event_type, seq_no, minutes, charging_state="", **fields) -> SessionEvent:
    return SessionEvent(
        transaction_id="TX-1",
        event_type=event_type,
        seq_no=seq_no,
        timestamp=START + timedelta(minutes=minutes),
        trigger_reason="ChargingStateChanged",
        charging_state=charging_state,
        evse_id=1,
        **fields,
    )


SESSION = [
    event("Started", 0, 0, "EVConnected"),  # says no more than the station's Occupied
    event("Updated", 1, 2, "Charging"),
    event("Updated", 2, 10),  # a periodic meter value: says nothing of the state
    event("Updated", 3, 40, "SuspendedEV"),
    event("Updated", 4, 45, "EVConnected"),
    event("Ended", 5, 50, "EVConnected", stopped_reason="EVDisconnected"),
]
HISTORY = [
    (START + timedelta(minutes=2), "Charging"),
    (START + timedelta(minutes=40), "SuspendedEV"),
    (START + timedelta(minutes=45), "SuspendedEVSE"),
    (START + timedelta(minutes=50), "Finishing"),
]


def record(station, events) -> None:
    for each in events:
        session_event_record(station=station, event=each, received_at=RECEIVED)


def history(station) -> list:
    rows = ConnectorStatusEvent.objects.filter(station=station, connector_id=1).order_by("timestamp", "pk")
    return list(rows.values_list("timestamp", "status"))


def test_each_charging_state_is_the_1_6_status_that_means_the_same_at_the_events_time(station):
    record(station, SESSION)
    assert history(station) == HISTORY
    assert Connector.objects.get(station=station, connector_id=1).status == "Finishing"


def test_an_ended_unplugged_frees_the_connector(station):
    record(station, [SESSION[1], event("Ended", 5, 50, "Idle", stopped_reason="EVDisconnected")])
    assert [status for _, status in history(station)] == ["Charging", "Available"]


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_delivery_order_and_duplication_gives_the_same_history_and_current_status(station, data):
    delivered = data.draw(st.permutations(SESSION + data.draw(st.lists(st.sampled_from(SESSION), max_size=4))))
    ConnectorStatusEvent.objects.all().delete()
    Connector.objects.all().delete()
    TransactionEvent.objects.all().delete()
    Transaction.objects.all().delete()
    record(station, delivered)
    assert history(station) == HISTORY
    assert Connector.objects.get(station=station, connector_id=1).status == "Finishing"

"""The common 2.0.1 event appended without refolding the session (``session_events_append_many``, the batch the
OCPP group commit writes): a live Updated of an active session after every event stored. Whatever takes that
path, the session, its events, readings, connector and status history are what ``session_event_record`` alone
makes of the same events, in any order and duplication."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import IdToken
from sessions.metering import Reading
from sessions.models import MeterSample, Transaction, TransactionEvent
from sessions.services import (
    PresentedIdToken,
    SessionEvent,
    session_event_record,
    session_events_append_many,
)
from stations.models import Connector, ConnectorStatusEvent

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 1, 1, 10, tzinfo=UTC)
RECEIVED = START + timedelta(hours=3)
TAG = PresentedIdToken("TAG-1", "ISO14443")


def reading(minutes: int, measurand: str, value: float, context: str = "Sample.Periodic") -> Reading:
    return Reading(START + timedelta(minutes=minutes), measurand, "", "Outlet", context, "Wh", value)


def metered(minutes: int, wh: float, watts: float, context: str = "Sample.Periodic") -> list[Reading]:
    return [
        reading(minutes, "Energy.Active.Import.Register", wh, context),
        reading(minutes, "Power.Active.Import", watts, context),
    ]


def event(event_type, seq_no, minutes, trigger="MeterValuePeriodic", **fields) -> SessionEvent:
    values = {"transaction_id": "TX-1", "timestamp": START + timedelta(minutes=minutes)} | fields
    return SessionEvent(event_type=event_type, seq_no=seq_no, trigger_reason=trigger, **values)


SESSION = [
    event("Started", 0, 0, "CablePluggedIn", evse_id=1, charging_state="EVConnected"),
    event("Updated", 1, 1, "Authorized", id_token=TAG, readings=metered(1, 1000, 0, "Transaction.Begin")),
    event("Updated", 2, 2, "ChargingStateChanged", charging_state="Charging", readings=metered(2, 1000, 7000)),
    event("Updated", 3, 15, readings=metered(15, 2500, 7000)),
    event("Updated", 4, 30, readings=metered(30, 4000, 7000), evse_id=1),
    event("Updated", 5, 40, "ChargingStateChanged", charging_state="SuspendedEV", readings=metered(40, 4600, 0)),
    event("Updated", 6, 45, readings=metered(45, 4600, 0)),
    event("Ended", 7, 50, "EVCommunicationLost", stopped_reason="EVDisconnected", readings=metered(50, 4600, 0)),
]
# Appended without the fold when delivered in order: live Updated events after the meter start is known.
APPENDED = {2, 3, 4, 5, 6}


def deliver(station, each: SessionEvent) -> bool:
    """As the OCPP handler does: the batch first, the whole record for what it leaves. Whether it appended."""
    with transaction.atomic():
        outcome = session_events_append_many(items=[(station, each)], received_at=RECEIVED)[0]
    if outcome is None:
        session_event_record(station=station, event=each, received_at=RECEIVED)
    return outcome is not None


def everything(station) -> dict:
    session = Transaction.objects.get(station=station)
    return {
        "session": model_to_dict(session, exclude=["id"]),
        "events": list(TransactionEvent.objects.order_by("seq_no").values(*EVENT_FIELDS)),
        "samples": list(MeterSample.objects.order_by("timestamp", "measurand").values_list(*SAMPLE_FIELDS)),
        "connector": Connector.objects.filter(station=station).values(*CONNECTOR_FIELDS).get(connector_id=1),
        "statuses": list(ConnectorStatusEvent.objects.order_by("timestamp").values_list("timestamp", "status")),
    }


EVENT_FIELDS = [
    "seq_no",
    "event_type",
    "timestamp",
    "trigger_reason",
    "offline",
    "stopped_reason",
    "charging_state",
    "evse_id",
    "id_token",
    "id_token_type",
    "energy_register_wh",
]
SAMPLE_FIELDS = ["station", "connector_id", "transaction", "timestamp", "measurand", "value"]
CONNECTOR_FIELDS = ["status", "status_at", "power_w", "energy_register_wh"]


def clear() -> None:
    for model in (ConnectorStatusEvent, MeterSample, TransactionEvent, Transaction, Connector):
        model.objects.all().delete()


def test_live_updated_events_in_order_are_appended_and_make_the_same_session(station):
    for each in SESSION:
        session_event_record(station=station, event=each, received_at=RECEIVED)
    expected = everything(station)
    clear()
    appended = {each.seq_no for each in SESSION if deliver(station, each)}
    assert appended == APPENDED
    assert without_ids(everything(station)) == without_ids(expected)


def test_replays_gaps_and_what_changes_the_fold_are_left_to_the_whole_record(station):
    deliver(station, SESSION[0])
    # Before the meter start is known, the first register sets it: the fold's work.
    assert not deliver(station, SESSION[1])
    assert deliver(station, SESSION[3])
    assert not deliver(station, SESSION[2])  # older than an event stored (its offline queue)
    assert not deliver(station, SESSION[3])  # a replay
    assert deliver(station, event("Updated", 9, 31, readings=metered(31, 4100, 7000)))  # a gap is no matter
    assert not deliver(station, event("Updated", 10, 32, offline=True))
    assert not deliver(station, event("Updated", 11, 33, evse_id=2))


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_delivery_order_and_duplication_gives_what_the_whole_record_gives(station, data):
    clear()
    for each in SESSION:
        session_event_record(station=station, event=each, received_at=RECEIVED)
    expected = without_ids(everything(station))
    delivered = data.draw(st.permutations(SESSION + data.draw(st.lists(st.sampled_from(SESSION), max_size=4))))
    clear()
    for each in delivered:
        deliver(station, each)
    # The live values are the latest the connector was told (events before the one naming the EVSE tell
    # connector 0), so they depend on the delivery order with the whole record alone too.
    assert without_live_values(without_ids(everything(station))) == without_live_values(expected)


def without_ids(state: dict) -> dict:
    """The state, the session's own key and stamps aside (each run creates its own rows)."""
    session = {key: value for key, value in state["session"].items() if key not in {"created_at", "updated_at"}}
    samples = [row[:2] + row[3:] for row in state["samples"]]
    return state | {"session": session, "samples": samples}


def without_live_values(state: dict) -> dict:
    return state | {"connector": {key: state["connector"][key] for key in ("status", "status_at")}}


def test_a_batch_of_many_stations_repeating_their_charging_state_costs_the_statements_of_one(make_station):
    """Stations may repeat chargingState in every Updated: the batch stores their statuses together, as each
    alone would, in as many statements for 20 sessions as for 2."""

    def started(stations) -> list:
        for station in stations:
            card = IdToken.objects.create(token=f"TAG-{station.ocpp_id}")
            session_event_record(station=station, event=SESSION[0], received_at=RECEIVED)
            authorized = replace(SESSION[1], id_token=PresentedIdToken(card.token, "ISO14443"))
            session_event_record(station=station, event=authorized, received_at=RECEIVED)
        charging = event(
            "Updated", 2, 2, "ChargingStateChanged", charging_state="Charging", readings=metered(2, 1000, 7000)
        )
        return [(station, charging) for station in stations]

    def statements(items) -> int:
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            assert all(session_events_append_many(items=items, received_at=RECEIVED))
        return len(queries)

    stations = [make_station(f"CP-{number}") for number in range(22)]
    assert statements(started(stations[:2])) == statements(started(stations[2:]))
    charging = ConnectorStatusEvent.objects.filter(status="Charging", timestamp=START + timedelta(minutes=2))
    assert charging.count() == 22
    assert Connector.objects.filter(station__in=stations, connector_id=1, status="Charging").count() == 22

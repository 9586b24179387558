"""Sessions a station numbers itself (OCPP 2.0.1 TransactionEvent) on the services: Started / Updated / Ended
with seqNo, offline flag, triggerReason and stoppedReason, an id token after Started, meter values inside
events, and replays and offline queues in any order stored once and applied in seqNo order."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import SessionCharge
from sessions.metering import Reading
from sessions.models import MeterSample, Transaction, TransactionEvent
from sessions.services import PresentedIdToken, SessionEvent, session_event_record
from stations.plausibility import ValueRejected

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 1, 1, 10, tzinfo=UTC)
RECEIVED = START + timedelta(hours=3)
TAG = PresentedIdToken("TAG-1", "ISO14443")


def register(minutes: int, wh: float, context: str = "Sample.Periodic") -> Reading:
    return Reading(START + timedelta(minutes=minutes), "Energy.Active.Import.Register", "", "Outlet", context, "Wh", wh)


def event(event_type, seq_no, minutes, trigger, **fields) -> SessionEvent:
    values = {"transaction_id": "TX-1", "timestamp": START + timedelta(minutes=minutes)} | fields
    return SessionEvent(event_type=event_type, seq_no=seq_no, trigger_reason=trigger, **values)


def charging(token=TAG) -> list[SessionEvent]:
    """A whole session: started on the cable, authorized later, metered, ended by the driver."""
    return [
        event("Started", 0, 0, "CablePluggedIn", evse_id=1, readings=[register(0, 1000, "Transaction.Begin")]),
        event("Updated", 1, 1, "Authorized", id_token=token, charging_state="Charging"),
        event("Updated", 2, 30, "MeterValuePeriodic", readings=[register(30, 2500)]),
        event(
            "Ended",
            3,
            60,
            "StopAuthorized",
            stopped_reason="Local",
            id_token=token,
            readings=[register(60, 4000, "Transaction.End")],
        ),
    ]


def record(station, events):
    return [session_event_record(station=station, event=each, received_at=RECEIVED) for each in events]


def summary(session: Transaction) -> tuple:
    session.refresh_from_db()
    samples = tuple(MeterSample.objects.filter(transaction=session).values_list("connector_id", "timestamp", "value"))
    events = tuple(session.events.values_list("seq_no", "event_type", "trigger_reason"))
    return (
        session.ocpp_transaction_id,
        session.status,
        session.connector_id,
        session.id_tag,
        session.id_token_type,
        session.authorization_status,
        session.started_at,
        session.stopped_at,
        session.stop_reason,
        session.meter_start,
        session.meter_stop,
        session.energy_wh,
        session.meter_mismatch,
        samples,
        events,
    )


def test_a_whole_session_in_order(station, announced, celery_eager):
    outcomes = record(station, charging())
    session = outcomes[0].transaction
    session.refresh_from_db()
    assert (session.ocpp_transaction_id, session.status, session.connector_id) == ("TX-1", "completed", 1)
    assert (session.id_tag, session.id_token_type, session.authorization_status) == ("TAG-1", "ISO14443", "Accepted")
    assert (session.started_at, session.stopped_at) == (START, START + timedelta(minutes=60))
    assert (session.meter_start, session.meter_stop, session.energy_wh, session.meter_mismatch) == (
        1000,
        4000,
        3000,
        False,
    )
    assert session.stop_reason == "Local"
    assert [outcome.replayed for outcome in outcomes] == [False] * 4
    # The id token that arrived after Started is answered (and the session's owner known from it).
    assert outcomes[0].authorization is None and outcomes[1].authorization.status == "Accepted"
    assert announced == [(session.pk, False)]
    assert SessionCharge.objects.filter(transaction=session).count() == 1


def test_the_trigger_reason_and_offline_flag_of_each_event_are_kept(station):
    events = charging()
    events[2] = event("Updated", 2, 30, "MeterValuePeriodic", offline=True, readings=[register(30, 2500)])
    session = record(station, events)[0].transaction
    assert list(session.events.values_list("trigger_reason", "offline")) == [
        ("CablePluggedIn", False),
        ("Authorized", False),
        ("MeterValuePeriodic", True),
        ("StopAuthorized", False),
    ]


def test_a_replayed_event_changes_nothing_and_gets_the_first_answer(station, announced, celery_eager):
    first = record(station, charging())
    before = summary(first[0].transaction)
    again = record(station, charging())
    assert [outcome.replayed for outcome in again] == [True] * 4
    assert again[1].authorization.status == "Accepted"
    assert summary(first[0].transaction) == before
    assert TransactionEvent.objects.count() == 4 and len(announced) == 1
    assert SessionCharge.objects.count() == 1


def test_an_ended_that_arrives_before_the_updated_ones_still_ends_correctly(station, announced):
    started, authorized, metered, ended = charging()
    session = record(station, [started, ended])[0].transaction
    session.refresh_from_db()
    assert (session.status, session.meter_stop, session.energy_wh) == ("completed", 4000, 3000)
    record(station, [metered, authorized])
    session.refresh_from_db()
    assert (session.status, session.stopped_at, session.energy_wh) == ("completed", START + timedelta(minutes=60), 3000)
    assert session.events.count() == 4 and len(announced) == 1


def test_an_id_token_refused_after_started_makes_the_session_refused_never_priced(station, announced, celery_eager):
    refused = PresentedIdToken("NOBODY", "ISO14443")
    outcomes = record(station, charging(token=refused))
    assert outcomes[1].authorization.status == "Invalid"
    session = outcomes[0].transaction
    session.refresh_from_db()
    assert session.status == Transaction.Status.REFUSED
    assert announced == [] and not SessionCharge.objects.exists()


def test_an_evse_the_station_does_not_have_or_a_bad_transaction_id_is_rejected(station):
    for wrong in (
        event("Started", 0, 0, "CablePluggedIn", evse_id=33),
        event("Started", 0, 0, "CablePluggedIn", transaction_id="x" * 37),
        event("Started", -1, 0, "CablePluggedIn"),
    ):
        with pytest.raises(ValueRejected):
            session_event_record(station=station, event=wrong, received_at=RECEIVED)
    assert not Transaction.objects.exists()


def test_the_same_transaction_id_on_two_stations_is_two_sessions(station, make_station):
    other = make_station("CP-2")
    first = record(station, charging()[:1])[0].transaction
    second = record(other, charging()[:1])[0].transaction
    assert first.pk != second.pk


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_delivery_order_and_duplication_of_the_same_events_gives_the_same_session(station, data):
    in_order = charging()
    delivered = data.draw(st.permutations(in_order + data.draw(st.lists(st.sampled_from(in_order), max_size=4))))
    TransactionEvent.objects.all().delete()
    MeterSample.objects.all().delete()
    Transaction.objects.all().delete()
    expected_session = record(station, in_order)[0].transaction
    expected = summary(expected_session)
    TransactionEvent.objects.all().delete()
    MeterSample.objects.all().delete()
    Transaction.objects.all().delete()
    session = record(station, delivered)[0].transaction
    assert summary(session) == expected


def test_the_admin_shows_the_events_a_session_was_folded_from(station, client, operator_admin):
    session = record(station, charging())[0].transaction
    client.force_login(operator_admin)
    page = client.get(f"/admin/charging_sessions/transaction/{session.pk}/change/")
    assert page.status_code == 200
    assert b"StopAuthorized" in page.content and b"CablePluggedIn" in page.content


def test_a_session_the_csms_closed_stays_closed_until_its_ended_replaces_the_estimate(station, announced):
    from sessions.anomalies import anomaly_codes
    from sessions.services import connector_statuses_record

    started, authorized, metered, ended = charging()
    session = record(station, [started, authorized])[0].transaction
    connector_statuses_record(
        reports=[
            {
                "station": station,
                "connector_id": 1,
                "status": "Available",
                "error_code": "NoError",
                "timestamp": START + timedelta(minutes=40),
            }
        ]
    )
    record(station, [metered])  # from the station's queue, after the close
    session.refresh_from_db()
    assert (session.status, session.stopped_at) == (Transaction.Status.COMPLETED, START + timedelta(minutes=40))
    record(station, [ended])
    session.refresh_from_db()
    assert (session.status, session.stopped_at, session.energy_wh) == (
        Transaction.Status.COMPLETED,
        START + timedelta(minutes=60),
        3000,
    )
    assert anomaly_codes(session) == ["closed_by_status", "late_stop"]
    assert announced == [(session.pk, True), (session.pk, False)]

"""Each authorisation keeps the station's message that asked and the session it was for, so the log shows one
charge's two or three answers (Authorize, its start, its stop) as steps of that charge, not as duplicates."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from accounts.models import IdTokenEvent
from accounts.services import id_token_authorize
from sessions.models import Transaction
from sessions.selectors import session_authorizations
from sessions.services import PresentedIdToken, SessionEvent, session_event_record, session_start, session_stop
from tests.portal.support import make_staff

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 1, 1, 10, tzinfo=UTC)
TAG = PresentedIdToken("TAG-1", "ISO14443")


def asked(**filters) -> list[tuple[str, int | None, str]]:
    events = IdTokenEvent.objects.filter(kind=IdTokenEvent.Kind.AUTHORIZATION, **filters).order_by("pk")
    return list(events.values_list("message", "session_id", "status"))


def charge_16(station, tag="TAG-1", started_at=START):
    id_token_authorize(token=tag, station=station)  # the Authorize handler's call
    started = session_start(
        station=station, connector_id=1, id_token=PresentedIdToken(tag), meter_start=0, started_at=started_at
    )
    session_stop(
        station=station,
        transaction_id=started.transaction.ocpp_transaction_id,
        meter_stop=5000,
        stopped_at=started_at + timedelta(minutes=30),
        id_token=PresentedIdToken(tag),
    )
    return started.transaction


def test_a_16_charge_records_authorize_start_and_stop_each_naming_the_session(station):
    session = charge_16(station)
    assert asked() == [
        ("Authorize", session.pk, "Accepted"),
        ("StartTransaction", session.pk, "Accepted"),
        ("StopTransaction", session.pk, "Accepted"),
    ]
    assert [event.message for event in session_authorizations(session=session)] == [
        "Authorize",
        "StartTransaction",
        "StopTransaction",
    ]


def test_an_authorize_belongs_only_to_the_next_charge_of_its_token_at_its_station(station, make_station):
    other = make_station("CP-2")
    id_token_authorize(token="TAG-1", station=other)  # at another station
    id_token_authorize(token="STRANGER", station=station)  # another card here
    first = charge_16(station)
    second = charge_16(station, started_at=START + timedelta(hours=1))
    assert asked(message="Authorize", session__isnull=True) == [
        ("Authorize", None, "Accepted"),
        ("Authorize", None, "Invalid"),
    ]
    # Each charge took its own Authorize, none took the other's.
    assert asked(session=first)[0] == ("Authorize", first.pk, "Accepted")
    assert asked(session=second)[0] == ("Authorize", second.pk, "Accepted")
    assert len(asked(session=first)) == len(asked(session=second)) == 3


def test_a_refused_start_names_its_refused_session(station):
    started = session_start(
        station=station, connector_id=1, id_token=PresentedIdToken("NOPE"), meter_start=0, started_at=START
    )
    assert started.transaction.status == Transaction.Status.REFUSED
    assert asked() == [("StartTransaction", started.transaction.pk, "Invalid")]


def test_a_replayed_start_asks_nothing_again(station):
    arguments = dict(station=station, connector_id=1, id_token=TAG, meter_start=0, started_at=START)
    session_start(**arguments)
    session_start(**arguments)
    assert len(asked()) == 1


def test_a_201_charge_records_its_transaction_events(station, celery_eager):
    id_token_authorize(token="TAG-1", token_type="ISO14443", station=station)
    events = [
        SessionEvent(
            event_type="Started",
            seq_no=0,
            trigger_reason="CablePluggedIn",
            transaction_id="TX-1",
            timestamp=START,
            evse_id=1,
        ),
        SessionEvent(
            event_type="Updated",
            seq_no=1,
            trigger_reason="Authorized",
            transaction_id="TX-1",
            timestamp=START + timedelta(minutes=1),
            id_token=TAG,
        ),
        SessionEvent(
            event_type="Ended",
            seq_no=2,
            trigger_reason="StopAuthorized",
            transaction_id="TX-1",
            timestamp=START + timedelta(minutes=9),
            id_token=PresentedIdToken("TAG-2", "ISO14443"),
            stopped_reason="Local",
        ),
    ]
    outcomes = [session_event_record(station=station, event=each) for each in events]
    session = outcomes[0].transaction
    assert asked() == [
        ("Authorize", session.pk, "Accepted"),
        ("TransactionEvent", session.pk, "Accepted"),
        ("TransactionEvent", session.pk, "Invalid"),  # another, unknown card tried to stop it
    ]


def test_the_log_shows_the_message_and_links_the_session(station, django_user_model):
    session = charge_16(station)
    client = Client()
    client.force_login(make_staff(django_user_model, "technician"))
    html = client.get("/operator/authorizations/").content.decode()
    for label in ("Authorize", "StartTransaction (1.6)", "StopTransaction (1.6)"):
        assert f'<td data-label="Asked by">{label}</td>' in html
    assert html.count(f'href="/operator/sessions/{session.pk}/"') == 3
    only_stops = client.get("/operator/authorizations/?message=StopTransaction").context["page"].object_list
    assert [event.message for event in only_stops] == ["StopTransaction"]
    response = client.get("/operator/authorizations/?message=Heartbeat")
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    detail = client.get(f"/operator/sessions/{session.pk}/").content.decode()
    assert "StartTransaction (1.6)" in detail and "StopTransaction (1.6)" in detail

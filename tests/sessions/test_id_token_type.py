"""An OCPP 2.0.1 idToken is its value and its type together: an eMAID is not the RFID card with the same
characters. A 1.6 idTag has no type and is still known by its value alone."""

from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v201 import call

from accounts.models import IdToken
from accounts.services import id_token_authorize
from sessions.models import Transaction
from sessions.services import PresentedIdToken, SessionEvent, session_event_record, session_start
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 1, 1, 10, tzinfo=UTC)
CARD = PresentedIdToken("CARD-1", "ISO14443")
SAME_CHARACTERS_AS_EMAID = PresentedIdToken("CARD-1", "eMAID")


@pytest.fixture
def station(make_station):
    """CP-1, where CARD-1 is known as an RFID card."""
    IdToken.objects.create(token="CARD-1", type=IdToken.Type.ISO14443)
    return make_station("CP-1")


def event(event_type, seq_no, token=None, **fields) -> SessionEvent:
    return SessionEvent(
        transaction_id="TX-1",
        event_type=event_type,
        seq_no=seq_no,
        timestamp=START + timedelta(minutes=seq_no),
        trigger_reason="Authorized" if token else "MeterValuePeriodic",
        evse_id=1,
        id_token=token,
        **fields,
    )


def test_a_token_is_found_by_its_value_and_type_or_by_its_value_alone_without_a_type(station):
    assert id_token_authorize(token="CARD-1", token_type="ISO14443", station=station).accepted
    refused = id_token_authorize(token="CARD-1", token_type="eMAID", station=station)
    assert (refused.status, refused.reason, refused.id_token) == ("Invalid", "unknown", None)
    assert id_token_authorize(token="CARD-1", station=station).accepted


def test_a_central_token_is_the_csmss_own_reference_and_found_by_its_value(station):
    """A remote start sends the driver's card as a Central idToken; the station's TransactionEvent names it so."""
    outcome = session_event_record(station=station, event=event("Started", 0, PresentedIdToken("CARD-1", "Central")))
    assert outcome.authorization.accepted
    session = Transaction.objects.get(ocpp_transaction_id="TX-1")
    assert (session.status, session.id_token.token, session.id_token_type) == ("active", "CARD-1", "Central")


def test_a_2_0_1_session_started_with_an_emaid_of_a_cards_characters_is_refused(station):
    outcome = session_event_record(station=station, event=event("Started", 0, SAME_CHARACTERS_AS_EMAID))
    assert not outcome.authorization.accepted
    session = Transaction.objects.get(ocpp_transaction_id="TX-1")
    assert (session.status, session.id_token_id, session.id_token_type) == (Transaction.Status.REFUSED, None, "eMAID")


def test_a_later_token_of_another_type_is_checked_again_not_given_the_starts_answer(station):
    started = session_event_record(station=station, event=event("Started", 0, CARD))
    assert started.authorization.accepted
    ended = session_event_record(
        station=station, event=event("Ended", 1, SAME_CHARACTERS_AS_EMAID, stopped_reason="Local")
    )
    assert ended.authorization.status == "Invalid"
    again = session_event_record(station=station, event=event("Updated", 2, CARD))
    assert again.authorization.accepted
    assert Transaction.objects.get(ocpp_transaction_id="TX-1").status == Transaction.Status.COMPLETED


def test_a_1_6_id_tag_is_known_by_its_value_whatever_the_token_type(make_station):
    IdToken.objects.create(token="EMAID-1", type=IdToken.Type.EMAID)
    started = session_start(
        station=make_station("CP-16"),
        connector_id=1,
        id_token=PresentedIdToken("EMAID-1"),
        meter_start=0,
        started_at=datetime.now(UTC),
    )
    assert started.authorization.accepted
    assert started.transaction.id_token.type == IdToken.Type.EMAID


async def test_authorize_over_the_wire_answers_unknown_for_another_type(daphne_server, station):
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD, subprotocols=("ocpp2.0.1",)) as cp:
        card = await cp.call(call.Authorize(id_token={"id_token": "CARD-1", "type": "ISO14443"}))
        emaid = await cp.call(call.Authorize(id_token={"id_token": "CARD-1", "type": "eMAID"}))
    assert card.id_token_info["status"] == "Accepted"
    assert emaid.id_token_info["status"] == "Unknown"

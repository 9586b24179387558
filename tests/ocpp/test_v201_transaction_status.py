"""OCPP 2.0.1 E Transactions from the CSMS's side, against the running server: GetTransactionStatus as an
outbound verb (by code and through the API's generic calls; 1.6 refuses it with the reason), an idToken that
arrives after Started authorising the session, the triggerReason / stoppedReason kept, and a signed value kept
as received."""

import json

import pytest
from asgiref.sync import sync_to_async
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import IdToken
from sessions.models import MeterSample, Transaction, TransactionEvent
from stations.models import Station, StationCommand
from stations.protocol import outbound
from stations.protocol.commands import station_call
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)


class StatusStation(ChargePoint):
    """A 2.0.1 station with TX-1 going and two of its messages still queued."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked: list[str | None] = []

    @on(Action.get_transaction_status)
    def on_get_transaction_status(self, transaction_id=None, **_):
        self.asked.append(transaction_id)
        if transaction_id is None:
            return call_result.GetTransactionStatus(messages_in_queue=True)
        return call_result.GetTransactionStatus(messages_in_queue=True, ongoing_indicator=transaction_id == "TX-1")


@pytest.fixture
def station(make_station):
    return make_station("CP-1")


def connect(server):
    return ocpp_connection(server, "CP-1", STATION_PASSWORD, subprotocols=("ocpp2.0.1",), client_class=StatusStation)


async def online():
    await until(
        lambda: Station.objects.filter(ocpp_id="CP-1", is_online=True).exclude(channel_name="").aexists(),
        what="CP-1 online",
    )


async def test_the_transaction_status_is_asked_by_code_and_read_as_a_neutral_answer(daphne_server, station):
    async with connect(daphne_server) as cp:
        await online()
        answers = []
        for transaction_id in ("TX-1", "TX-9", None):
            action, payload = outbound.transaction_status("2.0.1", transaction_id=transaction_id)
            command = await station_call(station=station, action=action, payload=payload)
            answers.append(outbound.answer_of("2.0.1", command).data)
    assert cp.asked == ["TX-1", "TX-9", None]
    assert answers == [
        {"ongoing_indicator": True, "messages_in_queue": True},
        {"ongoing_indicator": False, "messages_in_queue": True},
        {"ongoing_indicator": None, "messages_in_queue": True},
    ]


async def test_the_transaction_status_through_the_apis_generic_call(daphne_server, station, operator_admin):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {(await Token.objects.acreate(user=operator_admin)).key}")
    post = sync_to_async(client.post, thread_sensitive=False)
    async with connect(daphne_server):
        await online()
        answered = await post(
            "/api/stations/CP-1/calls/",
            {"action": "GetTransactionStatus", "payload": {"transactionId": "TX-1"}},
            format="json",
        )
        invalid = await post(
            "/api/stations/CP-1/calls/",
            {"action": "GetTransactionStatus", "payload": {"transactionId": 7}},
            format="json",
        )
    assert answered.status_code == 200, answered.json()
    assert answered.json()["response"] == {"messagesInQueue": True, "ongoingIndicator": True}
    assert invalid.status_code == 400
    command = await StationCommand.objects.aget(pk=answered.json()["id"])
    assert outbound.answer_of("2.0.1", command).data["ongoing_indicator"] is True


def test_1_6_has_no_transaction_status_nor_running_cost_and_says_why():
    with pytest.raises(outbound.Unsupported, match=r"1\.6 has no GetTransactionStatus"):
        outbound.transaction_status("1.6", transaction_id="TX-1")
    with pytest.raises(outbound.Unsupported, match=r"1\.6 has no CostUpdated"):
        outbound.cost_updated("1.6", total_cost=1, transaction_id="TX-1")


async def test_an_id_token_after_started_authorises_the_session_and_the_reasons_are_kept(
    daphne_server, station, driver
):
    await IdToken.objects.acreate(token="TAG-1", owner=driver)
    info = {"transaction_id": "TX-1"}
    async with connect(daphne_server) as cp:
        started = await cp.call(
            call.TransactionEvent(
                event_type="Started",
                timestamp="2026-01-01T10:00:00Z",
                trigger_reason="CablePluggedIn",
                seq_no=0,
                transaction_info=info,
                evse={"id": 1},
            )
        )
        authorised = await cp.call(
            call.TransactionEvent(
                event_type="Updated",
                timestamp="2026-01-01T10:01:00Z",
                trigger_reason="Authorized",
                seq_no=1,
                transaction_info={**info, "charging_state": "Charging"},
                id_token={"id_token": "TAG-1", "type": "ISO14443"},
            )
        )
        session = await Transaction.objects.aget(ocpp_transaction_id="TX-1")
        assert (session.status, session.user_id, session.authorization_status) == ("active", driver.pk, "Accepted")
        await cp.call(
            call.TransactionEvent(
                event_type="Ended",
                timestamp="2026-01-01T11:00:00Z",
                trigger_reason="EVCommunicationLost",
                seq_no=2,
                transaction_info={**info, "stopped_reason": "EVDisconnected"},
            )
        )
    assert started.id_token_info is None
    assert authorised.id_token_info["status"] == "Accepted"
    events = [
        (event.event_type, event.trigger_reason, event.stopped_reason)
        async for event in TransactionEvent.objects.filter(transaction=session).order_by("seq_no")
    ]
    assert events == [
        ("Started", "CablePluggedIn", ""),
        ("Updated", "Authorized", ""),
        ("Ended", "EVCommunicationLost", "EVDisconnected"),
    ]
    session = await Transaction.objects.aget(pk=session.pk)
    assert (session.status, session.stop_reason, session.id_tag) == ("completed", "EVDisconnected", "TAG-1")


async def test_a_signed_value_inside_a_transaction_event_is_kept_as_received(daphne_server, station):
    """As MeterValues keeps it (one reading of 2.0.1 meter values for both messages): the signedMeterValue object."""
    signed = {"signed_meter_data": "T0NNRg==", "signing_method": "ECDSA", "encoding_method": "OCMF", "public_key": "MF"}
    sampled = {
        "value": 1.5,
        "measurand": "Energy.Active.Import.Register",
        "unit_of_measure": {"unit": "Wh", "multiplier": 3},
        "signed_meter_value": signed,
    }
    async with connect(daphne_server) as cp:
        await cp.call(
            call.TransactionEvent(
                event_type="Started",
                timestamp="2026-01-01T10:00:00Z",
                trigger_reason="CablePluggedIn",
                seq_no=0,
                transaction_info={"transaction_id": "TX-1"},
                evse={"id": 1},
                meter_value=[{"timestamp": "2026-01-01T10:00:00Z", "sampled_value": [sampled]}],
            )
        )
    sample = await MeterSample.objects.aget(transaction__ocpp_transaction_id="TX-1")
    assert sample.value == 1500
    assert json.loads(sample.signed_data) == {
        "signedMeterData": "T0NNRg==",
        "signingMethod": "ECDSA",
        "encodingMethod": "OCMF",
        "publicKey": "MF",
    }

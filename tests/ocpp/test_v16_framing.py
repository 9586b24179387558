"""Bad frames and refused calls get the OCPP-J 1.6 CALLERROR they deserve, and the connection stays up."""

import asyncio
import contextlib
import json

import pytest
import websockets
from asgiref.sync import sync_to_async
from ocpp.exceptions import SecurityError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16 import call as ocpp_call
from ocpp.v16.enums import Action

from accounts.models import IdToken
from sessions.models import Transaction
from stations.models import Station
from stations.protocol.commands import station_call
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import basic_auth_header, ocpp_connection

pytestmark = pytest.mark.django_db(transaction=True)

STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
T0 = "2026-01-01T10:00:00Z"


@contextlib.asynccontextmanager
async def raw_station(server, ocpp_id="CP-1"):
    """A bare WebSocket to our endpoint, to send frames no well-behaved client library would."""
    async with websockets.connect(
        f"{server.ws_url}/ocpp/{ocpp_id}",
        subprotocols=["ocpp1.6"],
        additional_headers=basic_auth_header(ocpp_id, STATION_PASSWORD),
    ) as ws:
        yield ws


async def exchange(ws, frame: str | bytes) -> list:
    await ws.send(frame)
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def call(ws, unique_id: str, action: str, payload: dict) -> list:
    return await exchange(ws, json.dumps([2, unique_id, action, payload]))


async def assert_still_serving(ws):
    answer = await call(ws, "alive", "Heartbeat", {})
    assert answer[:2] == [3, "alive"] and answer[2]["currentTime"]


BAD_FRAMES = [
    pytest.param("not json at all", "-1", "FormationViolation", id="malformed-json"),
    pytest.param('[2, "cut-1", "Heartbeat", {', "cut-1", "FormationViolation", id="truncated-json-keeps-its-id"),
    pytest.param('{"action": "Heartbeat"}', "-1", "ProtocolError", id="not-an-array"),
    pytest.param("[]", "-1", "ProtocolError", id="empty-array"),
    pytest.param('[2, "few-1", "Heartbeat"]', "few-1", "ProtocolError", id="call-missing-payload"),
    pytest.param('[2, "many-1", "Heartbeat", {}, {}]', "many-1", "ProtocolError", id="call-extra-element"),
    pytest.param('[7, "type-1", "Heartbeat", {}]', "type-1", "PropertyConstraintViolation", id="unknown-type-id"),
    pytest.param('["2", "type-2", "Heartbeat", {}]', "type-2", "TypeConstraintViolation", id="type-id-not-a-number"),
    pytest.param('[2, 12345, "Heartbeat", {}]', "-1", "TypeConstraintViolation", id="message-id-not-a-string"),
    pytest.param(json.dumps([2, "x" * 37, "Heartbeat", {}]), "x" * 37, "TypeConstraintViolation", id="id-too-long"),
    pytest.param('[2, "act-1", 17, {}]', "act-1", "TypeConstraintViolation", id="action-not-a-string"),
    pytest.param('[2, "pay-1", "Heartbeat", []]', "pay-1", "TypeConstraintViolation", id="payload-not-an-object"),
    pytest.param('[2, "act-2", "FlyToTheMoon", {}]', "act-2", "NotImplemented", id="unknown-action"),
    pytest.param('[2, "act-3", "Reset", {"type": "Hard"}]', "act-3", "NotSupported", id="csms-only-action"),
]


async def test_bad_frames_get_the_right_callerror_and_the_connection_stays_up(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1")
    async with raw_station(daphne_server) as ws:
        for param in BAD_FRAMES:
            frame, unique_id, code = param.values
            answer = await exchange(ws, frame)
            assert answer[:3] == [4, unique_id, code], param.id
            assert isinstance(answer[3], str) and answer[3] and isinstance(answer[4], dict), param.id
        await assert_still_serving(ws)


SCHEMA_VIOLATIONS = [
    pytest.param(
        "StatusNotification",
        {"connectorId": 1, "status": "Available"},
        "OccurenceConstraintViolation",
        id="missing-required-field",
    ),
    pytest.param(
        "MeterValues", {"connectorId": 1, "meterValue": []}, "OccurenceConstraintViolation", id="too-few-items"
    ),
    pytest.param(
        "StatusNotification", {**STATUS, "status": "Exploded"}, "PropertyConstraintViolation", id="not-in-enum"
    ),
    pytest.param("StatusNotification", {**STATUS, "connectorId": "one"}, "TypeConstraintViolation", id="wrong-type"),
    pytest.param(
        "BootNotification",
        {"chargePointVendor": "V" * 21, "chargePointModel": "M"},
        "TypeConstraintViolation",
        id="string-too-long",
    ),
    pytest.param(
        "BootNotification",
        {"chargePointVendor": "V", "chargePointModel": "M", "colour": "red"},
        "FormationViolation",
        id="unknown-property",
    ),
    pytest.param(
        "StartTransaction",
        {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "yesterday"},
        "PropertyConstraintViolation",
        id="not-a-date-time",
    ),
]


async def test_schema_violations_are_answered_by_the_failing_constraint(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1")
    async with raw_station(daphne_server) as ws:
        for index, param in enumerate(SCHEMA_VIOLATIONS):
            action, payload, code = param.values
            answer = await call(ws, f"schema-{index}", action, payload)
            assert answer[:3] == [4, f"schema-{index}", code], param.id
        await assert_still_serving(ws)
    assert not await Transaction.objects.aexists()


async def test_oversized_frame_is_refused_with_formation_violation(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1")
    frame = json.dumps([2, "big-1", "DataTransfer", {"vendorId": "com.example", "data": "x" * 70_000}])
    async with raw_station(daphne_server) as ws:
        answer = await exchange(ws, frame)
        assert answer[:3] == [4, "big-1", "FormationViolation"]
        assert "65536" in answer[3]
        await assert_still_serving(ws)


async def test_binary_frame_that_is_not_utf8_is_refused(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1")
    async with raw_station(daphne_server) as ws:
        assert (await exchange(ws, b"\xff\xfe[2]"))[:3] == [4, "-1", "FormationViolation"]
        await assert_still_serving(ws)


async def test_malformed_answer_from_the_station_is_not_answered(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1")
    async with raw_station(daphne_server) as ws:
        await ws.send('[3, "nobody-asked"]')
        await ws.send('[4, "nobody-asked", "GenericError"]')
        # The next frame we get is the answer to this heartbeat: nothing answered the two above.
        await assert_still_serving(ws)


async def test_handler_failure_answers_internal_error_and_loses_nothing_stored(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1")
    await IdToken.objects.acreate(token="T")
    async with raw_station(daphne_server) as ws:
        started = await call(
            ws, "s1", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 100, "timestamp": T0}
        )
        transaction_id = started[2]["transactionId"]
        # A NUL character in the idTag (the schema allows any string): the database refuses the stop.
        answer = await call(
            ws,
            "s2",
            "StopTransaction",
            {
                "transactionId": transaction_id,
                "meterStop": 900,
                "idTag": "T\u0000",
                "timestamp": "2026-01-01T11:00:00Z",
            },
        )
        assert answer[:3] == [4, "s2", "InternalError"]
        session = await Transaction.objects.aget(pk=transaction_id)
        assert session.status == Transaction.Status.ACTIVE and session.meter_start == 100
        answer = await call(
            ws,
            "s3",
            "StopTransaction",
            {"transactionId": transaction_id, "meterStop": 900, "timestamp": "2026-01-01T11:00:00Z"},
        )
        assert answer[:2] == [3, "s3"]
    session = await Transaction.objects.aget(pk=transaction_id)
    assert (session.status, session.energy_wh) == (Transaction.Status.COMPLETED, 800)


async def test_pending_station_may_only_boot_and_heartbeat(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1", registration_status=Station.RegistrationStatus.PENDING)
    async with raw_station(daphne_server) as ws:
        boot = await call(ws, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        assert boot[2]["status"] == "Pending"
        await assert_still_serving(ws)
        refused = await call(ws, "st1", "StatusNotification", STATUS)
        assert refused[:3] == [4, "st1", "SecurityError"]

        # The operator accepts it; the station learns so from its next boot.
        await Station.objects.filter(ocpp_id="CP-1").aupdate(registration_status=Station.RegistrationStatus.ACCEPTED)
        assert (await call(ws, "st2", "StatusNotification", STATUS))[:3] == [4, "st2", "SecurityError"]
        boot = await call(ws, "b2", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        assert boot[2]["status"] == "Accepted"
        assert (await call(ws, "st3", "StatusNotification", STATUS))[:2] == [3, "st3"]


async def test_rejected_station_may_only_boot(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1", registration_status=Station.RegistrationStatus.REJECTED)
    async with raw_station(daphne_server) as ws:
        assert (await call(ws, "h1", "Heartbeat", {}))[:3] == [4, "h1", "SecurityError"]
        start = {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": T0}
        assert (await call(ws, "s1", "StartTransaction", start))[:3] == [4, "s1", "SecurityError"]
        boot = await call(ws, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        assert boot[:2] == [3, "b1"] and boot[2]["status"] == "Rejected"
    assert not await Transaction.objects.aexists()


class AnswersTriggers(ChargePoint):
    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message, **_):
        return call_result.TriggerMessage(status="Accepted")


async def test_pending_station_may_send_once_what_the_csms_triggered(daphne_server, make_station):
    station = await sync_to_async(make_station)("CP-1", registration_status=Station.RegistrationStatus.PENDING)
    notification = ocpp_call.StatusNotification(connector_id=1, error_code="NoError", status="Available")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD, client_class=AnswersTriggers) as cp:
        await cp.call(ocpp_call.Heartbeat())
        command = await station_call(
            station=station, action="TriggerMessage", payload={"requestedMessage": "StatusNotification"}
        )
        assert command.status == "answered"
        assert await cp.call(notification, suppress=False) is not None
        with pytest.raises(SecurityError):
            await cp.call(notification, suppress=False)

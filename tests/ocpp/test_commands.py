"""Commands to a station from another process: every CSMS-initiated 1.6 action over the Redis channel layer.

The test process is the caller; daphne holds the socket; the station is the `ocpp` library's 1.6 client.
"""

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action

from stations.models import Station, StationCommand
from stations.protocol.commands import CSMS_ACTIONS, station_call, station_call_sync
from stations.protocol.ocpp_compat import camel_to_snake_case
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _short_response_timeout(settings):
    """The caller's wait for a station (the server under test already uses 5 s): a lost answer fails fast."""
    settings.CMS_OCPP_RESPONSE_TIMEOUT = 5


T1 = "2026-01-01T10:00:00Z"
T2 = "2026-01-01T12:00:00Z"
PROFILE = {
    "chargingProfileId": 11,
    "stackLevel": 1,
    "chargingProfilePurpose": "TxProfile",
    "chargingProfileKind": "Relative",
    "chargingSchedule": {
        "chargingRateUnit": "A",
        # 21.4 fails "multipleOf": 0.1 as a float; the library parses these numbers as Decimal.
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 21.4},
            {"startPeriod": 900, "limit": 7.5, "numberPhases": 1},
        ],
        "minChargingRate": 6.1,
    },
}
HASH = {"hashAlgorithm": "SHA256", "issuerNameHash": "a" * 64, "issuerKeyHash": "b" * 64, "serialNumber": "1f"}

# action: (payload sent by the CSMS, the station's answer)
COMMANDS = {
    "CancelReservation": ({"reservationId": 7}, {"status": "Accepted"}),
    "ChangeAvailability": ({"connectorId": 1, "type": "Inoperative"}, {"status": "Scheduled"}),
    "ChangeConfiguration": ({"key": "HeartbeatInterval", "value": "60"}, {"status": "Accepted"}),
    "ClearCache": ({}, {"status": "Accepted"}),
    "ClearChargingProfile": (
        {"id": 11, "connectorId": 1, "chargingProfilePurpose": "TxProfile", "stackLevel": 1},
        {"status": "Accepted"},
    ),
    "DataTransfer": (
        {"vendorId": "com.example", "messageId": "ping", "data": '{"n": 1}'},
        {"status": "Accepted", "data": "pong"},
    ),
    "GetCompositeSchedule": (
        {"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"},
        {
            "status": "Accepted",
            "connectorId": 1,
            "scheduleStart": T1,
            "chargingSchedule": {
                "duration": 3600,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}, {"startPeriod": 900, "limit": 7.5}],
            },
        },
    ),
    "GetConfiguration": (
        {"key": ["HeartbeatInterval", "NoSuchKey"]},
        {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            "unknownKey": ["NoSuchKey"],
        },
    ),
    "GetDiagnostics": (
        {"location": "ftp://diag.example.com/in/", "retries": 2, "retryInterval": 30, "startTime": T1, "stopTime": T2},
        {"fileName": "diagnostics-CP-1.zip"},
    ),
    "GetLocalListVersion": ({}, {"listVersion": 4}),
    "RemoteStartTransaction": (
        {"connectorId": 1, "idTag": "TAG-1", "chargingProfile": PROFILE},
        {"status": "Accepted"},
    ),
    "RemoteStopTransaction": ({"transactionId": 12345}, {"status": "Accepted"}),
    "ReserveNow": ({"connectorId": 1, "expiryDate": T2, "idTag": "TAG-1", "reservationId": 7}, {"status": "Accepted"}),
    "Reset": ({"type": "Soft"}, {"status": "Accepted"}),
    "SendLocalList": (
        {
            "listVersion": 5,
            "updateType": "Full",
            "localAuthorizationList": [
                {"idTag": "TAG-1", "idTagInfo": {"status": "Accepted", "expiryDate": T2, "parentIdTag": "FLEET"}},
                {"idTag": "TAG-2", "idTagInfo": {"status": "Blocked"}},
            ],
        },
        {"status": "Accepted"},
    ),
    "SetChargingProfile": ({"connectorId": 1, "csChargingProfiles": PROFILE}, {"status": "Accepted"}),
    "TriggerMessage": ({"requestedMessage": "StatusNotification", "connectorId": 1}, {"status": "Accepted"}),
    "UnlockConnector": ({"connectorId": 1}, {"status": "Unlocked"}),
    "UpdateFirmware": ({"location": "https://fw.example.com/5.9.bin", "retrieveDate": T1, "retries": 3}, {}),
    # The security extension of 1.6.
    "CertificateSigned": (
        {"certificateChain": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"},
        {"status": "Accepted"},
    ),
    "DeleteCertificate": ({"certificateHashData": HASH}, {"status": "Accepted"}),
    "ExtendedTriggerMessage": ({"requestedMessage": "SignChargePointCertificate"}, {"status": "Accepted"}),
    "GetInstalledCertificateIds": (
        {"certificateType": "CentralSystemRootCertificate"},
        {"status": "Accepted", "certificateHashData": [HASH]},
    ),
    "GetLog": (
        {"logType": "SecurityLog", "requestId": 3, "log": {"remoteLocation": "https://logs.example.com/"}},
        {"status": "Accepted", "filename": "security.log"},
    ),
    "InstallCertificate": (
        {"certificateType": "ManufacturerRootCertificate", "certificate": "-----BEGIN CERTIFICATE-----"},
        {"status": "Accepted"},
    ),
    "SignedUpdateFirmware": (
        {
            "requestId": 9,
            "firmware": {
                "location": "https://fw.example.com/6.0.bin",
                "retrieveDateTime": T1,
                "signingCertificate": "-----BEGIN CERTIFICATE-----",
                "signature": "c2lnbmF0dXJl",
            },
        },
        {"status": "Accepted"},
    ),
}


def as_json(value):
    """What the library handed a handler, as plain JSON (its Decimals as floats) for comparisons."""
    return json.loads(json.dumps(value, default=lambda obj: float(obj) if isinstance(obj, Decimal) else str(obj)))


class CommandTarget(ChargePoint):
    """Answers each command with its row of COMMANDS and records what it was sent.

    ``delay`` holds Reset's answer back, for timeouts.
    """

    delay = 0.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict]] = []

    def _answer(self, action, payload):
        self.received.append((action, as_json(payload)))
        answer = COMMANDS[action][1]
        return getattr(call_result, action)(**camel_to_snake_case(answer))

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, **payload):
        return self._answer("CancelReservation", payload)

    @on(Action.change_availability)
    def on_change_availability(self, **payload):
        return self._answer("ChangeAvailability", payload)

    @on(Action.change_configuration)
    def on_change_configuration(self, **payload):
        return self._answer("ChangeConfiguration", payload)

    @on(Action.clear_cache)
    def on_clear_cache(self, **payload):
        return self._answer("ClearCache", payload)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, **payload):
        return self._answer("ClearChargingProfile", payload)

    @on(Action.data_transfer)
    def on_data_transfer(self, **payload):
        return self._answer("DataTransfer", payload)

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, **payload):
        return self._answer("GetCompositeSchedule", payload)

    @on(Action.get_configuration)
    def on_get_configuration(self, **payload):
        return self._answer("GetConfiguration", payload)

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, **payload):
        return self._answer("GetDiagnostics", payload)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **payload):
        return self._answer("GetLocalListVersion", payload)

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(self, **payload):
        return self._answer("RemoteStartTransaction", payload)

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, **payload):
        return self._answer("RemoteStopTransaction", payload)

    @on(Action.reserve_now)
    def on_reserve_now(self, **payload):
        return self._answer("ReserveNow", payload)

    @on(Action.reset)
    async def on_reset(self, **payload):
        await asyncio.sleep(self.delay)
        return self._answer("Reset", payload)

    @on(Action.send_local_list)
    def on_send_local_list(self, **payload):
        return self._answer("SendLocalList", payload)

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, **payload):
        return self._answer("SetChargingProfile", payload)

    @on(Action.trigger_message)
    def on_trigger_message(self, **payload):
        return self._answer("TriggerMessage", payload)

    @on(Action.unlock_connector)
    def on_unlock_connector(self, **payload):
        return self._answer("UnlockConnector", payload)

    @on(Action.update_firmware)
    def on_update_firmware(self, **payload):
        return self._answer("UpdateFirmware", payload)

    @on(Action.certificate_signed)
    def on_certificate_signed(self, **payload):
        return self._answer("CertificateSigned", payload)

    @on(Action.delete_certificate)
    def on_delete_certificate(self, **payload):
        return self._answer("DeleteCertificate", payload)

    @on(Action.extended_trigger_message)
    def on_extended_trigger_message(self, **payload):
        return self._answer("ExtendedTriggerMessage", payload)

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(self, **payload):
        return self._answer("GetInstalledCertificateIds", payload)

    @on(Action.get_log)
    def on_get_log(self, **payload):
        return self._answer("GetLog", payload)

    @on(Action.install_certificate)
    def on_install_certificate(self, **payload):
        return self._answer("InstallCertificate", payload)

    @on(Action.signed_update_firmware)
    def on_signed_update_firmware(self, **payload):
        return self._answer("SignedUpdateFirmware", payload)


async def wait_until_online(ocpp_id: str, timeout: float = 5.0) -> Station:
    """The consumer records the connection just after accepting it; commands go to that record."""

    async def connected() -> Station | None:
        station = await Station.objects.aget(ocpp_id=ocpp_id)
        return station if station.is_online and station.channel_name else None

    return await until(connected, within=timeout, what=f"{ocpp_id} online", every=0.02)


@contextlib.asynccontextmanager
async def online_station(server, make_station, ocpp_id="CP-1", client_class=CommandTarget, **fields):
    """A registered station connected with ``client_class``: yields (station row, client)."""
    await sync_to_async(make_station)(ocpp_id, **fields)
    async with ocpp_connection(server, ocpp_id, STATION_PASSWORD, client_class=client_class) as client:
        station = await wait_until_online(ocpp_id)
        yield station, client


def test_the_table_covers_every_csms_initiated_action_of_1_6():
    assert set(COMMANDS) == CSMS_ACTIONS["1.6"]
    assert (
        len(
            CSMS_ACTIONS["1.6"]
            - {
                "CertificateSigned",
                "DeleteCertificate",
                "ExtendedTriggerMessage",
                "GetInstalledCertificateIds",
                "GetLog",
                "InstallCertificate",
                "SignedUpdateFirmware",
            }
        )
        == 19
    )


@pytest.mark.parametrize("action", sorted(COMMANDS))
async def test_command_round_trips_to_the_station_and_is_recorded(daphne_server, make_station, operator_admin, action):
    payload, answer = COMMANDS[action]
    async with online_station(daphne_server, make_station) as (station, client):
        command = await station_call(station=station, action=action, payload=payload, requested_by=operator_admin)
    assert (command.status, command.error_code, command.error_description) == ("answered", "", "")
    assert command.response == answer
    assert client.received == [(action, as_json(camel_to_snake_case(payload)))]
    stored = await StationCommand.objects.aget(pk=command.pk)
    assert (stored.action, stored.payload, stored.status, stored.response) == (action, payload, "answered", answer)
    assert stored.requested_by_id == operator_admin.pk
    assert stored.answered_at is not None


async def test_limits_with_one_decimal_reach_the_station_exactly(daphne_server, make_station):
    payload = COMMANDS["SetChargingProfile"][0]
    async with online_station(daphne_server, make_station) as (station, client):
        command = await station_call(station=station, action="SetChargingProfile", payload=payload)
    assert command.status == "answered"
    periods = client.received[0][1]["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"]
    assert [period["limit"] for period in periods] == [21.4, 7.5]


async def test_a_callerror_from_the_station_is_recorded_with_its_code(daphne_server, make_station):
    # The library's bare client has no handlers: it answers NotImplemented.
    async with online_station(daphne_server, make_station, client_class=ChargePoint) as (station, _):
        command = await station_call(station=station, action="Reset", payload={"type": "Hard"})
    assert command.status == "call_error"
    assert command.error_code == "NotImplemented"
    assert command.error_description
    assert command.answered_at is not None


class RefusingStation(ChargePoint):
    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id):
        raise PropertyConstraintViolationError(description=f"connector {connector_id} does not exist")

    @on(Action.clear_cache, skip_schema_validation=True)
    def on_clear_cache(self):
        return call_result.ClearCache(status="Maybe")


async def test_a_handler_failure_reaches_the_caller_as_call_error(daphne_server, make_station):
    async with online_station(daphne_server, make_station, client_class=RefusingStation) as (station, _):
        command = await station_call(station=station, action="UnlockConnector", payload={"connectorId": 9})
    assert (command.status, command.error_code) == ("call_error", "PropertyConstraintViolation")
    assert command.error_description == "connector 9 does not exist"


async def test_an_answer_that_breaks_the_schema_is_a_call_error_and_kept(daphne_server, make_station):
    async with online_station(daphne_server, make_station, client_class=RefusingStation) as (station, _):
        command = await station_call(station=station, action="ClearCache", payload={})
    assert (command.status, command.error_code) == ("call_error", "InvalidResponse")
    assert "status: 'Maybe' is not one of" in command.error_description
    assert command.response == {"status": "Maybe"}


async def test_a_station_that_does_not_answer_in_time_is_a_timeout_and_its_late_answer_is_ignored(
    daphne_server, make_station
):
    async with online_station(daphne_server, make_station) as (station, client):
        client.delay = 1.5
        started = time.monotonic()
        late = await station_call(station=station, action="Reset", payload={"type": "Soft"}, timeout=0.5)
        assert late.status == "timeout"
        assert "did not answer within 0.5 s" in late.error_description
        assert time.monotonic() - started < 1.4
        assert late.answered_at is None

        # The late answer to the first Reset arrives while the next command waits: it is not taken for it.
        client.delay = 0
        command = await station_call(station=station, action="GetLocalListVersion", payload={}, timeout=5)
    assert (command.status, command.response) == ("answered", {"listVersion": 4})
    assert [action for action, _ in client.received] == ["Reset", "GetLocalListVersion"]


async def test_commands_sent_at_once_are_made_one_at_a_time_and_each_gets_its_own_answer(daphne_server, make_station):
    actions = ["ClearCache", "GetLocalListVersion", "UnlockConnector", "DataTransfer"]
    async with online_station(daphne_server, make_station) as (station, client):
        commands = await asyncio.gather(
            *(station_call(station=station, action=action, payload=COMMANDS[action][0]) for action in actions)
        )
    assert [(c.action, c.status, c.response) for c in commands] == [(a, "answered", COMMANDS[a][1]) for a in actions]
    assert sorted(action for action, _ in client.received) == sorted(actions)


async def test_a_disconnected_station_fails_fast_as_offline(daphne_server, make_station):
    station = await sync_to_async(make_station)("CP-1", ocpp_version="1.6")
    started = time.monotonic()
    command = await station_call(station=station, action="Reset", payload={"type": "Soft"}, timeout=5)
    assert time.monotonic() - started < 1
    assert (command.status, command.error_description) == ("offline", "The station is not connected.")
    assert await StationCommand.objects.filter(pk=command.pk, status="offline").aexists()


async def test_a_station_that_never_connected_is_offline(daphne_server, make_station):
    station = await sync_to_async(make_station)("CP-1")
    command = await station_call(station=station, action="Reset", payload={"type": "Soft"})
    assert (command.status, command.error_description) == ("offline", "The station has never connected.")


@pytest.mark.parametrize(
    ("action", "payload", "problem"),
    [
        ("Reset", {"type": "Gentle"}, "type: 'Gentle' is not one of ['Hard', 'Soft']"),
        ("Reset", {}, "(payload): 'type' is a required property"),
        ("UnlockConnector", {"connectorId": "one"}, "connectorId: 'one' is not of type 'integer'"),
        ("ClearCache", {"everything": True}, "Additional properties are not allowed ('everything' was unexpected)"),
        (
            "SetChargingProfile",
            {"connectorId": 1, "csChargingProfiles": {**PROFILE, "stackLevel": "high"}},
            "csChargingProfiles.stackLevel: 'high' is not of type 'integer'",
        ),
        ("BootNotification", {}, "'BootNotification' is not a command a CSMS can send to an OCPP 1.6 station."),
        ("Dance", {}, "'Dance' is not a command a CSMS can send"),
        ("Reset", ["Soft"], "The payload must be a JSON object."),
    ],
)
async def test_an_invalid_command_is_recorded_and_never_sent(daphne_server, make_station, action, payload, problem):
    async with online_station(daphne_server, make_station) as (station, client):
        command = await station_call(station=station, action=action, payload=payload)
        # Anything sent would be answered before this one.
        assert (await station_call(station=station, action="ClearCache", payload={})).status == "answered"
    assert command.status == "invalid"
    assert problem in command.error_description
    assert client.received == [("ClearCache", {})]
    assert await StationCommand.objects.filter(pk=command.pk, status="invalid", action=action).aexists()


async def test_a_2_0_1_station_is_checked_against_the_2_0_1_schemas(daphne_server, make_station):
    station = await sync_to_async(make_station)("CP-1", ocpp_version="2.0.1")
    invalid = await station_call(station=station, action="RemoteStartTransaction", payload={"idTag": "T"})
    assert invalid.status == "invalid"
    valid = await station_call(station=station, action="Reset", payload={"type": "OnIdle"})
    assert valid.status == "offline"


async def test_python_callers_may_pass_decimals_and_datetimes(daphne_server, make_station):
    expiry = datetime(2030, 1, 1, 12, tzinfo=UTC)
    payload = {"connectorId": 1, "expiryDate": expiry, "idTag": "TAG-1", "reservationId": 7}
    async with online_station(daphne_server, make_station) as (station, client):
        command = await station_call(station=station, action="ReserveNow", payload=payload)
        limited = {
            "connectorId": 1,
            "csChargingProfiles": {
                **PROFILE,
                "chargingSchedule": {
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": Decimal("11000.0")}],
                },
            },
        }
        profile = await station_call(station=station, action="SetChargingProfile", payload=limited)
    assert command.status == profile.status == "answered"
    assert command.payload["expiryDate"] == "2030-01-01T12:00:00+00:00"
    assert client.received[1][1]["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"] == [
        {"start_period": 0, "limit": 11000.0}
    ]


async def test_the_sync_wrapper_works_from_a_plain_thread_like_a_worker_or_the_shell(daphne_server, make_station):
    async with online_station(daphne_server, make_station) as (station, client):
        command = await asyncio.to_thread(
            station_call_sync, station=station, action="TriggerMessage", payload={"requestedMessage": "Heartbeat"}
        )
    assert (command.status, command.response) == ("answered", {"status": "Accepted"})
    assert client.received == [("TriggerMessage", {"requested_message": "Heartbeat"})]

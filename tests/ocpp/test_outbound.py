"""The version-neutral verbs: each builds a call its version's official schema accepts, and reads the answers back."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from ocpp.messages import MessageType

from accounts.selectors import LocalListEntry
from sessions.models import Transaction
from stations.models import StationCommand
from stations.protocol import outbound
from stations.protocol.commands import payload_errors
from stations.protocol.outbound import Outcome, Unsupported

EXPIRES = datetime(2030, 1, 1, 12, tzinfo=UTC)
ENTRIES = [
    LocalListEntry(token="CARD-1", type="ISO14443", status="Accepted", expires_at=EXPIRES, parent_id="GROUP-1"),
    LocalListEntry(token="CARD-2", type="ISO14443", status="Blocked", expires_at=None, parent_id=None),
]
PROFILE_16 = {
    "chargingProfileId": 1,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]},
}
PROFILE_201 = {
    "id": 1,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": [
        {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}
    ],
}

# Each verb with its arguments, and the call it makes on each version (an action alone: the payload varies;
# None: the version lacks the verb).
CALLS = [
    (
        outbound.remote_start,
        {"id_token": "CARD-1", "connector_id": 2},
        ("RemoteStartTransaction", {"idTag": "CARD-1", "connectorId": 2}),
        "RequestStartTransaction",
    ),
    (outbound.reset, {"hard": True}, ("Reset", {"type": "Hard"}), ("Reset", {"type": "Immediate"})),
    (outbound.reset, {"hard": False}, ("Reset", {"type": "Soft"}), ("Reset", {"type": "OnIdle"})),
    (
        outbound.unlock,
        {"connector_id": 2},
        ("UnlockConnector", {"connectorId": 2}),
        ("UnlockConnector", {"evseId": 2, "connectorId": 1}),
    ),
    (
        outbound.change_availability,
        {"operative": False, "connector_id": 1},
        ("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}),
        ("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}}),
    ),
    (
        outbound.change_availability,
        {"operative": True},
        ("ChangeAvailability", {"connectorId": 0, "type": "Operative"}),
        ("ChangeAvailability", {"operationalStatus": "Operative"}),
    ),
    (
        outbound.trigger_message,
        {"message": "DiagnosticsStatusNotification", "connector_id": 1},
        ("TriggerMessage", {"requestedMessage": "DiagnosticsStatusNotification", "connectorId": 1}),
        ("TriggerMessage", {"requestedMessage": "LogStatusNotification", "evse": {"id": 1}}),
    ),
    (
        outbound.trigger_message,
        {"message": "Heartbeat"},
        ("TriggerMessage", {"requestedMessage": "Heartbeat"}),
        ("TriggerMessage", {"requestedMessage": "Heartbeat"}),
    ),
    (
        outbound.configuration_read,
        {"keys": ["HeartbeatInterval"]},
        ("GetConfiguration", {"key": ["HeartbeatInterval"]}),
        None,
    ),
    (outbound.configuration_read, {}, ("GetConfiguration", {}), None),
    (
        outbound.configuration_write,
        {"key": "HeartbeatInterval", "value": "60"},
        ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}),
        None,
    ),
    (outbound.clear_cache, {}, ("ClearCache", {}), ("ClearCache", {})),
    (
        outbound.diagnostics_upload,
        {
            "location": "https://csms.example.com/up/",
            "request_id": 5,
            "start_time": "2030-01-01T00:00:00+00:00",
            "retries": 2,
        },
        (
            "GetDiagnostics",
            {"location": "https://csms.example.com/up/", "retries": 2, "startTime": "2030-01-01T00:00:00+00:00"},
        ),
        (
            "GetLog",
            {
                "logType": "DiagnosticsLog",
                "requestId": 5,
                "retries": 2,
                "log": {
                    "remoteLocation": "https://csms.example.com/up/",
                    "oldestTimestamp": "2030-01-01T00:00:00+00:00",
                },
            },
        ),
    ),
    (
        outbound.firmware_update,
        {
            "location": "https://csms.example.com/fw.bin",
            "retrieve_date": "2030-01-01T00:00:00+00:00",
            "request_id": 5,
            "retry_interval": 60,
        },
        (
            "UpdateFirmware",
            {
                "location": "https://csms.example.com/fw.bin",
                "retrieveDate": "2030-01-01T00:00:00+00:00",
                "retryInterval": 60,
            },
        ),
        (
            "UpdateFirmware",
            {
                "requestId": 5,
                "retryInterval": 60,
                "firmware": {
                    "location": "https://csms.example.com/fw.bin",
                    "retrieveDateTime": "2030-01-01T00:00:00+00:00",
                },
            },
        ),
    ),
    (outbound.local_list_version, {}, ("GetLocalListVersion", {}), ("GetLocalListVersion", {})),
    (
        outbound.local_list_send,
        {"version": 3, "full": True, "entries": ENTRIES},
        (
            "SendLocalList",
            {
                "listVersion": 3,
                "updateType": "Full",
                "localAuthorizationList": [
                    {
                        "idTag": "CARD-1",
                        "idTagInfo": {
                            "status": "Accepted",
                            "expiryDate": EXPIRES.isoformat(),
                            "parentIdTag": "GROUP-1",
                        },
                    },
                    {"idTag": "CARD-2", "idTagInfo": {"status": "Blocked"}},
                ],
            },
        ),
        (
            "SendLocalList",
            {
                "versionNumber": 3,
                "updateType": "Full",
                "localAuthorizationList": [
                    {
                        "idToken": {"idToken": "CARD-1", "type": "ISO14443"},
                        "idTokenInfo": {
                            "status": "Accepted",
                            "cacheExpiryDateTime": EXPIRES.isoformat(),
                            "groupIdToken": {"idToken": "GROUP-1", "type": "Central"},
                        },
                    },
                    {"idToken": {"idToken": "CARD-2", "type": "ISO14443"}, "idTokenInfo": {"status": "Blocked"}},
                ],
            },
        ),
    ),
    (
        outbound.local_list_send,
        {"version": 4, "full": False, "entries": []},
        ("SendLocalList", {"listVersion": 4, "updateType": "Differential"}),
        ("SendLocalList", {"versionNumber": 4, "updateType": "Differential"}),
    ),
    (
        outbound.local_list_settings_read,
        {},
        (
            "GetConfiguration",
            {
                "key": [
                    "LocalAuthListEnabled",
                    "LocalAuthListMaxLength",
                    "SendLocalListMaxLength",
                    "SupportedFeatureProfiles",
                ]
            },
        ),
        "GetVariables",
    ),
    (
        outbound.charging_profile_clear,
        {"connector_id": 1, "purpose": "TxDefaultProfile"},
        ("ClearChargingProfile", {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile"}),
        (
            "ClearChargingProfile",
            {"chargingProfileCriteria": {"evseId": 1, "chargingProfilePurpose": "TxDefaultProfile"}},
        ),
    ),
    (
        outbound.charging_profile_clear,
        {"profile_id": 4},
        ("ClearChargingProfile", {"id": 4}),
        ("ClearChargingProfile", {"chargingProfileId": 4}),
    ),
    (
        outbound.composite_schedule,
        {"connector_id": 1, "duration": 3600, "rate_unit": "W"},
        ("GetCompositeSchedule", {"connectorId": 1, "duration": 3600, "chargingRateUnit": "W"}),
        ("GetCompositeSchedule", {"evseId": 1, "duration": 3600, "chargingRateUnit": "W"}),
    ),
    (
        outbound.reserve,
        {"reservation_id": 9, "connector_id": 1, "expires_at": EXPIRES, "id_token": "CARD-1", "parent_id": "GROUP-1"},
        (
            "ReserveNow",
            {
                "reservationId": 9,
                "connectorId": 1,
                "expiryDate": EXPIRES.isoformat(),
                "idTag": "CARD-1",
                "parentIdTag": "GROUP-1",
            },
        ),
        (
            "ReserveNow",
            {
                "id": 9,
                "expiryDateTime": EXPIRES.isoformat(),
                "evseId": 1,
                "idToken": {"idToken": "CARD-1", "type": "Central"},
                "groupIdToken": {"idToken": "GROUP-1", "type": "Central"},
            },
        ),
    ),
    (
        outbound.reservation_cancel,
        {"reservation_id": 9},
        ("CancelReservation", {"reservationId": 9}),
        ("CancelReservation", {"reservationId": 9}),
    ),
    (
        outbound.data_transfer,
        {"vendor_id": "com.example", "message_id": "ping", "data": "1"},
        ("DataTransfer", {"vendorId": "com.example", "messageId": "ping", "data": "1"}),
        ("DataTransfer", {"vendorId": "com.example", "messageId": "ping", "data": "1"}),
    ),
]
IDS = [f"{verb.__name__}-{index}" for index, (verb, *_rest) in enumerate(CALLS)]


@pytest.mark.parametrize(("verb", "arguments", "call_16", "call_201"), CALLS, ids=IDS)
def test_each_verb_makes_the_1_6_call_the_schema_accepts(verb, arguments, call_16, call_201):
    call = verb("1.6", **arguments)
    assert call == call_16
    assert payload_errors(action=call.action, payload=call.payload, ocpp_version="1.6") == []


@pytest.mark.parametrize(("verb", "arguments", "call_16", "call_201"), CALLS, ids=IDS)
def test_each_verb_makes_the_2_0_1_call_the_schema_accepts_or_says_why_not(verb, arguments, call_16, call_201):
    if call_201 is None:
        with pytest.raises(Unsupported):
            verb("2.0.1", **arguments)
        return
    call = verb("2.0.1", **arguments)
    assert call == call_201 if isinstance(call_201, tuple) else call.action == call_201
    assert payload_errors(action=call.action, payload=call.payload, ocpp_version="2.0.1") == []


def test_a_2_0_1_remote_start_carries_a_remote_start_id_to_link_its_session():
    first = outbound.remote_start("2.0.1", id_token="VGAPP", connector_id=2)
    second = outbound.remote_start("2.0.1", id_token="VGAPP", connector_id=2)
    assert first.payload["idToken"] == {"idToken": "VGAPP", "type": "Central"}
    assert first.payload["evseId"] == 2
    assert 1 <= first.payload["remoteStartId"] < 2**31
    assert first.payload["remoteStartId"] != second.payload["remoteStartId"]


def test_a_remote_stop_names_the_session_as_each_version_knows_it():
    session = Transaction(pk=41, ocpp_transaction_id="abc-1")
    calls = {
        version: outbound.remote_stop(version, transaction_id=outbound.station_transaction_id(version, session))
        for version in ("1.6", "2.0.1")
    }
    assert calls == {
        "1.6": ("RemoteStopTransaction", {"transactionId": 41}),
        "2.0.1": ("RequestStopTransaction", {"transactionId": "abc-1"}),
    }
    for version, (action, payload) in calls.items():
        assert payload_errors(action=action, payload=payload, ocpp_version=version) == []


@pytest.mark.parametrize("profile", [PROFILE_16, PROFILE_201], ids=["1.6", "2.0.1"])
def test_a_charging_profile_is_installed_in_the_versions_own_format(profile):
    version = "1.6" if profile is PROFILE_16 else "2.0.1"
    call = outbound.charging_profile_set(version, connector_id=1, profile=profile)
    assert call.payload == (
        {"connectorId": 1, "csChargingProfiles": profile}
        if version == "1.6"
        else {"evseId": 1, "chargingProfile": profile}
    )
    assert payload_errors(action=call.action, payload=call.payload, ocpp_version=version) == []


def test_a_station_that_never_connected_gets_1_6_calls_and_an_unknown_version_none():
    assert outbound.reset("", hard=True) == ("Reset", {"type": "Hard"})
    with pytest.raises(Unsupported, match=r"OCPP 3\.0 is not spoken here"):
        outbound.reset("3.0", hard=True)


def test_what_2_0_1_lacks_is_refused_with_the_reason():
    with pytest.raises(Unsupported, match="GetVariables or SetVariables"):
        outbound.configuration_write("2.0.1", key="HeartbeatInterval", value="60")
    outbound.check("2.0.1", outbound.local_list_version, outbound.local_list_send, outbound.local_list_settings_read)
    outbound.check("1.6", outbound.local_list_send, outbound.configuration_read)  # nothing missing


def test_the_longest_id_token_follows_the_version():
    assert outbound.id_token_max_length("1.6") == 20
    assert outbound.id_token_max_length("2.0.1") == 36


def answered(action: str, response: dict) -> StationCommand:
    return StationCommand(action=action, status=StationCommand.Status.ANSWERED, response=response)


# (version, action, the station's answer) -> (outcome, status word, data)
ANSWERS = [
    ("1.6", "Reset", {"status": "Accepted"}, Outcome.ACCEPTED, "Accepted", {}),
    ("1.6", "Reset", {"status": "Rejected"}, Outcome.REJECTED, "Rejected", {}),
    ("2.0.1", "Reset", {"status": "Scheduled"}, Outcome.SCHEDULED, "Scheduled", {}),
    ("1.6", "UnlockConnector", {"status": "Unlocked"}, Outcome.ACCEPTED, "Unlocked", {}),
    ("1.6", "UnlockConnector", {"status": "UnlockFailed"}, Outcome.FAILED, "UnlockFailed", {}),
    ("2.0.1", "UnlockConnector", {"status": "UnknownConnector"}, Outcome.REJECTED, "UnknownConnector", {}),
    ("1.6", "ChangeAvailability", {"status": "Scheduled"}, Outcome.SCHEDULED, "Scheduled", {}),
    ("1.6", "ChangeConfiguration", {"status": "RebootRequired"}, Outcome.REBOOT_REQUIRED, "RebootRequired", {}),
    ("1.6", "ChangeConfiguration", {"status": "NotSupported"}, Outcome.NOT_SUPPORTED, "NotSupported", {}),
    ("1.6", "TriggerMessage", {"status": "NotImplemented"}, Outcome.NOT_SUPPORTED, "NotImplemented", {}),
    ("2.0.1", "ClearCache", {"status": "Rejected"}, Outcome.REJECTED, "Rejected", {}),
    (
        "1.6",
        "GetConfiguration",
        {"configurationKey": [{"key": "HeartbeatInterval", "value": "60", "readonly": False}], "unknownKey": ["X"]},
        Outcome.ACCEPTED,
        "",
        {"keys": [{"key": "HeartbeatInterval", "value": "60", "readonly": False}], "unknown": ["X"]},
    ),
    ("1.6", "GetDiagnostics", {"fileName": "diag.zip"}, Outcome.ACCEPTED, "", {"file_name": "diag.zip"}),
    ("1.6", "GetDiagnostics", {}, Outcome.NOTHING_TO_DO, "", {"file_name": None}),
    ("2.0.1", "GetLog", {"status": "AcceptedCanceled"}, Outcome.ACCEPTED, "AcceptedCanceled", {"file_name": None}),
    ("2.0.1", "GetLog", {"status": "Rejected"}, Outcome.REJECTED, "Rejected", {"file_name": None}),
    ("1.6", "UpdateFirmware", {}, Outcome.ACCEPTED, "", {}),
    ("2.0.1", "UpdateFirmware", {"status": "InvalidCertificate"}, Outcome.REJECTED, "InvalidCertificate", {}),
    ("1.6", "GetLocalListVersion", {"listVersion": 4}, Outcome.ACCEPTED, "", {"version": 4}),
    ("2.0.1", "GetLocalListVersion", {"versionNumber": 4}, Outcome.ACCEPTED, "", {"version": 4}),
    ("1.6", "SendLocalList", {"status": "VersionMismatch"}, Outcome.VERSION_MISMATCH, "VersionMismatch", {}),
    ("1.6", "SendLocalList", {"status": "Failed"}, Outcome.FAILED, "Failed", {}),
    ("1.6", "RemoteStartTransaction", {"status": "Accepted"}, Outcome.ACCEPTED, "Accepted", {}),
    ("2.0.1", "RequestStopTransaction", {"status": "Rejected"}, Outcome.REJECTED, "Rejected", {}),
    (
        "1.6",
        "GetCompositeSchedule",
        {
            "status": "Accepted",
            "chargingSchedule": {
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}],
            },
        },
        Outcome.ACCEPTED,
        "Accepted",
        {"schedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}]}},
    ),
    (
        "2.0.1",
        "GetCompositeSchedule",
        {"status": "Rejected"},
        Outcome.REJECTED,
        "Rejected",
        {"schedule": None},
    ),
    ("1.6", "ReserveNow", {"status": "Occupied"}, Outcome.REJECTED, "Occupied", {}),
    (
        "2.0.1",
        "DataTransfer",
        {"status": "Accepted", "data": {"a": 1}},
        Outcome.ACCEPTED,
        "Accepted",
        {"data": {"a": 1}},
    ),
]


@pytest.mark.parametrize(("version", "action", "response", "outcome", "status", "data"), ANSWERS)
def test_answers_are_read_as_a_neutral_outcome_keeping_the_stations_word(
    version, action, response, outcome, status, data
):
    assert (
        payload_errors(action=action, payload=response, ocpp_version=version, message_type=MessageType.CallResult) == []
    )
    answer = outbound.answer_of(version, answered(action, response))
    assert (answer.outcome, answer.status, answer.data) == (outcome, status, data)
    assert answer.accepted == (outcome in (Outcome.ACCEPTED, Outcome.SCHEDULED, Outcome.REBOOT_REQUIRED))


def test_an_unanswered_command_has_no_answer_to_read():
    with pytest.raises(ValueError, match="not answered"):
        outbound.answer_of("1.6", StationCommand(action="Reset", status=StationCommand.Status.TIMEOUT))


# Linking a remote start to the session it led to, and a remote stop to the session it names.


def start_command(station, action: str, payload: dict, answer: str = "Accepted") -> StationCommand:
    return StationCommand.objects.create(
        station=station,
        action=action,
        payload=payload,
        status=StationCommand.Status.ANSWERED,
        response={"status": answer},
    )


def session(station, **fields) -> Transaction:
    return Transaction.objects.create(
        station=station, connector_id=fields.pop("connector_id", 1), started_at=timezone.now(), **fields
    )


def test_a_1_6_remote_start_is_linked_by_id_tag_and_connector(make_station):
    station = make_station("CP-1", ocpp_version="1.6")
    command = start_command(station, "RemoteStartTransaction", {"idTag": "card-1", "connectorId": 2})
    assert outbound.remote_start_session(command=command) is None  # not started yet
    session(station, connector_id=1, id_tag="CARD-1")  # another connector
    started = session(station, connector_id=2, id_tag="CARD-1")
    assert outbound.remote_start_session(command=command) == started
    assert StationCommand.objects.get(pk=command.pk).transaction_id == started.pk


def test_a_2_0_1_remote_start_is_linked_by_its_remote_start_id(make_station):
    station = make_station("CP-2", ocpp_version="2.0.1")
    command = start_command(
        station,
        "RequestStartTransaction",
        {"idToken": {"idToken": "CARD-1", "type": "Central"}, "evseId": 1, "remoteStartId": 77},
    )
    session(station, id_tag="CARD-1", remote_start_id=78, ocpp_transaction_id="tx-a")
    assert outbound.remote_start_session(command=command) is None
    started = session(station, id_tag="CARD-1", remote_start_id=77, ocpp_transaction_id="tx-b")
    assert outbound.remote_start_session(command=command) == started


def test_a_rejected_remote_start_or_an_older_session_is_never_linked(make_station):
    station = make_station("CP-1", ocpp_version="1.6")
    session(station, connector_id=1, id_tag="CARD-1")  # before the command
    command = start_command(station, "RemoteStartTransaction", {"idTag": "CARD-1", "connectorId": 1})
    assert outbound.remote_start_session(command=command) is None
    Transaction.objects.update(created_at=timezone.now() + timedelta(seconds=1))
    rejected = start_command(station, "RemoteStartTransaction", {"idTag": "CARD-1"}, answer="Rejected")
    assert outbound.remote_start_session(command=rejected) is None


def test_remote_starts_at_a_connector_are_found_in_either_version(make_station):
    station = make_station("CP-1", ocpp_version="1.6")
    at_two_16 = start_command(station, "RemoteStartTransaction", {"idTag": "A", "connectorId": 2})
    at_two_201 = start_command(station, "RequestStartTransaction", {"evseId": 2, "remoteStartId": 1})
    start_command(station, "RemoteStartTransaction", {"idTag": "A", "connectorId": 1})
    start_command(station, "UnlockConnector", {"connectorId": 2})
    found = StationCommand.objects.filter(outbound.remote_starts_at(2))
    assert set(found) == {at_two_16, at_two_201}


def test_a_remote_stop_names_the_stations_own_session(make_station):
    station, other = make_station("CP-1", ocpp_version="1.6"), make_station("CP-2", ocpp_version="2.0.1")
    ours = session(station)
    theirs = session(other, ocpp_transaction_id="tx-9")
    assert (
        outbound.stopped_session_id(
            station_id=station.pk, action="RemoteStopTransaction", payload={"transactionId": ours.pk}
        )
        == ours.pk
    )
    assert (
        outbound.stopped_session_id(
            station_id=other.pk, action="RequestStopTransaction", payload={"transactionId": "tx-9"}
        )
        == theirs.pk
    )
    assert (
        outbound.stopped_session_id(
            station_id=other.pk, action="RemoteStopTransaction", payload={"transactionId": ours.pk}
        )
        is None
    )
    assert outbound.stopped_session_id(station_id=station.pk, action="Reset", payload={"type": "Hard"}) is None

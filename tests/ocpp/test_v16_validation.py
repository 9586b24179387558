"""The compiled schema validators accept exactly what the `ocpp` library's validator accepts, with the same CALLERROR.

Over the wire, test_v16_framing checks the codes stations get; here many payloads are checked directly
against the library's own ``jsonschema`` validator of the same official schema.
"""

import pytest
from jsonschema.exceptions import best_match
from ocpp.exceptions import OCPPError, PropertyConstraintViolationError
from ocpp.messages import Call, CallResult, MessageType, get_validator

from stations.protocol.framing.schema import SCHEMA_ERRORS, payload_errors, result_is_valid, validate_call

SAMPLE = {"timestamp": "2026-01-01T10:00:00Z", "sampledValue": [{"value": "1"}]}
STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}

PAYLOADS = [
    ("Heartbeat", {}),
    ("Heartbeat", {"extra": 1}),
    ("MeterValues", {"connectorId": 1, "meterValue": [SAMPLE]}),
    ("MeterValues", {"connectorId": 1, "transactionId": 7, "meterValue": [SAMPLE]}),
    ("MeterValues", {"connectorId": 1, "meterValue": []}),
    ("MeterValues", {"connectorId": 1.0, "meterValue": [SAMPLE]}),
    ("MeterValues", {"connectorId": True, "meterValue": [SAMPLE]}),
    ("MeterValues", {"connectorId": 1, "transactionId": 1.5, "meterValue": [SAMPLE]}),
    ("MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": "x", "sampledValue": [{"value": 1}]}]}),
    ("MeterValues", {"connectorId": 1, "meterValue": [{"sampledValue": [{"value": "1"}]}]}),
    (
        "MeterValues",
        {"connectorId": 1, "meterValue": [{"timestamp": "x", "sampledValue": [{"value": "1", "unit": "Celcius"}]}]},
    ),
    (
        "MeterValues",
        {"connectorId": 1, "meterValue": [{"timestamp": "x", "sampledValue": [{"value": "1", "unit": "Parsec"}]}]},
    ),
    ("MeterValues", {"connectorId": -1, "meterValue": [SAMPLE]}),
    ("StatusNotification", STATUS),
    ("StatusNotification", {**STATUS, "timestamp": "not a date"}),  # formats are not checked, as by the library
    ("StatusNotification", {**STATUS, "info": "i" * 50}),
    ("StatusNotification", {**STATUS, "info": "i" * 51}),
    ("StatusNotification", {**STATUS, "info": "é" * 50}),
    ("StatusNotification", {**STATUS, "status": "Exploded"}),
    ("StatusNotification", {"connectorId": 1, "status": "Available"}),
    ("StatusNotification", {**STATUS, "colour": "red"}),
    ("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}),
    ("BootNotification", {"chargePointVendor": "V" * 21, "chargePointModel": "M"}),
    ("BootNotification", {"chargePointVendor": None, "chargePointModel": "M"}),
    ("StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-01-01T10:00:00Z"}),
    ("StartTransaction", {"connectorId": 1, "idTag": "T" * 21, "meterStart": 0, "timestamp": "t"}),
    ("StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 1e3, "timestamp": "t"}),
    ("StopTransaction", {"transactionId": 1, "meterStop": 10, "timestamp": "t", "reason": "EVDisconnected"}),
    ("StopTransaction", {"transactionId": 1, "meterStop": 10, "timestamp": "t", "reason": "Bored"}),
    ("StopTransaction", {"transactionId": 1, "meterStop": 10, "timestamp": "t", "transactionData": [SAMPLE]}),
    ("DataTransfer", {"vendorId": "com.example", "data": "anything"}),
    ("DataTransfer", {"vendorId": "v" * 256}),
    ("Authorize", {"idTag": ""}),
    ("Authorize", {"idTag": 42}),
    ("FirmwareStatusNotification", {"status": "Installed"}),
    ("DiagnosticsStatusNotification", {"status": "Uploading"}),
]


def library_verdict(action: str, payload: dict) -> str | None:
    """What the library's validator says: None if valid, else the code our keyword table gives its best error."""
    violation = best_match(get_validator(2, action, "1.6").iter_errors(payload))
    if violation is None:
        return None
    return SCHEMA_ERRORS[violation.validator]().code


@pytest.mark.parametrize(("action", "payload"), PAYLOADS)
async def test_compiled_validation_agrees_with_the_library(action, payload):
    expected = library_verdict(action, payload)
    try:
        await validate_call(Call("1", action, payload), "1.6")
    except OCPPError as error:
        assert error.code == expected
        assert error.details["path"].startswith("/")
    else:
        assert expected is None


def test_the_corpus_holds_both_valid_and_invalid_payloads():
    verdicts = {library_verdict(action, payload) for action, payload in PAYLOADS}
    assert verdicts == {
        None,
        "TypeConstraintViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "FormationViolation",
    }


async def test_numbers_of_charging_limits_keep_the_library_decimal_validation():
    profile = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}],
            },
        },
    }
    await validate_call(Call("1", "SetChargingProfile", profile), "1.6")  # 21.4 is a multiple of 0.1
    profile["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] = 21.45
    with pytest.raises(PropertyConstraintViolationError):
        await validate_call(Call("1", "SetChargingProfile", profile), "1.6")


async def test_our_answers_are_checked_against_their_schema():
    good = Call("1", "Heartbeat", {}).create_call_result({"currentTime": "2026-01-01T10:00:00Z"})
    bad = Call("1", "Heartbeat", {}).create_call_result({"currentTime": 17})
    assert await result_is_valid(good, "1.6")
    assert not await result_is_valid(bad, "1.6")
    unknown = CallResult("1", {})
    unknown.action = "NoSuchAction"
    assert not await result_is_valid(unknown, "1.6")


def test_commands_are_checked_by_the_same_validator_with_every_violation_listed():
    assert payload_errors(action="Reset", payload={"type": "Soft"}, ocpp_version="1.6") == []
    assert payload_errors(action="Reset", payload={"type": "Gentle", "extra": 1}, ocpp_version="1.6") == [
        "(payload): Additional properties are not allowed ('extra' was unexpected)",
        "type: 'Gentle' is not one of ['Hard', 'Soft']",
    ]
    answer = {"status": "Maybe"}
    assert payload_errors(action="Reset", payload=answer, ocpp_version="1.6", message_type=MessageType.CallResult) == [
        "status: 'Maybe' is not one of ['Accepted', 'Rejected']"
    ]


def test_charging_limits_of_commands_keep_the_decimal_rule():
    profile = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}],
            },
        },
    }
    assert payload_errors(action="SetChargingProfile", payload=profile, ocpp_version="1.6") == []
    profile["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] = 21.45
    assert payload_errors(action="SetChargingProfile", payload=profile, ocpp_version="1.6") == [
        "csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0].limit: Decimal('21.45') is not a multiple of 0.1"
    ]

"""The device-model verbs and the per-EVSE ones in each version's wire format, every payload checked against the
official schema, and what a version cannot do refused with the reason."""

import pytest

from stations.device_model import VariableRef
from stations.protocol import outbound
from stations.protocol.framing.schema import payload_errors
from stations.protocol.outbound import Outcome, Unsupported

EVSE_CONNECTOR = VariableRef("Connector", "AvailabilityState", evse_id=2, connector_id=1)
INSTANCED = VariableRef("DeviceDataCtrlr", "ItemsPerMessage", variable_instance="GetVariables", attribute_type="MaxSet")
NETWORK = {
    "ocppVersion": "OCPP20",
    "ocppTransport": "JSON",
    "ocppCsmsUrl": "wss://csms.example/ocpp",
    "messageTimeout": 30,
    "securityProfile": 2,
    "ocppInterface": "Wired0",
}

CALLS = [
    (
        outbound.variables_get("2.0.1", variables=[EVSE_CONNECTOR, INSTANCED]),
        (
            "GetVariables",
            {
                "getVariableData": [
                    {
                        "component": {"name": "Connector", "evse": {"id": 2, "connectorId": 1}},
                        "variable": {"name": "AvailabilityState"},
                        "attributeType": "Actual",
                    },
                    {
                        "component": {"name": "DeviceDataCtrlr"},
                        "variable": {"name": "ItemsPerMessage", "instance": "GetVariables"},
                        "attributeType": "MaxSet",
                    },
                ]
            },
        ),
    ),
    (
        outbound.variables_set("2.0.1", variables=[(VariableRef("OCPPCommCtrlr", "HeartbeatInterval"), "60")]),
        (
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                        "attributeValue": "60",
                        "attributeType": "Actual",
                    }
                ]
            },
        ),
    ),
    (outbound.report("2.0.1", request_id=7), ("GetBaseReport", {"requestId": 7, "reportBase": "FullInventory"})),
    (
        outbound.report("2.0.1", request_id=7, criteria=["Problem"], variables=[EVSE_CONNECTOR]),
        (
            "GetReport",
            {
                "requestId": 7,
                "componentCriteria": ["Problem"],
                "componentVariable": [
                    {
                        "component": {"name": "Connector", "evse": {"id": 2, "connectorId": 1}},
                        "variable": {"name": "AvailabilityState"},
                    }
                ],
            },
        ),
    ),
    (outbound.report("1.6", request_id=7, base="ConfigurationInventory"), ("GetConfiguration", {})),
    (
        outbound.network_profile_set("2.0.1", slot=1, connection_data=NETWORK),
        ("SetNetworkProfile", {"configurationSlot": 1, "connectionData": NETWORK}),
    ),
    (outbound.reset("2.0.1", hard=False, evse_id=2), ("Reset", {"type": "OnIdle", "evseId": 2})),
    (outbound.reset("2.0.1", hard=True), ("Reset", {"type": "Immediate"})),
    (outbound.unlock("2.0.1", connector_id=2, evse_id=3), ("UnlockConnector", {"evseId": 3, "connectorId": 2})),
    (
        outbound.change_availability("2.0.1", operative=False, evse_id=2),
        ("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 2}}),
    ),
    (
        outbound.change_availability("2.0.1", operative=True, evse_id=2, connector_id=1),
        ("ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 2, "connectorId": 1}}),
    ),
]


@pytest.mark.parametrize(("built", "expected"), CALLS, ids=lambda value: getattr(value, "action", None))
def test_each_verb_is_the_expected_call_and_valid_on_the_wire(built, expected):
    assert built == expected
    version = "1.6" if built.action == "GetConfiguration" else "2.0.1"
    assert payload_errors(action=built.action, payload=built.payload, ocpp_version=version) == []


def test_what_1_6_cannot_do_is_refused_with_the_reason():
    with pytest.raises(Unsupported, match="no network profiles"):
        outbound.network_profile_set("1.6", slot=1, connection_data=NETWORK)
    with pytest.raises(Unsupported, match="not an EVSE"):
        outbound.reset("1.6", hard=True, evse_id=1)
    with pytest.raises(Unsupported, match="not an EVSE"):
        outbound.unlock("1.6", connector_id=1, evse_id=1)
    with pytest.raises(Unsupported, match="not an EVSE"):
        outbound.change_availability("1.6", operative=True, evse_id=1)
    with pytest.raises(Unsupported, match="whole configuration"):
        outbound.report("1.6", request_id=1, criteria=["Problem"])
    with pytest.raises(Unsupported, match="GetConfiguration or ChangeConfiguration"):
        outbound.variables_get("1.6", variables=[EVSE_CONNECTOR])
    assert outbound.reset("1.6", hard=True) == ("Reset", {"type": "Hard"})


def test_variable_results_are_read_under_neutral_names():
    from stations.protocol.v201 import outbound as v201

    answer = v201.interpret(
        "SetVariables",
        {
            "setVariableResult": [
                {
                    "attributeStatus": "Rejected",
                    "component": {"name": "Connector", "instance": "A", "evse": {"id": 2, "connectorId": 1}},
                    "variable": {"name": "Enabled"},
                    "attributeStatusInfo": {"reasonCode": "ReadOnly", "additionalInfo": "fixed"},
                }
            ]
        },
    )
    assert answer.outcome == Outcome.REJECTED  # the first refusal stands for the message; each has its own
    assert answer.data["results"] == [
        {
            "component": "Connector",
            "component_instance": "A",
            "evse_id": 2,
            "connector_id": 1,
            "variable": "Enabled",
            "variable_instance": "",
            "attribute_type": "Actual",
            "status": "Rejected",
            "value": None,
            "reason": "ReadOnly fixed",
        }
    ]
    assert v201.interpret("GetReport", {"status": "EmptyResultSet"}).outcome == Outcome.NOTHING_TO_DO

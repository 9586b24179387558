"""The verbs of OCPP 2.0.1 blocks N and O: each makes a call the official 2.0.1 schema accepts, is refused for
1.6 with the reason, and its answers read back as neutral outcomes; and which monitor events raise alerts."""

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring.alerts import RAISING_TRIGGERS, device_events_alert, monitor_alert_severity
from monitoring.models import Alert, VariableMonitor
from stations.protocol import outbound
from stations.protocol.commands import payload_errors
from stations.protocol.outbound import Outcome, Unsupported
from stations.protocol.v201 import outbound as v201_wire

VERBS = [
    (
        outbound.monitor_set,
        {
            "component": "EVSE",
            "evse_id": 1,
            "connector_id": 2,
            "variable": "Power",
            "variable_instance": "Import",
            "type": "UpperThreshold",
            "value": "22000.5",
            "severity": 4,
            "transaction": True,
        },
    ),
    (outbound.monitors_clear, {"monitor_ids": [1, 2]}),
    (outbound.monitoring_base_set, {"base": "FactoryDefault"}),
    (outbound.monitoring_level_set, {"severity": 3}),
    (outbound.monitoring_report, {"criteria": ["DeltaMonitoring"]}),
    (outbound.monitoring_report, {}),
    (
        outbound.display_message_set,
        {
            "message_id": 3,
            "priority": "InFront",
            "content": "Hello",
            "language": "en",
            "state": "Idle",
            "starts_at": datetime(2026, 3, 1, 8, tzinfo=UTC),
            "ends_at": datetime(2026, 3, 1, 18, tzinfo=UTC),
            "transaction_id": "tx-1",
        },
    ),
    (outbound.display_messages_get, {"message_ids": [3], "priority": "InFront", "state": "Idle"}),
    (outbound.display_messages_get, {}),
    (outbound.display_message_clear, {"message_id": 3}),
    (outbound.customer_information, {"report": True, "clear": False, "id_token": "04A1", "id_token_type": "ISO14443"}),
    (outbound.customer_information, {"report": False, "clear": True, "customer_identifier": "c-42"}),
    (
        outbound.customer_information,
        {
            "report": True,
            "clear": True,
            "customer_certificate": {
                "hashAlgorithm": "SHA256",
                "issuerNameHash": "a1",
                "issuerKeyHash": "b2",
                "serialNumber": "0F",
            },
        },
    ),
]
IDS = [f"{verb.__name__}-{index}" for index, (verb, _) in enumerate(VERBS)]


@pytest.mark.parametrize(("verb", "arguments"), VERBS, ids=IDS)
def test_each_verb_makes_a_2_0_1_call_the_schema_accepts_and_is_not_in_1_6(verb, arguments):
    call = verb("2.0.1", **arguments)
    assert payload_errors(action=call.action, payload=call.payload, ocpp_version="2.0.1") == []
    with pytest.raises(Unsupported, match=r"not in OCPP 1\.6: the station must speak OCPP 2\.0\.1"):
        verb("1.6", **arguments)


def test_a_monitor_names_its_variable_where_the_station_keeps_it():
    (monitor,) = outbound.monitor_set("2.0.1", **VERBS[0][1]).payload["setMonitoringData"]
    assert monitor == {
        "transaction": True,
        "value": 22000.5,
        "type": "UpperThreshold",
        "severity": 4,
        "component": {"name": "EVSE", "evse": {"id": 1, "connectorId": 2}},
        "variable": {"name": "Power", "instance": "Import"},
    }


@pytest.mark.parametrize(
    ("action", "response", "outcome", "status"),
    [
        (
            "SetVariableMonitoring",
            {"setMonitoringResult": [{"status": "Accepted"}, {"status": "Accepted"}]},
            Outcome.ACCEPTED,
            "Accepted",
        ),
        ("SetVariableMonitoring", {"setMonitoringResult": [{"status": "Duplicate"}]}, Outcome.REJECTED, "Duplicate"),
        (
            "SetVariableMonitoring",
            {"setMonitoringResult": [{"status": "Accepted"}, {"status": "Rejected"}]},
            Outcome.REJECTED,
            "Mixed",
        ),
        (
            "ClearVariableMonitoring",
            {"clearMonitoringResult": [{"id": 1, "status": "NotFound"}]},
            Outcome.REJECTED,
            "NotFound",
        ),
        ("GetMonitoringReport", {"status": "EmptyResultSet"}, Outcome.NOTHING_TO_DO, "EmptyResultSet"),
        ("GetMonitoringReport", {"status": "NotSupported"}, Outcome.NOT_SUPPORTED, "NotSupported"),
        ("GetDisplayMessages", {"status": "Unknown"}, Outcome.NOTHING_TO_DO, "Unknown"),
        ("SetDisplayMessage", {"status": "NotSupportedPriority"}, Outcome.REJECTED, "NotSupportedPriority"),
        ("CustomerInformation", {"status": "Invalid"}, Outcome.REJECTED, "Invalid"),
    ],
)
def test_answers_read_as_neutral_outcomes_keeping_the_stations_word(action, response, outcome, status):
    answer = v201_wire.interpret(action, response)
    assert (answer.outcome, answer.status) == (outcome, status)


def event(trigger, monitor_id, *, cleared=False):
    return {
        "event_id": 1,
        "timestamp": "2026-03-01T10:00:00Z",
        "trigger": trigger,
        "actual_value": "80",
        "cleared": cleared,
        "event_notification_type": "CustomMonitor",
        "variable_monitoring_id": monitor_id,
        "component": {"name": "EVSE", "evse": {"id": 1}},
        "variable": {"name": "Temperature"},
    }


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(severity=st.integers(0, 9), trigger=st.sampled_from(["Alerting", "Delta", "Periodic"]))
def test_an_event_alerts_exactly_when_its_monitor_is_severe_enough_and_it_is_no_periodic_reading(
    make_station, severity, trigger
):
    station = make_station("CS-PROP")
    try:
        VariableMonitor.objects.create(
            station=station,
            monitor_id=5,
            component_name="EVSE",
            evse_id=1,
            variable_name="Temperature",
            type="UpperThreshold",
            value=70,
            severity=severity,
        )
        opened = device_events_alert(station=station, events=[event(trigger, 5)]).opened
        should = trigger in RAISING_TRIGGERS and severity <= monitor_alert_severity()
        assert len(opened) == int(should)
        assert Alert.objects.filter(kind=Alert.Kind.DEVICE_EVENT, closed_at=None).count() == int(should)
        closed = device_events_alert(station=station, events=[event(trigger, 5, cleared=True)]).closed
        assert len(closed) == int(should)
        assert not Alert.objects.filter(closed_at=None).exists()
    finally:
        station.delete()

"""Each maintenance command becomes a call that the official OCPP schema of the station's version accepts."""

import pytest

from monitoring import maintenance
from monitoring.models import FirmwareImage, MaintenanceJob, MaintenanceTarget
from stations.models import Station
from stations.protocol.commands import payload_errors

Kind = MaintenanceJob.Kind

PARAMS = {
    Kind.RESET: {"type": "Hard"},
    Kind.UNLOCK: {"connector_id": 2},
    Kind.CHANGE_AVAILABILITY: {"connector_id": 1, "type": "Inoperative"},
    Kind.GET_CONFIGURATION: {"keys": ["HeartbeatInterval"]},
    Kind.CHANGE_CONFIGURATION: {"key": "HeartbeatInterval", "value": "60"},
    Kind.TRIGGER_MESSAGE: {"requested_message": "DiagnosticsStatusNotification", "connector_id": 1},
    Kind.CLEAR_CACHE: {},
    Kind.DIAGNOSTICS: {
        "start_time": "2030-01-01T00:00:00+00:00",
        "stop_time": "2030-01-02T00:00:00+00:00",
        "retries": 2,
        "retry_interval": 60,
    },
    Kind.FIRMWARE: {"retries": 1},
}


def call_for(kind, version):
    params = maintenance.params_clean(kind=kind, params=PARAMS[kind])
    return maintenance.build_call(
        kind,
        ocpp_version=version,
        params=params,
        target=MaintenanceTarget(pk=7, token="tok"),
        firmware=FirmwareImage(file="firmware/2030/01/fw-2.bin"),
        station=Station(ocpp_id="CP-1"),
    )


@pytest.mark.parametrize("kind", Kind.values)
def test_every_command_is_a_valid_ocpp_16_call(kind, settings):
    settings.CMS_STATION_FILES_URL = "https://csms.example.com"
    action, payload = call_for(kind, "1.6")
    assert payload_errors(action=action, payload=payload, ocpp_version="1.6") == []


@pytest.mark.parametrize("kind", sorted(set(Kind.values) - {Kind.GET_CONFIGURATION, Kind.CHANGE_CONFIGURATION}))
def test_every_command_but_configuration_is_a_valid_ocpp_201_call(kind, settings):
    settings.CMS_STATION_FILES_URL = "https://csms.example.com"
    action, payload = call_for(kind, "2.0.1")
    assert payload_errors(action=action, payload=payload, ocpp_version="2.0.1") == []


def test_the_urls_given_to_stations_carry_their_token(settings):
    settings.CMS_STATION_FILES_URL = "https://csms.example.com/"
    assert call_for(Kind.FIRMWARE, "1.6")[1]["location"] == (
        "https://csms.example.com/station-files/firmware/CP-1/tok/fw-2.bin"
    )
    assert call_for(Kind.DIAGNOSTICS, "2.0.1")[1]["log"]["remoteLocation"] == (
        "https://csms.example.com/station-files/diagnostics/CP-1/tok/"
    )
    assert call_for(Kind.RESET, "2.0.1") == ("Reset", {"type": "Immediate"})
    assert call_for(Kind.TRIGGER_MESSAGE, "2.0.1")[1]["requestedMessage"] == "LogStatusNotification"


def test_configuration_of_a_201_station_is_left_to_its_device_model():
    with pytest.raises(maintenance.Unsupported, match="GetVariables or SetVariables"):
        call_for(Kind.GET_CONFIGURATION, "2.0.1")


@pytest.mark.parametrize(
    ("kind", "params", "error"),
    [
        ("reboot", {}, "kind"),
        (Kind.RESET, {"type": "Gentle"}, "type"),
        (Kind.UNLOCK, {}, "connector_id"),
        (Kind.UNLOCK, {"connector_id": 0}, "connector_id"),
        (Kind.CHANGE_CONFIGURATION, {"key": "x" * 51, "value": "1"}, "key"),
        (Kind.TRIGGER_MESSAGE, {"requested_message": "StartTransaction"}, "requested_message"),
        (Kind.DIAGNOSTICS, {"start_time": "2030-01-02T00:00:00Z", "stop_time": "2030-01-01T00:00:00Z"}, "stop_time"),
        (Kind.RESET, {"type": "Soft", "timeout": 0}, "timeout"),
    ],
)
def test_bad_parameters_are_refused_with_the_field_named(kind, params, error):
    with pytest.raises(maintenance.MaintenanceError) as refused:
        maintenance.params_clean(kind=kind, params=params)
    assert error in refused.value.errors

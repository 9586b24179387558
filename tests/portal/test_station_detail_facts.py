"""The station page says what is true of a station: its configuration as last read, whichever call read it (a 2.0.1
station's configuration is its device model, summarised and linked), and when it was last heard from, whether or
not it sent a Heartbeat."""

from datetime import timedelta

from django.utils import timezone

from stations.models import ConfigurationKey, DeviceModelVariable, Station, StationCommand
from stations.protocol.redaction import REDACTED


def _answered_get_configuration(station, *, keys, answered_at):
    """A GetConfiguration sent outside a maintenance job (the API's raw call): recorded, its keys not stored."""
    return StationCommand.objects.create(
        station=station,
        action="GetConfiguration",
        payload={},
        status=StationCommand.Status.ANSWERED,
        response={"configurationKey": keys},
        answered_at=answered_at,
    )


def test_an_answered_get_configuration_shows_its_keys_not_not_read_yet(client_as, network):
    station, now = network.online, timezone.now()
    _answered_get_configuration(
        station,
        keys=[
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
            {"key": "AuthorizationKey", "readonly": False, "value": "0011"},
        ],
        answered_at=now - timedelta(minutes=5),
    )
    # A change accepted after the read is newer than the read's value; one before it is older.
    ConfigurationKey.objects.create(station=station, key="HeartbeatInterval", value="60", reported_at=now)
    ConfigurationKey.objects.create(
        station=station, key="NumberOfConnectors", value="1", reported_at=now - timedelta(hours=1)
    )
    response = client_as("technician").get(f"/operator/stations/{station.ocpp_id}/")
    shown = {entry.key: (entry.value, entry.readonly) for entry in response.context["configuration"]}
    assert shown == {
        "AuthorizationKey": (REDACTED, False),  # the password is never shown
        "HeartbeatInterval": ("60", False),
        "NumberOfConnectors": ("2", True),
    }
    html = response.content.decode()
    assert 'id="configuration"' in html and "Not read yet" not in html


def test_a_station_never_read_says_so(client_as, network):
    html = client_as("technician").get(f"/operator/stations/{network.online.ocpp_id}/").content.decode()
    assert "Not read yet" in html


def test_a_201_station_shows_its_device_model_instead_of_a_16_configuration(client_as, network):
    station, now = network.faulted, timezone.now()
    for component, evse, variable in [
        ("OCPPCommCtrlr", None, "HeartbeatInterval"),
        ("EVSE", 1, "Power"),
        ("EVSE", 1, "AvailabilityState"),
    ]:
        DeviceModelVariable.objects.create(
            station=station, component_name=component, evse_id=evse, variable_name=variable, value="1", reported_at=now
        )
    ConfigurationKey.objects.create(station=station, key="LocalAuthListEnabled", value="true", reported_at=now)
    response = client_as("technician").get(f"/operator/stations/{station.ocpp_id}/")
    html = response.content.decode()
    assert response.context["configuration"] is None and 'id="configuration"' not in html
    summary = response.context["device_model"]
    assert (summary.attributes, summary.components, summary.reported_at) == (3, 2, now)
    assert "3 attributes of 2 components" in html
    assert f'href="/operator/stations/{station.ocpp_id}/device-model/"' in html


def test_a_station_heard_from_without_a_heartbeat_is_not_shown_as_never(client_as, network):
    station = network.online
    seen = timezone.now() - timedelta(seconds=30)
    Station.objects.filter(pk=station.pk).update(last_seen_at=seen, last_heartbeat_at=None)
    client = client_as("analyst")
    html = client.get(f"/operator/stations/{station.ocpp_id}/").content.decode()
    assert "Last heard from" in html and timezone.localtime(seen).strftime("%Y-%m-%d %H:%M:%S") in html
    assert "No Heartbeat yet" in html and "Last heartbeat</dt>" not in html
    heartbeat = seen - timedelta(minutes=4)
    Station.objects.filter(pk=station.pk).update(last_heartbeat_at=heartbeat)
    html = client.get(f"/operator/stations/{station.ocpp_id}/").content.decode()
    assert f"Last Heartbeat {timezone.localtime(heartbeat).strftime('%Y-%m-%d %H:%M:%S')}" in html


def test_finance_reads_a_station_without_links_to_the_pages_it_may_not_open(client_as, network):
    client = client_as("finance")
    html = client.get(f"/operator/stations/{network.faulted.ocpp_id}/").content.decode()
    for path in ("/operator/maintenance/", f"/operator/stations/{network.faulted.ocpp_id}/monitors/"):
        assert f'href="{path}"' not in html
        assert client.get(path).status_code == 403
    html = client_as("analyst").get(f"/operator/stations/{network.faulted.ocpp_id}/").content.decode()
    assert 'href="/operator/maintenance/"' in html and "/monitors/" in html

"""StatusNotification, FirmwareStatusNotification and DiagnosticsStatusNotification from a 1.6 station."""

from datetime import UTC, datetime

import pytest
from ocpp.v16 import call

from stations.models import Connector, ConnectorStatusEvent, Station
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection

pytestmark = pytest.mark.django_db(transaction=True)


def status(connector_id=1, status="Available", error_code="NoError", timestamp="2026-01-01T10:00:00Z", **fields):
    return call.StatusNotification(
        connector_id=connector_id, status=status, error_code=error_code, timestamp=timestamp, **fields
    )


@pytest.fixture
def station(make_station):
    return make_station("CP-1")


async def test_status_notification_creates_the_connector_and_records_history(daphne_server, station):
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        await cp.call(status(status="Available"))
        await cp.call(status(status="Charging", timestamp="2026-01-01T10:05:00Z"))
        await cp.call(
            status(
                status="Faulted",
                error_code="GroundFailure",
                timestamp="2026-01-01T10:07:00Z",
                info="RCD tripped",
                vendor_id="com.alfen",
                vendor_error_code="E-17",
            )
        )
    connector = await Connector.objects.aget(station=station, connector_id=1)
    assert (connector.status, connector.error_code, connector.info) == ("Faulted", "GroundFailure", "RCD tripped")
    assert (connector.vendor_id, connector.vendor_error_code) == ("com.alfen", "E-17")
    assert connector.status_at == datetime(2026, 1, 1, 10, 7, tzinfo=UTC)
    history = [(e.status, e.error_code) async for e in ConnectorStatusEvent.objects.order_by("timestamp")]
    assert history == [("Available", "NoError"), ("Charging", "NoError"), ("Faulted", "GroundFailure")]


async def test_replayed_and_late_status_notifications(daphne_server, station):
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        await cp.call(status(status="Charging", timestamp="2026-01-01T10:05:00Z"))
        await cp.call(status(status="Charging", timestamp="2026-01-01T10:05:00Z"))
        # Delivered late from the station's offline queue: history only, the newer status stays.
        await cp.call(status(status="Preparing", timestamp="2026-01-01T10:01:00Z"))
    connector = await Connector.objects.aget(station=station, connector_id=1)
    assert connector.status == "Charging"
    assert await ConnectorStatusEvent.objects.acount() == 2


async def test_status_of_connector_zero_is_the_whole_station_and_timestamp_defaults_to_now(daphne_server, station):
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        await cp.call(call.StatusNotification(connector_id=0, status="Unavailable", error_code="NoError"))
    event = await ConnectorStatusEvent.objects.aget()
    assert (event.connector_id, event.status) == (0, "Unavailable")
    assert abs((event.timestamp - datetime.now(UTC)).total_seconds()) < 60


async def test_firmware_and_diagnostics_status_notifications_update_the_station(daphne_server, station):
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        assert await cp.call(call.FirmwareStatusNotification(status="Downloading")) is not None
        assert await cp.call(call.FirmwareStatusNotification(status="Installed")) is not None
        assert await cp.call(call.DiagnosticsStatusNotification(status="Uploaded")) is not None
    station = await Station.objects.aget(pk=station.pk)
    assert (station.firmware_status, station.diagnostics_status) == ("Installed", "Uploaded")
    assert station.firmware_status_at and station.diagnostics_status_at

"""Alerts from what real OCPP clients do over real sockets: heartbeats lost and back, a connector faulting
and recovering, a firmware installation failing."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from ocpp.v16 import call

from monitoring import alerts
from monitoring.models import Alert, AlertChannel
from stations.models import Station
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _thresholds(settings):
    settings.CMS_OCPP_HEARTBEAT_INTERVAL = 10
    settings.CMS_ALERT_OFFLINE_HEARTBEATS = 2  # offline after 20 s of silence


evaluate = sync_to_async(alerts.alerts_evaluate)


async def open_alerts(kind) -> list[Alert]:
    return [alert async for alert in Alert.objects.filter(kind=kind, closed_at__isnull=True)]


async def test_heartbeats_lost_open_the_offline_alert_and_their_return_closes_it(daphne_server, make_station, webhook):
    station = await sync_to_async(make_station)(ocpp_id="CP-HB")
    await AlertChannel.objects.acreate(name="Ops", kind="webhook", url=webhook.url)
    async with ocpp_connection(daphne_server, "CP-HB", STATION_PASSWORD) as client:
        await client.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        await client.call(call.Heartbeat())
        assert (await evaluate()).opened == []
    # Gone: 25 s later (by the evaluation's clock) it has missed two heartbeats.
    await until(lambda: Station.objects.filter(pk=station.pk, is_online=False).aexists())
    later = timezone.now() + timedelta(seconds=25)
    (alert,) = (await evaluate(now=later)).opened
    assert alert.kind == "offline" and alert.details["connected"] is False
    assert (await evaluate(now=later + timedelta(seconds=30))).opened == []  # still the one alert

    async with ocpp_connection(daphne_server, "CP-HB", STATION_PASSWORD) as client:
        await client.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        await client.call(call.Heartbeat())
        (closed,) = (await evaluate()).closed
    assert closed.pk == alert.pk
    assert [r["json"]["event"] for r in webhook.requests] == ["alert.opened", "alert.closed"]


async def test_a_connector_faulting_and_recovering_opens_and_closes_its_alert(daphne_server, make_station):
    await sync_to_async(make_station)(ocpp_id="CP-FLT")
    async with ocpp_connection(daphne_server, "CP-FLT", STATION_PASSWORD) as client:
        await client.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        await client.call(
            call.StatusNotification(
                connector_id=1, error_code="OverCurrentFailure", status="Faulted", vendor_error_code="OC-3"
            )
        )
        (alert,) = (await evaluate()).opened
        assert alert.summary == "Connector 1 is faulted: OverCurrentFailure (vendor code OC-3)"
        await client.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        (closed,) = (await evaluate()).closed
        assert closed.pk == alert.pk
        await client.call(call.FirmwareStatusNotification(status="InstallationFailed"))
        (failed,) = (await evaluate()).opened
        assert failed.kind == "firmware_failed"
    assert await open_alerts("connector_fault") == []

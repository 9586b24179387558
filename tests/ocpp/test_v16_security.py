"""The 1.6 security extension's station messages: security events become alerts, progress is recorded."""

import pytest
from asgiref.sync import sync_to_async
from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from monitoring.models import Alert, AlertEvent
from stations.models import Station
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection

pytestmark = pytest.mark.django_db(transaction=True)

WHEN = "2026-11-25T10:00:00+00:00"


async def test_a_security_event_opens_one_alert_and_a_repeat_goes_on_its_timeline(daphne_server, make_station):
    await sync_to_async(make_station)("SEC-1")
    async with ocpp_connection(daphne_server, "SEC-1", STATION_PASSWORD) as cp:
        first = await cp.call(
            call.SecurityEventNotification(type="TamperDetectionActivated", timestamp=WHEN, tech_info="door open")
        )
        again = await cp.call(
            call.SecurityEventNotification(type="TamperDetectionActivated", timestamp=WHEN, tech_info=None)
        )
    assert first is not None and again is not None  # answered with a CALLRESULT, not a CALLERROR
    alert = await Alert.objects.aget(station__ocpp_id="SEC-1", kind=Alert.Kind.SECURITY_EVENT)
    assert alert.closed_at is None
    assert alert.severity == "critical"
    assert "door open" in alert.summary
    assert await AlertEvent.objects.filter(alert=alert, kind=AlertEvent.Kind.REPEATED).acount() == 1


async def test_a_routine_security_event_is_kept_as_a_closed_alert(daphne_server, make_station):
    await sync_to_async(make_station)("SEC-1")
    async with ocpp_connection(daphne_server, "SEC-1", STATION_PASSWORD) as cp:
        await cp.call(call.SecurityEventNotification(type="StartupOfTheDevice", timestamp=WHEN, tech_info=None))
    alert = await Alert.objects.aget(station__ocpp_id="SEC-1")
    assert alert.closed_at is not None


async def test_a_security_event_with_a_bad_timestamp_is_refused_and_stores_nothing(daphne_server, make_station):
    await sync_to_async(make_station)("SEC-1")
    async with ocpp_connection(daphne_server, "SEC-1", STATION_PASSWORD) as cp:
        with pytest.raises(OCPPError) as refused:
            await cp.call(
                call.SecurityEventNotification(type="MemoryExhaustion", timestamp="yesterday", tech_info=None),
                suppress=False,
            )
    assert refused.value.code == "PropertyConstraintViolation"
    assert not await Alert.objects.aexists()


async def test_signed_firmware_and_log_upload_progress_are_recorded(daphne_server, make_station):
    await sync_to_async(make_station)("SEC-1")
    async with ocpp_connection(daphne_server, "SEC-1", STATION_PASSWORD) as cp:
        await cp.call(call.SignedFirmwareStatusNotification(status="InvalidSignature", request_id=7))
        await cp.call(call.LogStatusNotification(status="Uploaded", request_id=8))
    station = await Station.objects.aget(ocpp_id="SEC-1")
    assert station.firmware_status == "InvalidSignature"
    assert station.diagnostics_status == "Uploaded"

"""OCPP 2.0.1 functional block B, Provisioning: BootNotification, Heartbeat, and the device model (NotifyReport)."""

import logging
import time

from django.utils import timezone
from ocpp.routing import after, on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from stations import selectors, services
from stations.app_settings import app_settings
from stations.models import Station
from stations.protocol import commands
from stations.protocol.db import PoolBatches, in_db_pool
from stations.protocol.framing import parse_timestamp
from stations.protocol.group_commit import group_commit
from stations.protocol.heartbeats import heartbeat_received

logger = logging.getLogger(__name__)

# Whether a booted station has described its device model, asked for the stations booted meanwhile together.
described_batches = PoolBatches(max_batch=500)


def boot_fields(charging_station: dict) -> dict:
    """The Station fields a BootNotification's chargingStation fills (the same ones 1.6 fills)."""
    modem = charging_station.get("modem") or {}
    return {
        "vendor": charging_station.get("vendor_name"),
        "model": charging_station.get("model"),
        "serial_number": charging_station.get("serial_number"),
        "firmware_version": charging_station.get("firmware_version"),
        "iccid": modem.get("iccid"),
        "imsi": modem.get("imsi"),
    }


class ProvisioningHandlers:
    @on(Action.boot_notification)
    async def on_boot_notification(self, charging_station, reason, **_):
        boot = {"station": self.station, "boot_fields": boot_fields(charging_station)}
        status = await group_commit().submit(_record_boots, boot)
        # What this connection may send from now on (see ChargePoint201._check_registration).
        self.registration_status = status
        return call_result.BootNotification(
            current_time=timezone.now().isoformat(), interval=app_settings.HEARTBEAT_INTERVAL, status=status
        )

    @after(Action.boot_notification)
    async def request_device_model(self, **_):
        """Ask an accepted station for its whole device model the first time (GetBaseReport FullInventory)."""
        if self.registration_status != Station.RegistrationStatus.ACCEPTED:
            return
        if await described_batches.submit(selectors.stations_described, self.station):
            return
        # requestId: seconds since the epoch, unique per station and request, within int32 until 2038.
        payload = {"requestId": int(time.time()) % 2**31, "reportBase": "FullInventory"}
        command = await commands.station_call(station=self.station, action="GetBaseReport", payload=payload)
        logger.info(
            "device model requested",
            extra={"station_id": self.station.ocpp_id, "status": command.status, "response": command.response},
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self, **_):
        return call_result.Heartbeat(current_time=heartbeat_received(self.station).isoformat())

    @on(Action.notify_report)
    async def on_notify_report(self, request_id, generated_at, seq_no, report_data=(), tbc=False, **_):
        parse_timestamp(generated_at, field="generatedAt")
        await in_db_pool(services.device_model_report_store)(
            station=self.station, request_id=request_id, report_data=report_data
        )
        logger.info(
            "report part received",
            extra={"station_id": self.station.ocpp_id, "request_id": request_id, "seq_no": seq_no, "tbc": tbc},
        )
        return call_result.NotifyReport()


def _record_boots(boots: list[dict]) -> list[str]:
    return services.stations_booted(boots=boots)

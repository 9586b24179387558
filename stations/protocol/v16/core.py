"""OCPP 1.6 Core profile, provisioning: BootNotification and Heartbeat."""

from django.utils import timezone
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from stations import services
from stations.app_settings import app_settings
from stations.protocol.group_commit import group_commit
from stations.protocol.heartbeats import heartbeat_received

BOOT_FIELDS = {
    "charge_point_vendor": "vendor",
    "charge_point_model": "model",
    "charge_point_serial_number": "serial_number",
    "charge_box_serial_number": "charge_box_serial_number",
    "firmware_version": "firmware_version",
    "iccid": "iccid",
    "imsi": "imsi",
    "meter_type": "meter_type",
    "meter_serial_number": "meter_serial_number",
}


class CoreHandlers:
    @on(Action.boot_notification)
    async def on_boot_notification(self, **payload):
        fields = {model_field: payload.get(ocpp_field) for ocpp_field, model_field in BOOT_FIELDS.items()}
        boot = {"station": self.station, "boot_fields": fields}
        status = await group_commit().submit(_record_boots, boot)
        # What this connection may send from now on (see RpcDispatch._check_registration).
        self.registration_status = status
        return call_result.BootNotification(
            current_time=timezone.now().isoformat(), interval=app_settings.HEARTBEAT_INTERVAL, status=status
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self):
        return call_result.Heartbeat(current_time=heartbeat_received(self.station).isoformat())


def _record_boots(boots: list[dict]) -> list[str]:
    return services.stations_booted(boots=boots)

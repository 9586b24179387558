"""OCPP 1.6 Firmware Management profile: FirmwareStatusNotification and DiagnosticsStatusNotification."""

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from stations import services
from stations.protocol.db import in_db_pool


class FirmwareHandlers:
    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, status, **_):
        await in_db_pool(services.station_firmware_status)(station=self.station, status=status)
        return call_result.FirmwareStatusNotification()

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(self, status, **_):
        await in_db_pool(services.station_diagnostics_status)(station=self.station, status=status)
        return call_result.DiagnosticsStatusNotification()

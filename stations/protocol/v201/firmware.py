"""OCPP 2.0.1 functional blocks L (Firmware) and N (log upload) progress: FirmwareStatusNotification and
LogStatusNotification, where 1.6's notifications put theirs, so the maintenance jobs follow either version."""

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from stations import services
from stations.protocol.db import in_db_pool


class FirmwareHandlers:
    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, status, **_):
        await in_db_pool(services.station_firmware_status)(station=self.station, status=status)
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status_notification(self, status, **_):
        await in_db_pool(services.station_diagnostics_status)(station=self.station, status=status)
        return call_result.LogStatusNotification()

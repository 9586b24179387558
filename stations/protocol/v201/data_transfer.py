"""OCPP 2.0.1 functional block P: DataTransfer from the station, answered by a handler configured per vendorId."""

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from stations import services
from stations.protocol.db import in_db_pool


class DataTransferHandlers:
    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id, message_id="", data=None, **_):
        status, answer = await in_db_pool(services.station_data_transfer)(
            station=self.station, vendor_id=vendor_id, message_id=message_id, data=data
        )
        return call_result.DataTransfer(status=status, data=answer)

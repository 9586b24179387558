"""OCPP 2.0.1 functional block G, Availability: StatusNotification of each connector of each EVSE.

A connector's status is its EVSE's (see ``evse``): the last one reported by any of the EVSE's connectors.
While one connector is in use the spec has the others report Unavailable, and Available again after.
"""

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from sessions import services
from stations.protocol.framing import parse_timestamp
from stations.protocol.group_commit import group_commit
from stations.protocol.v201.evse import evse_violation


def _record_statuses(reports: list[dict]) -> list:
    return services.connector_statuses_record(reports=reports)


class AvailabilityHandlers:
    @on(Action.status_notification)
    async def on_status_notification(self, timestamp, connector_status, evse_id, connector_id, **_):
        report = dict(
            station=self.station,
            connector_id=evse_id,
            status=connector_status,
            timestamp=parse_timestamp(timestamp, field="timestamp"),
        )
        with evse_violation(evse_id):
            await group_commit().submit(_record_statuses, report)
        return call_result.StatusNotification()

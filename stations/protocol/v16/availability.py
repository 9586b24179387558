"""OCPP 1.6 Core profile, availability: StatusNotification, the connector's status and its history."""

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from sessions import services
from stations.protocol.framing import parse_timestamp, property_violation
from stations.protocol.group_commit import group_commit


def _record_statuses(reports: list[dict]) -> list:
    return services.connector_statuses_record(reports=reports)


class AvailabilityHandlers:
    @on(Action.status_notification)
    async def on_status_notification(
        self, connector_id, status, error_code, info="", vendor_id="", vendor_error_code="", timestamp=None, **_
    ):
        report = dict(
            station=self.station,
            connector_id=connector_id,
            status=status,
            error_code=error_code,
            info=info,
            vendor_id=vendor_id,
            vendor_error_code=vendor_error_code,
            timestamp=parse_timestamp(timestamp, field="timestamp") if timestamp else None,
        )
        with property_violation():
            await group_commit().submit(_record_statuses, report)
        return call_result.StatusNotification()

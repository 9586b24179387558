"""OCPP 2.0.1 functional block A, Security: SecurityEventNotification, into the security alerts 1.6 feeds."""

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from monitoring.alerts import alert_security_event
from stations.protocol.db import in_db_pool
from stations.protocol.framing import parse_timestamp


class SecurityHandlers:
    @on(Action.security_event_notification)
    async def on_security_event_notification(self, type, timestamp, tech_info="", **_):
        occurred_at = parse_timestamp(timestamp, field="timestamp")
        await in_db_pool(alert_security_event)(
            station=self.station, event_type=type, tech_info=tech_info or "", occurred_at=occurred_at
        )
        return call_result.SecurityEventNotification()

"""OCPP 2.0.1 messages a station sends to report: functional blocks N (NotifyEvent, NotifyMonitoringReport,
NotifyCustomerInformation) and O (NotifyDisplayMessages). H (ReservationStatusUpdate) is ``reservation.py``,
K (ReportChargingProfiles, NotifyEVChargingNeeds, NotifyEVChargingSchedule) ``smart_charging.py``.

NotifyEvent updates the device model's actual values, and an EVSE's or connector's AvailabilityState is
recorded as a StatusNotification would be (so faults reach the connector-fault alerts). The others have
no model yet (monitors, customer data, display messages): they are
answered and logged, and kept in the message log as every frame is.
"""

import logging

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from stations import services
from stations.protocol.db import in_db_pool
from stations.protocol.framing import parse_timestamp
from stations.protocol.group_commit import group_commit
from stations.protocol.v201.availability import _record_statuses
from stations.protocol.v201.evse import evse_violation

logger = logging.getLogger(__name__)

AVAILABILITY_COMPONENTS = frozenset({"EVSE", "Connector"})


class DiagnosticsHandlers:
    @on(Action.notify_event)
    async def on_notify_event(self, generated_at, seq_no, event_data, tbc=False, **_):
        parse_timestamp(generated_at, field="generatedAt")
        await in_db_pool(services.device_model_events_record)(station=self.station, events=event_data)
        for index, event in enumerate(event_data):
            evse = event["component"].get("evse")
            if (
                event["variable"]["name"] == "AvailabilityState"
                and evse
                and event["component"]["name"] in AVAILABILITY_COMPONENTS
            ):
                report = dict(
                    station=self.station,
                    connector_id=evse["id"],
                    status=event["actual_value"],
                    timestamp=parse_timestamp(event["timestamp"], field=f"eventData/{index}/timestamp"),
                )
                with evse_violation(evse["id"]):
                    await group_commit().submit(_record_statuses, report)
        return call_result.NotifyEvent()

    @on(Action.notify_monitoring_report)
    async def on_notify_monitoring_report(self, request_id, seq_no, generated_at, monitor=(), tbc=False, **_):
        self._log_unstored("monitoring report", request_id=request_id, seq_no=seq_no, monitors=len(monitor))
        return call_result.NotifyMonitoringReport()

    @on(Action.notify_customer_information)
    async def on_notify_customer_information(self, data, seq_no, generated_at, request_id, tbc=False, **_):
        self._log_unstored("customer information", request_id=request_id, seq_no=seq_no)
        return call_result.NotifyCustomerInformation()

    @on(Action.notify_display_messages)
    async def on_notify_display_messages(self, request_id, message_info=(), tbc=False, **_):
        self._log_unstored("display messages", request_id=request_id, messages=len(message_info))
        return call_result.NotifyDisplayMessages()

    def _log_unstored(self, what: str, **details) -> None:
        logger.info(
            "station report kept in the message log only",
            extra={"station_id": self.station.ocpp_id, "report": what, **details},
        )

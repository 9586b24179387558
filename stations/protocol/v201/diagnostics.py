"""OCPP 2.0.1 messages a station sends to report: functional blocks N (NotifyEvent, NotifyMonitoringReport,
NotifyCustomerInformation) and O (NotifyDisplayMessages). H (ReservationStatusUpdate) is ``reservation.py``,
K (ReportChargingProfiles, NotifyEVChargingNeeds, NotifyEVChargingSchedule) ``smart_charging.py``.

NotifyEvent updates the device model's actual values, an EVSE's or connector's AvailabilityState is
recorded as a StatusNotification would be (so faults reach the connector-fault alerts), and a monitor's
event or a Problem raises or clears a station-event alert. Monitoring reports, customer information and
display messages are kept by the monitoring app.
"""

import logging

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from monitoring.alerts import device_events_alert
from monitoring.customer_information import customer_information_record
from monitoring.device_monitoring import monitoring_report_record
from monitoring.display_messages import display_messages_record
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
        await in_db_pool(device_events_alert)(station=self.station, events=event_data)
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
        parse_timestamp(generated_at, field="generatedAt")
        await in_db_pool(monitoring_report_record)(
            station=self.station, request_id=request_id, tbc=tbc, monitors=monitor
        )
        return call_result.NotifyMonitoringReport()

    @on(Action.notify_customer_information)
    async def on_notify_customer_information(self, data, seq_no, generated_at, request_id, tbc=False, **_):
        await in_db_pool(customer_information_record)(
            station=self.station,
            request_id=request_id,
            seq_no=seq_no,
            tbc=tbc,
            data=data,
            generated_at=parse_timestamp(generated_at, field="generatedAt"),
        )
        return call_result.NotifyCustomerInformation()

    @on(Action.notify_display_messages)
    async def on_notify_display_messages(self, request_id, message_info=(), tbc=False, **_):
        await in_db_pool(display_messages_record)(
            station=self.station, request_id=request_id, tbc=tbc, messages=message_info
        )
        return call_result.NotifyDisplayMessages()

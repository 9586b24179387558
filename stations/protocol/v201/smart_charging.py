"""OCPP 2.0.1 functional block K, Smart charging, as the station reports it: ReportChargingProfiles (the parts
answering the CSMS's GetChargingProfiles, ``smartcharging.requests``), NotifyEVChargingNeeds and
NotifyEVChargingSchedule, stored by ``smartcharging.services`` for load management.

No charging schedule follows an EV's needs yet (load management is to come): the needs are answered
Processing, which tells the station the CSMS has them and may send a schedule later, rather than
Rejected, which would say none will ever come.
"""

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from smartcharging import services
from stations.protocol.db import in_db_pool
from stations.protocol.framing import parse_timestamp
from stations.protocol.v201.evse import evse_violation

EV_NEEDS_ANSWER = "Processing"


class SmartChargingHandlers:
    @on(Action.report_charging_profiles)
    async def on_report_charging_profiles(
        self, request_id, charging_limit_source, charging_profile, evse_id, tbc=False, **_
    ):
        with evse_violation(evse_id):
            await in_db_pool(services.charging_profiles_report_record)(
                station=self.station,
                request_id=request_id,
                evse_id=evse_id,
                charging_limit_source=charging_limit_source,
                profiles=charging_profile,
                tbc=bool(tbc),
            )
        return call_result.ReportChargingProfiles()

    @on(Action.notify_ev_charging_needs)
    async def on_notify_ev_charging_needs(self, charging_needs, evse_id, max_schedule_tuples=None, **_):
        departure = charging_needs.get("departure_time")
        departure_time = parse_timestamp(departure, field="chargingNeeds/departureTime") if departure else None
        with evse_violation(evse_id):
            await in_db_pool(services.ev_charging_needs_record)(
                station=self.station,
                evse_id=evse_id,
                charging_needs=charging_needs,
                departure_time=departure_time,
                max_schedule_tuples=max_schedule_tuples,
            )
        return call_result.NotifyEVChargingNeeds(status=EV_NEEDS_ANSWER)

    @on(Action.notify_ev_charging_schedule)
    async def on_notify_ev_charging_schedule(self, time_base, charging_schedule, evse_id, **_):
        with evse_violation(evse_id):
            await in_db_pool(services.ev_charging_schedule_record)(
                station=self.station,
                evse_id=evse_id,
                time_base=parse_timestamp(time_base, field="timeBase"),
                charging_schedule=charging_schedule,
            )
        return call_result.NotifyEVChargingSchedule(status="Accepted")

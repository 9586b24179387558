"""Recording what stations report of smart charging (OCPP 2.0.1 block K). Nothing here sends to a station (the
CSMS's requests are ``smartcharging.requests``), so the protocol handlers can depend on it.

Payloads come with the `ocpp` library's snake_case keys and are stored in OCPP's own camelCase.
"""

import logging
from collections.abc import Sequence
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from ocpp.charge_point import snake_to_camel_case

from smartcharging.models import ChargingProfileReport, EVChargingNeeds, EVChargingSchedule, ReportedChargingProfile
from stations.models import Station
from stations.plausibility import connector_id_check, connector_limits

logger = logging.getLogger(__name__)

Status = ChargingProfileReport.Status


def charging_profiles_report_record(
    *,
    station: Station,
    request_id: int,
    evse_id: int,
    charging_limit_source: str,
    profiles: Sequence[dict],
    tbc: bool = False,
) -> ChargingProfileReport:
    """One ReportChargingProfiles part: its profiles added to the report of ``request_id``; the part without
    ``tbc`` completes it. A part for a request the CSMS never made (or made to another station) is kept on a
    report of its own, ``requested`` False, and logged. Raises ValueRejected for an EVSE the station lacks."""
    _evse_check(station, evse_id, allow_station=True)
    now = timezone.now()
    with transaction.atomic():
        report = _report_locked(station, request_id)
        if report is None:
            logger.warning(
                "charging profiles reported for a request the CSMS did not make",
                extra={"station_id": station.ocpp_id, "request_id": request_id, "evse_id": evse_id},
            )
            report = _unrequested_report(station, request_id)
        ReportedChargingProfile.objects.bulk_create(
            ReportedChargingProfile(
                report=report,
                evse_id=evse_id,
                charging_limit_source=charging_limit_source,
                profile_id=profile["id"],
                stack_level=profile["stack_level"],
                purpose=profile["charging_profile_purpose"],
                kind=profile["charging_profile_kind"],
                profile=snake_to_camel_case(dict(profile)),
            )
            for profile in profiles
        )
        report.parts += 1
        report.status = Status.RECEIVING if tbc else Status.COMPLETE
        report.completed_at = None if tbc else now
        report.save(update_fields=["parts", "status", "completed_at"])
    return report


def _report_locked(station: Station, request_id: int) -> ChargingProfileReport | None:
    return ChargingProfileReport.objects.select_for_update().filter(station=station, request_id=request_id).first()


def _unrequested_report(station: Station, request_id: int) -> ChargingProfileReport:
    try:
        with transaction.atomic():
            return ChargingProfileReport.objects.create(
                station=station, request_id=request_id, requested=False, status=Status.RECEIVING
            )
    except IntegrityError:  # the same request's other part, arriving on another connection at once
        return _report_locked(station, request_id)


def ev_charging_needs_record(
    *,
    station: Station,
    evse_id: int,
    charging_needs: dict,
    departure_time: datetime | None = None,
    max_schedule_tuples: int | None = None,
) -> EVChargingNeeds:
    """NotifyEVChargingNeeds: the EV's needs (``departure_time`` is its departureTime, parsed), kept for the
    charging schedule load management will compute. Raises ValueRejected for an EVSE the station lacks."""
    _evse_check(station, evse_id)
    return EVChargingNeeds.objects.create(
        station=station,
        evse_id=evse_id,
        requested_energy_transfer=charging_needs["requested_energy_transfer"],
        departure_time=departure_time,
        max_schedule_tuples=max_schedule_tuples,
        charging_needs=snake_to_camel_case(dict(charging_needs)),
    )


def ev_charging_schedule_record(
    *, station: Station, evse_id: int, time_base: datetime, charging_schedule: dict
) -> EVChargingSchedule:
    """NotifyEVChargingSchedule: the schedule the EV chose within the station's limits. Raises ValueRejected for an
    EVSE the station lacks."""
    _evse_check(station, evse_id)
    return EVChargingSchedule.objects.create(
        station=station,
        evse_id=evse_id,
        time_base=time_base,
        charging_schedule=snake_to_camel_case(dict(charging_schedule)),
    )


def _evse_check(station: Station, evse_id: int, *, allow_station: bool = False) -> None:
    connector_id_check(evse_id, limit=connector_limits(stations=[station])[station.pk], allow_station=allow_station)

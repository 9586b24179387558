"""Reads of what stations reported of smart charging, for load management and the portal."""

from django.db.models import QuerySet

from smartcharging.models import ChargingProfileReport, EVChargingNeeds, EVChargingSchedule, ReportedChargingProfile
from stations.models import Station

Status = ChargingProfileReport.Status


def latest_charging_profile_report(*, station: Station) -> ChargingProfileReport | None:
    """The station's most recent complete report the CSMS asked for (an empty one when it answered NoProfiles), else
    None. Parts nobody asked for are kept but not taken for the station's state: they may be from long ago."""
    return (
        ChargingProfileReport.objects.filter(
            station=station, requested=True, status__in=(Status.COMPLETE, Status.NO_PROFILES)
        )
        .order_by("-completed_at")
        .first()
    )


def station_charging_profiles(*, station: Station, evse_id: int | None = None) -> QuerySet[ReportedChargingProfile]:
    """The profiles the station held as of its latest complete report (on ``evse_id`` only when given; 0 is the
    station's own), by EVSE, purpose and stack level highest first."""
    report = latest_charging_profile_report(station=station)
    profiles = (
        ReportedChargingProfile.objects.filter(report=report) if report else ReportedChargingProfile.objects.none()
    )
    return profiles if evse_id is None else profiles.filter(evse_id=evse_id)


def ev_charging_needs_latest(*, station: Station, evse_id: int) -> EVChargingNeeds | None:
    """What the EV at ``evse_id`` last said it needs."""
    return EVChargingNeeds.objects.filter(station=station, evse_id=evse_id).order_by("-received_at", "-pk").first()


def ev_charging_schedule_latest(*, station: Station, evse_id: int) -> EVChargingSchedule | None:
    """The schedule the EV at ``evse_id`` last chose."""
    return EVChargingSchedule.objects.filter(station=station, evse_id=evse_id).order_by("-received_at", "-pk").first()

"""The CSMS's smart-charging requests: GetChargingProfiles, whose ReportChargingProfiles parts
``smartcharging.services`` records."""

import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from smartcharging.models import ChargingProfileReport
from stations.models import Station, StationCommand
from stations.protocol import outbound
from stations.protocol.commands import station_call_sync

Status = ChargingProfileReport.Status
# A requestId is a positive int32; a station may have used one itself (a report nobody asked for): draw again.
REQUEST_ID_DRAWS = 5


def charging_profiles_request(
    *,
    station: Station,
    evse_id: int | None = None,
    purpose: str | None = None,
    stack_level: int | None = None,
    requested_by=None,
) -> ChargingProfileReport:
    """Ask ``station`` for the charging profiles it holds. The report is stored first under a new requestId, so the
    parts find it whenever they come; the station's answer says whether any will (NoProfiles: the
    report is complete and empty; no answer: failed). Raises ``outbound.Unsupported`` for a 1.6 station."""
    station = Station.objects.get(pk=station.pk)  # the OCPP version it speaks now
    outbound.check(station.ocpp_version, outbound.charging_profiles_report)
    criteria = (("chargingProfilePurpose", purpose), ("stackLevel", stack_level))
    criteria = {key: value for key, value in criteria if value is not None}
    report = _new_report(station, evse_id=evse_id, criteria=criteria)
    action, payload = outbound.charging_profiles_report(
        station.ocpp_version, request_id=report.request_id, evse_id=evse_id, purpose=purpose, stack_level=stack_level
    )
    command = station_call_sync(station=station, action=action, payload=payload, requested_by=requested_by)
    ChargingProfileReport.objects.filter(pk=report.pk).update(command=command)
    changes = {}
    if command.status != StationCommand.Status.ANSWERED:
        reason = command.error_description or command.error_code or command.status
        changes.update(status=Status.FAILED, detail=f"{command.action}: {reason}"[:255])
    elif outbound.answer_of(station.ocpp_version, command).outcome == outbound.Outcome.NOTHING_TO_DO:
        changes.update(status=Status.NO_PROFILES, completed_at=timezone.now())
    if changes:
        # Parts that arrived before the answer was read have moved the report on already: their status stays.
        ChargingProfileReport.objects.filter(pk=report.pk, status=Status.REQUESTED).update(**changes)
    report.refresh_from_db()
    return report


def _new_report(station: Station, **fields) -> ChargingProfileReport:
    for _ in range(REQUEST_ID_DRAWS - 1):
        try:
            with transaction.atomic():
                return ChargingProfileReport.objects.create(station=station, request_id=_request_id(), **fields)
        except IntegrityError:
            continue
    return ChargingProfileReport.objects.create(station=station, request_id=_request_id(), **fields)


def _request_id() -> int:
    return secrets.randbelow(2**31 - 1) + 1

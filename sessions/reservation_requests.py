"""The CSMS's reservation requests: ReserveNow (``outbound.reserve``) and CancelReservation, on either OCPP version.

The reservation is stored first (our key is the reservationId the station is given), then sent; the station's
answer is its status. How a reservation ends afterwards is ``sessions.reservations``.
"""

import logging
from datetime import datetime

from django.utils import timezone

from accounts.models import IdToken
from sessions.models import Reservation
from sessions.reservations import HOLDING, reservation_end
from stations.models import Station, StationCommand
from stations.plausibility import ValueRejected, connector_id_check, connector_limits
from stations.protocol import outbound
from stations.protocol.commands import station_call_sync

logger = logging.getLogger(__name__)

Status = Reservation.Status
# The station's ReserveNow answer (the same words in 1.6 and 2.0.1); any other word is a refusal.
ANSWERS = {
    "Accepted": Status.ACCEPTED,
    "Faulted": Status.FAULTED,
    "Occupied": Status.OCCUPIED,
    "Unavailable": Status.UNAVAILABLE,
}


class ReservationError(Exception):
    """Why a reservation cannot be made or cancelled, in the operator's words; ``code`` for tests and the API."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def reservation_create(
    *,
    station: Station,
    id_tag: str,
    expires_at: datetime,
    connector_id: int | None = None,
    group_id_tag: str = "",
    requested_by=None,
) -> Reservation:
    """Ask ``station`` to hold ``connector_id`` (any when None) for ``id_tag`` until ``expires_at``.

    A token the CSMS knows brings its type and its group (unless ``group_id_tag`` names another). The
    reservation is stored first (our key is the reservationId), then sent; the station's answer is its status.
    Raises ReservationError for what cannot be sent at all: a past expiry, a connector the station lacks,
    a token its OCPP version cannot carry, a version without reservations.
    """
    id_tag = id_tag.strip()
    station = Station.objects.get(pk=station.pk)  # the OCPP version it speaks now
    if expires_at <= timezone.now():
        raise ReservationError("expired", "The expiry must be in the future.")
    try:
        outbound.check(station.ocpp_version, outbound.reserve)
    except outbound.Unsupported as error:
        raise ReservationError("unsupported", str(error)) from error
    longest = outbound.id_token_max_length(station.ocpp_version)
    if not 0 < len(id_tag) <= longest or len(group_id_tag) > longest:
        raise ReservationError("id_token", f"An id token of 1 to {longest} characters is needed at this station.")
    if connector_id:
        try:
            connector_id_check(
                connector_id, limit=connector_limits(stations=[station])[station.pk], allow_station=False
            )
        except ValueRejected as error:
            raise ReservationError("connector", f"The station has no connector {connector_id}.") from error
    known = IdToken.objects.select_related("parent").filter(token__iexact=id_tag).first()
    reservation = Reservation.objects.create(
        station=station,
        connector_id=connector_id or None,
        id_tag=id_tag,
        id_token=known,
        id_token_type=known.type if known else outbound.CSMS_TOKEN_TYPE,
        group_id_tag=group_id_tag or (known.parent.token if known and known.parent else ""),
        expires_at=expires_at,
        requested_by=requested_by if requested_by is not None and requested_by.is_authenticated else None,
    )
    action, payload = outbound.reserve(
        station.ocpp_version,
        reservation_id=reservation.pk,
        connector_id=reservation.connector_id,
        expires_at=expires_at,
        id_token=reservation.id_tag,
        id_token_type=reservation.id_token_type,
        parent_id=reservation.group_id_tag or None,
    )
    command = station_call_sync(station=station, action=action, payload=payload, requested_by=requested_by)
    reservation.command = command
    if command.status == StationCommand.Status.ANSWERED:
        answer = outbound.answer_of(station.ocpp_version, command)
        status = ANSWERS.get(answer.status, Status.REJECTED)
        detail = "" if status == Status.ACCEPTED else f"The station answered {answer.status or 'nothing'}."
    else:
        status, detail = Status.FAILED, _failure(command)
    # The station may have started a session with it already, or reported it expired: that stays.
    updated = Reservation.objects.filter(pk=reservation.pk, status=Status.REQUESTED).update(
        status=status, detail=detail, command=command
    )
    reservation.refresh_from_db()
    logger.info(
        "reservation requested",
        extra={
            "station_id": station.ocpp_id,
            "reservation_id": reservation.pk,
            "status": reservation.status,
            "answered_late": not updated,
        },
    )
    return reservation


def reservation_cancel(*, reservation: Reservation, requested_by=None) -> Reservation:
    """Cancel an accepted reservation at its station (CancelReservation). Raises ReservationError when it no longer
    holds a connector, or the station could not be told, or refused (it has no such reservation): the status
    then stays what it was."""
    if reservation.status not in HOLDING:
        raise ReservationError(
            "not_holding", f"The reservation is {reservation.get_status_display()}: nothing to cancel."
        )
    station = Station.objects.get(pk=reservation.station_id)  # the OCPP version it speaks now
    action, payload = outbound.reservation_cancel(station.ocpp_version, reservation_id=reservation.pk)
    command = station_call_sync(station=station, action=action, payload=payload, requested_by=requested_by)
    if command.status != StationCommand.Status.ANSWERED:
        raise ReservationError("station", _failure(command))
    answer = outbound.answer_of(station.ocpp_version, command)
    if not answer.accepted:
        raise ReservationError("rejected", f"The station answered {answer.status}: it holds no such reservation.")
    reservation_end(reservation.pk, Status.CANCELLED, "Cancelled by the CSMS.", holding_only=True)
    reservation.refresh_from_db()
    return reservation


def _failure(command: StationCommand) -> str:
    reason = command.error_description or command.error_code or command.get_status_display()
    return f"{command.action}: {reason}"[:255]

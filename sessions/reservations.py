"""Reservations (OCPP 1.6 Reservation profile, 2.0.1 block H): how one ends, whatever the station says of it.

The CSMS's requests (ReserveNow, CancelReservation) are ``sessions.reservation_requests``. A reservation ends
used when a session starts with its reservationId (1.6 StartTransaction, 2.0.1 TransactionEvent:
``sessions.services`` calls ``reservation_use``), cancelled or expired as a 2.0.1 station reports
(ReservationStatusUpdate), and expired by the CSMS's own sweep once its time has passed (a 1.6 station lets
it lapse without a word). Nothing here sends to a station, so the session services can depend on it.
"""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from sessions.models import Reservation, Transaction
from stations.models import Station

logger = logging.getLogger(__name__)

Status = Reservation.Status
# Where a reservation still holds (or may hold) a connector at the station.
HOLDING = (Status.REQUESTED, Status.ACCEPTED)
# 2.0.1 ReservationStatusUpdate.
UPDATES = {"Expired": Status.EXPIRED, "Removed": Status.CANCELLED}


def reservation_status_update(*, station: Station, reservation_id: int, status: str) -> Reservation | None:
    """A 2.0.1 station's ReservationStatusUpdate (Expired, Removed); None (logged) for a reservation of another
    station or none at all, or an update that does not apply to where the reservation stands."""
    new = UPDATES.get(status)
    reservation = Reservation.objects.filter(pk=reservation_id, station=station).first()
    if reservation is None or new is None:
        logger.warning(
            "reservation status update for an unknown reservation",
            extra={"station_id": station.ocpp_id, "reservation_id": reservation_id, "status": status},
        )
        return None
    detail = "Expired at the station." if new == Status.EXPIRED else "Removed by the station."
    if not reservation_end(reservation.pk, new, detail, holding_only=True):
        logger.info(
            "reservation status update ignored: it had ended already",
            extra={"station_id": station.ocpp_id, "reservation_id": reservation_id, "status": reservation.status},
        )
        return None
    reservation.refresh_from_db()
    return reservation


def reservation_use(*, session: Transaction, reservation_id: int) -> bool:
    """A session of ``session.station`` started with ``reservation_id``: the reservation is used by it. Whatever its
    status (the station holds the last word: it may have seen the driver before its answer or our sweep), but
    only once and only at the station it was made at. False (logged) when there is no such reservation."""
    with transaction.atomic():
        updated = (
            Reservation.objects.filter(pk=reservation_id, station_id=session.station_id)
            .exclude(status=Status.USED)
            .update(status=Status.USED, transaction=session, detail="", updated_at=timezone.now())
        )
    if not updated and not Reservation.objects.filter(pk=reservation_id, transaction=session).exists():
        logger.warning(
            "session started with an unknown reservation",
            extra={"station_id": session.station_id, "reservation_id": reservation_id, "transaction_id": session.pk},
        )
    return bool(updated)


def reservations_expire(*, now: datetime | None = None) -> int:
    """The sweep: reservations whose time has passed without a session end expired. Returns how many."""
    now = now or timezone.now()
    expired = Reservation.objects.filter(status__in=HOLDING, expires_at__lte=now).update(
        status=Status.EXPIRED, detail="Its time passed without a session.", updated_at=now
    )
    if expired:
        logger.info("reservations expired", extra={"reservations": expired})
    return expired


def reservation_end(pk: int, status: str, detail: str, *, holding_only: bool) -> bool:
    """End reservation ``pk`` as ``status`` (only if it still holds, with ``holding_only``); whether it did."""
    reservations = Reservation.objects.filter(pk=pk)
    if holding_only:
        reservations = reservations.filter(status__in=HOLDING)
    return bool(reservations.update(status=status, detail=detail, updated_at=timezone.now()))

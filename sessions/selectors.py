"""Reads of charging sessions and reservations for the operator's portal and the API."""

from django.db.models import QuerySet

from sessions.models import Reservation, Transaction


def active_sessions_count() -> int:
    """Sessions running now (started, not yet stopped), across the network."""
    return Transaction.objects.filter(status=Transaction.Status.ACTIVE).count()


def reservations(*, station_ocpp_id: str = "", status: str = "") -> QuerySet[Reservation]:
    """Reservations, newest first, of one station and in one status when given."""
    found = Reservation.objects.select_related("station", "id_token")
    if station_ocpp_id:
        found = found.filter(station__ocpp_id=station_ocpp_id)
    if status:
        found = found.filter(status=status)
    return found

"""Reads of charging sessions and reservations for the operator's portal and the API."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from sessions.models import Reservation, Transaction

# An authorisation belongs to a session when the station asked for its token this long before the start or after.
AUTHORIZATION_LEAD = timedelta(minutes=15)
AUTHORIZATION_TRAIL = timedelta(minutes=5)
FINISHED = (Transaction.Status.COMPLETED, Transaction.Status.UNMATCHED, Transaction.Status.REFUSED)


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


def sessions_for_staff(
    *,
    station: str = "",
    site=None,
    driver: str = "",
    status: str = "",
    started_from: date | None = None,
    started_to: date | None = None,
) -> QuerySet[Transaction]:
    """Sessions, newest first. ``station`` is an id (or part of one); ``driver`` part of an ID token or of the
    driver's e-mail; ``status`` active or finished; the dates bound the start day (both included)."""
    sessions = Transaction.objects.select_related("station", "station__site", "id_token", "user")
    if station:
        sessions = sessions.filter(station__ocpp_id__icontains=station)
    if site is not None:
        sessions = sessions.filter(station__site=site)
    if driver:
        sessions = sessions.filter(
            Q(id_tag__icontains=driver) | Q(id_token__token__icontains=driver) | Q(user__email__icontains=driver)
        )
    if status == "active":
        sessions = sessions.filter(status=Transaction.Status.ACTIVE)
    elif status == "finished":
        sessions = sessions.filter(status__in=FINISHED)
    if started_from:
        sessions = sessions.filter(started_at__date__gte=started_from)
    if started_to:
        sessions = sessions.filter(started_at__date__lte=started_to)
    return sessions.order_by("-started_at", "-pk")


@dataclass(frozen=True)
class SessionTotals:
    sessions: int
    active: int
    energy_wh: int


def sessions_totals(sessions: QuerySet[Transaction]) -> SessionTotals:
    """How many of ``sessions`` there are, how many run now, and the energy of those finished."""
    totals = sessions.order_by().aggregate(
        sessions=Count("pk"),
        active=Count("pk", filter=Q(status=Transaction.Status.ACTIVE)),
        energy_wh=Sum("energy_wh"),
    )
    return SessionTotals(sessions=totals["sessions"], active=totals["active"], energy_wh=totals["energy_wh"] or 0)


def session_authorizations(*, session: Transaction) -> QuerySet:
    """The authorisations asked for the session (its Authorize, start and stop, each with its message); for
    those recorded before authorisations named their session, the session's tokens at its station around
    its time."""
    from accounts.selectors import authorization_events

    tokens = {token for token in (session.id_tag, session.stop_id_tag) if token}
    if session.id_token_id:
        tokens.add(session.id_token.token)
    until = (session.stopped_at or timezone.now()) + AUTHORIZATION_TRAIL
    around = Q(
        session__isnull=True,
        message="",
        token__in=tokens,
        created_at__gte=session.started_at - AUTHORIZATION_LEAD,
        created_at__lte=until,
    )
    return (
        authorization_events(station=session.station).filter(Q(session=session) | around).order_by("created_at", "pk")
    )

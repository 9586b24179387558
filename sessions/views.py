"""Portal views of charging: the public connector page behind a QR code, starting and stopping a charge from it,
the operators' printable QR sheets and their reservations. The rules are in sessions.remote and
sessions.reservation_requests; these views only call them."""

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import Role, role_required, user_has_role
from accounts.selectors import driver_transactions
from billing.app_settings import app_settings as billing_settings
from billing.selectors import user_can_start_charging
from sessions import remote, selectors
from sessions.forms import ReservationForm
from sessions.models import Reservation, Transaction
from sessions.reservation_requests import ReservationError, reservation_cancel, reservation_create
from sessions.reservations import HOLDING
from stations.models import Connector, Site, Station

# How often the connector page asks for its live values (stations meter every 10-60 s). Polling rather than a
# WebSocket: the cost so far is computed from the database at each look anyway, a plain GET carries the
# session cookie and the same ownership rules as the page, and it passes every proxy and captive portal.
POLL_SECONDS = 4
# The reservations page shows the newest ones.
RESERVATIONS_SHOWN = 200


def _connector_or_404(ocpp_id: str, connector_id: int):
    connector = remote.connector_for_page(ocpp_id=ocpp_id, connector_id=connector_id)
    if connector is None:
        raise Http404("No such connector.")
    return connector


def _live(request, connector) -> dict:
    """What the page shows and the poll answers: the connector's state and, for its driver, their session."""
    state = remote.connector_state(connector=connector)
    body = {
        "station_online": connector.station.is_online,
        "connector_status": connector.status,
        "state": state.state,
        "label": state.label,
        "message": state.message,
        "session": None,
        "pending_start": False,
    }
    user = request.user
    if user.is_authenticated:
        session = remote.driver_connector_session(user=user, connector=connector)
        if session is not None:
            body["session"] = remote.session_live(transaction=session, connector=connector).as_dict()
            if session.status == Transaction.Status.ACTIVE:
                body["label"], body["message"] = "Charging", "This is your charge."
        if session is None or session.status != Transaction.Status.ACTIVE:
            body["pending_start"] = remote.driver_pending_start(user=user, connector=connector) is not None
    return body


@never_cache
def connector_page(request, ocpp_id: str, connector_id: int):
    connector = _connector_or_404(ocpp_id, connector_id)
    live = _live(request, connector)
    context = {"connector": connector, "station": connector.station, "live": live, "poll_seconds": POLL_SECONDS}
    context["tariff"], context["estimate"] = remote.connector_price_estimate(connector=connector, user=request.user)
    context["estimate_kwh"] = remote.ESTIMATE_ENERGY_WH // 1000
    if request.user.is_authenticated:
        context["can_pay"], context["payment_reason"] = user_can_start_charging(request.user, station=connector.station)
        context["elsewhere"] = (
            remote.driver_active_sessions(user=request.user)
            .exclude(station=connector.station, connector_id=connector.connector_id)
            .first()
        )
    return render(request, "sessions/connector.html", context)


@never_cache
@require_GET
def connector_live(request, ocpp_id: str, connector_id: int):
    return JsonResponse(_live(request, _connector_or_404(ocpp_id, connector_id)))


@login_required
@require_POST
def connector_start(request, ocpp_id: str, connector_id: int):
    connector = _connector_or_404(ocpp_id, connector_id)
    try:
        started = remote.session_remote_start(user=request.user, connector=connector)
    except remote.RemoteChargingError as error:
        messages.error(request, error.message)
    else:
        if started.transaction is not None:
            messages.success(request, "Charging has started.")
        else:
            messages.success(
                request,
                "The charger is ready: plug in your car if you have not yet. "
                "Charging begins as soon as it is connected.",
            )
    return redirect("charging:connector", ocpp_id=ocpp_id, connector_id=connector_id)


@login_required
@require_POST
def session_stop(request, pk: int):
    # Only the driver's own sessions are found: another driver's id is a 404, like any unknown one.
    session = get_object_or_404(driver_transactions(user=request.user), pk=pk)
    try:
        remote.session_remote_stop(user=request.user, transaction=session)
    except remote.RemoteChargingError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "The charger is ending your session. You can unplug once it has stopped.")
    if session.connector_id < 1:
        return redirect("accounts:session", pk=session.pk)
    return redirect("charging:connector", ocpp_id=session.station.ocpp_id, connector_id=session.connector_id)


# Operators: printable sheets of QR codes, one per connector, to stick on the chargers.

QR_ROLES = (Role.OPERATOR_ADMIN, Role.TECHNICIAN)


def _portal_url(request) -> str:
    """The public address the codes point to: CMS_PORTAL_URL when set (the sheet may be printed from an
    internal address), else the address this page was reached at."""
    return billing_settings.PORTAL_URL or request.build_absolute_uri("/").rstrip("/")


def _stations_with_connectors(stations):
    return stations.select_related("site").prefetch_related(
        Prefetch("connectors", queryset=Connector.objects.filter(connector_id__gte=1).order_by("connector_id"))
    )


def _codes(request, stations) -> list[dict]:
    base = _portal_url(request)
    sheet = []
    for station in stations:
        codes = []
        for connector in station.connectors.all():
            url = base + reverse("charging:connector", args=[station.ocpp_id, connector.connector_id])
            # Error correction M survives a scuffed sticker; the SVG is paths only, nothing of the input as text.
            svg = segno.make(url, error="m").svg_inline(scale=4, border=2, title=f"{station.ocpp_id} {connector}")
            codes.append({"connector": connector, "url": url, "svg": mark_safe(svg)})  # noqa: S308
        sheet.append({"station": station, "codes": codes})
    return sheet


@role_required(*QR_ROLES)
def qr_index(request):
    stations = Station.objects.select_related("site").order_by("site__name", "ocpp_id")
    return render(request, "sessions/qr_index.html", {"sites": Site.objects.all(), "stations": stations})


@role_required(*QR_ROLES)
def qr_station(request, ocpp_id: str):
    stations = _stations_with_connectors(Station.objects.filter(ocpp_id=ocpp_id))
    if not stations:
        raise Http404("No such station.")
    return render(request, "sessions/qr_sheet.html", {"title": str(stations[0]), "sheet": _codes(request, stations)})


@role_required(*QR_ROLES)
def qr_site(request, pk: int):
    site = get_object_or_404(Site, pk=pk)
    stations = _stations_with_connectors(Station.objects.filter(site=site).order_by("ocpp_id"))
    return render(
        request, "sessions/qr_sheet.html", {"title": site.name, "site": site, "sheet": _codes(request, stations)}
    )


RESERVATION_ROLES = (Role.OPERATOR_ADMIN, Role.TECHNICIAN)
RESERVATION_READ_ROLES = (*RESERVATION_ROLES, Role.ANALYST)


@role_required(*RESERVATION_READ_ROLES)
def reservations(request):
    """The reservations, newest first (of one status when chosen), and the form to reserve (a POST reserves)."""
    may_reserve = user_has_role(request.user, *RESERVATION_ROLES)
    form = ReservationForm(request.POST or None)
    if request.method == "POST":
        if not may_reserve:
            raise PermissionDenied("Your role does not allow this.")
        if form.is_valid():
            data = form.cleaned_data
            try:
                reservation = reservation_create(
                    station=data["station"],
                    connector_id=data["connector_id"],
                    id_tag=data["id_tag"],
                    group_id_tag=data["group_id_tag"],
                    expires_at=data["expires_at"],
                    requested_by=request.user,
                )
            except ReservationError as error:
                form.add_error(None, error.message)
            else:
                _report(request, reservation)
                return redirect("charging:reservations")
    status = request.GET.get("status", "")
    status = status if status in Reservation.Status.values else ""
    context = {
        "form": form,
        "reservations": selectors.reservations(status=status)[:RESERVATIONS_SHOWN],
        "statuses": Reservation.Status.choices,
        "status": status,
        "may_reserve": may_reserve,
        "holding": HOLDING,
    }
    return render(request, "sessions/reservations.html", context)


@require_POST
@role_required(*RESERVATION_ROLES)
def reservation_cancel_view(request, pk: int):
    reservation = get_object_or_404(Reservation.objects.select_related("station"), pk=pk)
    try:
        reservation_cancel(reservation=reservation, requested_by=request.user)
    except ReservationError as error:
        messages.error(request, f"Reservation {pk} not cancelled: {error.message}")
    else:
        messages.success(request, f"Reservation {pk} cancelled.")
    return redirect("charging:reservations")


def _report(request, reservation: Reservation) -> None:
    if reservation.status == Reservation.Status.ACCEPTED:
        messages.success(request, f"Reservation {reservation.pk} accepted by {reservation.station.ocpp_id}.")
    else:
        messages.error(
            request, f"Reservation {reservation.pk} {reservation.get_status_display()}: {reservation.detail}"
        )

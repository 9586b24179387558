"""Operator portal pages of the stations app: live board, station page, message log. (Alerts, maintenance jobs
and firmware files are monitoring's: ``monitoring.views``.)"""

from django import forms
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from accounts.roles import Role, role_required, user_has_role
from accounts.selectors import station_local_list_state
from analytics.staticfiles import STATIC_PATH as PLOTLY_JS
from cms.plots import to_html
from monitoring.selectors import station_monitoring
from sessions.models import Transaction
from smartcharging.selectors import station_load_mode
from stations import selectors
from stations.figures import meter_curve
from stations.models import ConnectorStatusEvent, OcppMessage, Site, Station

# Who may do what: the README's "Staff roles and access". Finance reads stations (what is billed where) but not
# alerts, maintenance or commands.
STATION_READ_ROLES = (Role.OPERATOR_ADMIN, Role.TECHNICIAN, Role.FINANCE, Role.ANALYST)
VIEW_ROLES = (Role.OPERATOR_ADMIN, Role.TECHNICIAN, Role.ANALYST)
COMMAND_ROLES = (Role.OPERATOR_ADMIN, Role.TECHNICIAN)


def paginate(request, items, per_page: int, *, count: int | None = None):
    """A page of ``items``; ``count``, when the caller has it already, spares the paginator its own COUNT (a full
    scan of a large unfiltered list)."""
    paginator = Paginator(items, per_page)
    if count is not None:
        paginator.count = count  # a cached_property: set, it is not computed
    return paginator.get_page(request.GET.get("page"))


def query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


# The live board


class BoardFilterForm(forms.Form):
    site = forms.ModelChoiceField(Site.objects.all(), required=False, empty_label="All sites")
    state = forms.ChoiceField(choices=[("", "All states"), *selectors.BOARD_STATES.items()], required=False)
    q = forms.CharField(required=False, max_length=60, label="Station")


def _board_context(request):
    form = BoardFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    rows = selectors.board_rows(site=filters.get("site"), search=filters.get("q", ""))
    # Rows of other states are sent hidden: a row that changes state shows or hides without a reload.
    return {"form": form, "rows": rows, "counts": selectors.board_counts(rows), "state": filters.get("state", "")}


@require_GET
@role_required(*STATION_READ_ROLES)
def live_board(request):
    context = _board_context(request)
    context |= {"states": selectors.BOARD_STATES, "status_states": selectors.STATUS_STATES}
    return render(request, "stations/live_board.html", context)


@require_GET
@role_required(*STATION_READ_ROLES)
def live_board_rows(request):
    """The board's rows and counts, fetched again by the page when events name something it does not show."""
    if request.GET.get("station"):
        station = get_object_or_404(Station, ocpp_id=request.GET["station"])
        rows = selectors.board_rows(station=station)
        return JsonResponse({"rows": render_to_string("stations/_board_rows.html", {"rows": rows, "compact": True})})
    context = _board_context(request)
    return JsonResponse(
        {
            "rows": render_to_string("stations/_board_rows.html", context, request=request),
            "counts": context["counts"],
        }
    )


# A station's page


@require_GET
@role_required(*STATION_READ_ROLES)
def station_detail(request, ocpp_id: str):
    station = get_object_or_404(Station.objects.select_related("site"), ocpp_id=ocpp_id)
    rows = selectors.board_rows(station=station)
    running = [row.session for row in rows if row.session is not None]
    curves = {session.pk: to_html(meter_curve(session)) for session in running}
    is_v201 = station.ocpp_version == Station.OcppVersion.V201
    context = {
        "station": station,
        "rows": rows,
        "curves": [(session, curves[session.pk]) for session in running],
        "plotly_js": PLOTLY_JS,
        "sessions": Transaction.objects.filter(station=station).order_by("-started_at")[:15],
        "status_events": ConnectorStatusEvent.objects.filter(station=station).order_by("-timestamp")[:40],
        # A 2.0.1 station's configuration is its device model, on a page of its own.
        "configuration": None if is_v201 else selectors.station_configuration_known(station=station),
        "device_model": selectors.station_device_model_summary(station=station) if is_v201 else None,
        "local_list": station_local_list_state(station=station),
        "load_mode": station_load_mode(station=station),
        "commands": station.commands.select_related("requested_by").order_by("-created_at")[:20],
        "recent_messages": OcppMessage.objects.filter(station=station).order_by("-created_at", "-pk")[:10],
        "can_command": user_has_role(request.user, *COMMAND_ROLES),
        # Maintenance jobs, monitors and display messages are for the roles that look after stations.
        "can_monitor": user_has_role(request.user, *VIEW_ROLES),
        "status_states": selectors.STATUS_STATES,
        # Its alerts and maintenance jobs, and what the maintenance forms offer.
        **station_monitoring(station=station),
    }
    return render(request, "stations/station_detail.html", context)


class MessageFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search")
    direction = forms.ChoiceField(choices=[("", "Both directions"), *OcppMessage.Direction.choices], required=False)
    action = forms.CharField(required=False, max_length=64)


@require_GET
@role_required(*STATION_READ_ROLES)
def station_messages(request, ocpp_id: str):
    station = get_object_or_404(Station, ocpp_id=ocpp_id)
    form = MessageFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    found = selectors.station_messages(
        station=station,
        search=filters.get("q", ""),
        direction=filters.get("direction", ""),
        action=filters.get("action", ""),
    )
    return render(
        request,
        "stations/station_messages.html",
        {
            "station": station,
            "form": form,
            "page": paginate(request, found, 50),
            "query": query_without_page(request),
            "actions": selectors.station_message_actions(station=station),
        },
    )

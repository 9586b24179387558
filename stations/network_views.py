"""Operator pages of the network: the station list with its bulk actions, registering and editing a station, its
credentials, and the sites. The rules are the services' (``stations.services``, and remote maintenance for
commands to many stations); these views only check roles, read forms and show outcomes."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.roles import role_required, user_has_role
from monitoring.maintenance import MaintenanceError, maintenance_job_create
from monitoring.models import MaintenanceJob
from stations import selectors, services
from stations.forms import (
    BULK_ACTIONS,
    SiteForm,
    StationBulkForm,
    StationEditForm,
    StationFilterForm,
    StationPasswordForm,
    StationRegisterForm,
    generated_password,
)
from stations.models import Site, Station
from stations.views import COMMAND_ROLES, STATION_READ_ROLES, paginate, query_without_page

# Registering, editing and commanding stations, and changing sites, is the technicians' work (README roles).
NETWORK_WRITE_ROLES = COMMAND_ROLES
STATIONS_PER_PAGE = 50
REGISTRATION = {"accept": Station.RegistrationStatus.ACCEPTED, "reject": Station.RegistrationStatus.REJECTED}
AVAILABILITY = {"operative": "Operative", "inoperative": "Inoperative"}


@require_GET
@role_required(*STATION_READ_ROLES)
def station_list(request):
    form = StationFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    found = selectors.stations_list(
        search=filters.get("q", ""),
        site=filters.get("site"),
        status=filters.get("status", ""),
        ocpp_version=filters.get("ocpp_version", ""),
        registration_status=filters.get("registration_status", ""),
        order=filters.get("sort") or "id",
    )
    context = {
        "form": form,
        "page": paginate(request, found, STATIONS_PER_PAGE),
        "query": query_without_page(request),
        "can_write": user_has_role(request.user, *NETWORK_WRITE_ROLES),
        "bulk_form": StationBulkForm(),
    }
    return render(request, "stations/station_list.html", context)


@require_POST
@role_required(*NETWORK_WRITE_ROLES)
def station_bulk(request):
    """A bulk action in two steps: the selection and the action are confirmed on a page of their own, then done,
    each station's outcome shown (commands run as a maintenance job, whose page shows them)."""
    form = StationBulkForm(request.POST)
    if not form.is_valid():
        for problem in [*form.non_field_errors(), *(e for field in form.errors.values() for e in field)]:
            messages.error(request, problem)
        return redirect("stations:stations")
    action, stations = form.cleaned_data["action"], list(form.cleaned_data["stations"])
    site = form.cleaned_data["site"]
    context = {"form": form, "action": action, "label": BULK_ACTIONS[action], "stations": stations, "site": site}
    if not form.cleaned_data["confirmed"]:
        return render(request, "stations/station_bulk_confirm.html", context)
    if action in AVAILABILITY:
        try:
            job = maintenance_job_create(
                kind=MaintenanceJob.Kind.CHANGE_AVAILABILITY,
                stations=stations,
                params={"type": AVAILABILITY[action], "connector_id": 0},
                created_by=request.user,
            )
        except MaintenanceError as error:
            messages.error(request, f"Nothing was sent. {error}")
            return redirect("stations:stations")
        return redirect("stations:job", pk=job.pk)
    if action in REGISTRATION:
        outcomes = services.stations_bulk_update(stations=stations, registration_status=REGISTRATION[action])
    else:
        outcomes = services.stations_bulk_update(stations=stations, site=site)
    return render(request, "stations/station_bulk_done.html", context | {"outcomes": outcomes})


@require_http_methods(["GET", "POST"])
@role_required(*NETWORK_WRITE_ROLES)
def station_register(request):
    form = StationRegisterForm(request.POST or None, initial={"site": request.GET.get("site")})
    if request.method == "POST" and form.is_valid():
        password = form.cleaned_data["password"] or generated_password()
        fields = {name: form.cleaned_data[name] for name in StationRegisterForm.Meta.fields}
        station = services.station_create(password=password, **fields)
        messages.success(request, f"Station {station.ocpp_id} registered.")
        return _password_once(request, station, password)
    return render(
        request, "stations/station_form.html", {"form": form, "title": "Register a station"}, status=_status(form)
    )


@require_http_methods(["GET", "POST"])
@role_required(*NETWORK_WRITE_ROLES)
def station_edit(request, ocpp_id: str):
    station = get_object_or_404(Station, ocpp_id=ocpp_id)
    form = StationEditForm(request.POST or None, instance=station)
    if request.method == "POST" and form.is_valid():
        services.station_update(station=station, **{name: form.cleaned_data[name] for name in form.changed_data})
        messages.success(request, f"Station {station.ocpp_id} saved.")
        return redirect("stations:station", ocpp_id=station.ocpp_id)
    context = {"form": form, "station": station, "title": f"Edit {station.ocpp_id}"}
    return render(request, "stations/station_form.html", context, status=_status(form))


@require_http_methods(["GET", "POST"])
@role_required(*NETWORK_WRITE_ROLES)
def station_credentials(request, ocpp_id: str):
    """A new Basic-auth password, stored here only: the station must be given it by hand (or by its own tool)."""
    station = get_object_or_404(Station, ocpp_id=ocpp_id)
    form = StationPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        password = form.cleaned_data["password"] or generated_password()
        services.station_update(station=station, password=password)
        messages.success(request, f"New password set for {station.ocpp_id}.")
        return _password_once(request, station, password)
    context = {"form": form, "station": station, "title": f"New password for {station.ocpp_id}", "credentials": True}
    return render(request, "stations/station_form.html", context, status=_status(form))


def _password_once(request, station: Station, password: str):
    """The password on a page not kept anywhere (no redirect, not cached): it is shown this once."""
    response = render(request, "stations/station_password.html", {"station": station, "password": password})
    response["Cache-Control"] = "no-store"
    return response


def _status(form) -> int:
    return 400 if form.is_bound and form.errors else 200


# Sites


@require_GET
@role_required(*STATION_READ_ROLES)
def site_list(request):
    context = {"sites": selectors.sites_overview(), "can_write": user_has_role(request.user, *NETWORK_WRITE_ROLES)}
    return render(request, "stations/site_list.html", context)


@require_http_methods(["GET", "POST"])
@role_required(*NETWORK_WRITE_ROLES)
def site_form(request, pk: int | None = None):
    site = get_object_or_404(Site, pk=pk) if pk else None
    form = SiteForm(request.POST or None, instance=site)
    if request.method == "POST" and form.is_valid():
        fields = {name: form.cleaned_data[name] for name in SiteForm.Meta.fields}
        if site is None:
            site = services.site_create(**fields)
        else:
            services.site_update(site=site, **fields)
        messages.success(request, f"Site {site.name} saved.")
        return redirect(reverse("stations:sites"))
    context = {"form": form, "site": site, "title": f"Edit {site.name}" if site else "New site"}
    return render(request, "stations/site_form.html", context, status=_status(form))

"""Operator pages of load management: the managed sites, and one site's load against its limit over time, each
session's share and draw, the queue, and its settings: the grid connection and the feeders inside it with their
limits, time-of-day periods and stations, the building's meter, and connectors' current ranges. Every change goes
through ``smartcharging.limits`` (or ``load``), which applies it at once; these views check roles, read forms and
show outcomes."""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts.roles import role_required, user_has_role
from analytics.staticfiles import STATIC_PATH as PLOTLY_JS
from cms.plots import to_html
from smartcharging import limits, load, selectors
from smartcharging.figures import site_load_figure
from smartcharging.forms import (
    ConnectorSettingsForm,
    GridLimitForm,
    LimitPeriodFormSet,
    LoadGroupForm,
    ManagedSiteForm,
    SiteMeterForm,
    form_refused,
    kept_periods,
)
from smartcharging.models import ConnectorAllocation, ConnectorLoadSettings, LoadGroup
from stations.models import Site
from stations.views import COMMAND_ROLES, VIEW_ROLES

# Limits are the technicians' and operator admins' to change (as sites are); analysts read them.
LIMIT_WRITE_ROLES = COMMAND_ROLES
LOAD_READ_ROLES = VIEW_ROLES
HISTORY = timedelta(hours=6)
GRID_NAME = "Grid connection"


def _status(*forms) -> int:
    return 400 if any(form is not None and form.is_bound and not form.is_valid() for form in forms) else 200


@require_http_methods(["GET", "POST"])
@role_required(*LOAD_READ_ROLES)
def load_sites(request):
    can_write = user_has_role(request.user, *LIMIT_WRITE_ROLES)
    form = ManagedSiteForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not can_write:
            raise PermissionDenied("Your role does not allow changing limits.")
        if form.is_valid():
            group = form.save(commit=False)
            group.name = GRID_NAME
            try:
                limits.load_group_change(group=group)
            except ValidationError as error:
                form_refused(form, error)
            else:
                messages.success(
                    request, f"{group.site.name} is under load management: {group.limit} {group.limit_unit}."
                )
                return redirect("smartcharging:load-site", site_id=group.site_id)
    context = {
        "groups": selectors.managed_sites(),
        "unmanaged": selectors.unmanaged_sites(),
        "can_write": can_write,
        "form": form,
    }
    return render(request, "smartcharging/load_sites.html", context, status=_status(form))


@require_http_methods(["GET", "POST"])
@role_required(*LOAD_READ_ROLES)
def load_site(request, site_id: int):
    site = get_object_or_404(Site, pk=site_id)
    grid = LoadGroup.objects.filter(site=site, parent__isnull=True).first()
    form = GridLimitForm(request.POST if request.method == "POST" else None, instance=grid)
    if request.method == "POST":
        if not user_has_role(request.user, *LIMIT_WRITE_ROLES):
            raise PermissionDenied("Your role does not allow changing limits.")
        if form.is_valid():
            group = form.save(commit=False)
            if grid is None:
                group.site, group.name = site, GRID_NAME
            try:
                limits.load_group_change(group=group)
            except ValidationError as error:
                form_refused(form, error)
            else:
                messages.success(request, f"Limit of {site.name} set to {group.limit} {group.limit_unit}: applied.")
                return redirect("smartcharging:load-site", site_id=site.pk)
    return _site_page(request, site, grid, form=form)


def _site_page(request, site: Site, grid: LoadGroup | None, *, form=None, meter_form=None, connector_form=None):
    """The site's page, with the forms given (bound, with their errors) or fresh ones."""
    can_write = user_has_role(request.user, *LIMIT_WRITE_ROLES)
    allocations = selectors.site_allocations(site_id=site.pk)
    needs = selectors.sessions_needs(transactions=[row.transaction for row in allocations if row.transaction])
    for row in allocations:
        row.needs = needs.get(row.transaction_id)
    samples = list(selectors.site_load_history(site_id=site.pk, since=timezone.now() - HISTORY))
    State = ConnectorAllocation.State
    groups = selectors.site_load_groups(site_id=site.pk)
    context = {
        "site": site,
        "grid": grid,
        "groups": groups,
        "feeders": [group for group in groups if group.parent_id is not None],
        "periods": grid.periods.all() if grid else [],
        "form": form or GridLimitForm(instance=grid),
        "meter_form": meter_form or (SiteMeterForm(instance=grid, site=site) if grid else None),
        "connector_form": connector_form or ConnectorSettingsForm(site=site),
        "connector_settings": selectors.site_connector_settings(site_id=site.pk),
        "station_modes": selectors.site_stations_load_modes(site_id=site.pk),
        "can_write": can_write,
        "charging": [row for row in allocations if row.state == State.CHARGING],
        "queue": [row for row in allocations if row.state == State.QUEUED],
        "out_of_pool": [row for row in allocations if row.state in (State.REJECTED, State.LOST)],
        "figure": to_html(site_load_figure(samples)),
        "latest": samples[-1] if samples else None,
        "plotly_js": PLOTLY_JS,
    }
    status = _status(form, meter_form, connector_form)
    return render(request, "smartcharging/load_site.html", context, status=status)


@require_POST
@role_required(*LIMIT_WRITE_ROLES)
def load_site_meter(request, site_id: int):
    """Set, change or clear (``clear``) how the building's own load is measured."""
    site = get_object_or_404(Site, pk=site_id)
    grid = get_object_or_404(LoadGroup, site=site, parent__isnull=True)
    if "clear" in request.POST:
        grid.meter_source, grid.meter_host, grid.meter_station = LoadGroup.MeterSource.NONE, "", None
        grid.building_load_w = grid.building_load_at = None
        limits.load_group_change(group=grid)
        messages.success(request, f"{site.name} has no building meter now: the whole limit is the cars'.")
        return redirect("smartcharging:load-site", site_id=site.pk)
    form = SiteMeterForm(request.POST, instance=grid, site=site)
    if form.is_valid():
        group = form.save(commit=False)
        if group.meter_source == LoadGroup.MeterSource.NONE:
            group.building_load_w = group.building_load_at = None
        try:
            limits.load_group_change(group=group)
        except ValidationError as error:
            form_refused(form, error)
        else:
            messages.success(request, f"Building meter of {site.name}: {group.get_meter_source_display()}.")
            return redirect("smartcharging:load-site", site_id=site.pk)
    grid = LoadGroup.objects.get(pk=grid.pk)  # the page shows what is saved, not the refused values
    return _site_page(request, site, grid, meter_form=form)


@require_http_methods(["GET", "POST"])
@role_required(*LIMIT_WRITE_ROLES)
def load_group_new(request, site_id: int):
    """A feeder inside the site's grid connection (or inside another feeder)."""
    site = get_object_or_404(Site, pk=site_id)
    grid = get_object_or_404(LoadGroup, site=site, parent__isnull=True)
    return _group_page(request, site, LoadGroup(site=site, parent=grid))


@require_http_methods(["GET", "POST"])
@role_required(*LIMIT_WRITE_ROLES)
def load_group_edit(request, group_id: int):
    group = get_object_or_404(LoadGroup.objects.select_related("site"), pk=group_id)
    return _group_page(request, group.site, group)


def _group_page(request, site: Site, group: LoadGroup):
    """A group's limit, time-of-day periods and (a feeder's) stations, saved together and applied at once."""
    creating = group.pk is None
    title = f"New feeder at {site.name}" if creating else f"{group.name} at {site.name}"
    data = request.POST if request.method == "POST" else None
    initial_parent = {"parent": group.parent_id} if creating else {}
    form = LoadGroupForm(data, instance=group, site=site, initial=initial_parent)
    periods = [
        {"starts": p.starts, "ends": p.ends, "limit": p.limit} for p in ([] if creating else group.periods.all())
    ]
    formset = LimitPeriodFormSet(data, initial=periods, prefix="periods")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        saved = form.save(commit=False)
        stations = list(form.cleaned_data["stations"]) if "stations" in form.fields else None
        try:
            limits.load_group_change(group=saved, periods=kept_periods(formset), stations=stations)
        except ValidationError as error:
            form_refused(form, error)
        else:
            messages.success(request, f"{saved.name} saved: {saved.limit} {saved.limit_unit}, applied.")
            return redirect("smartcharging:load-site", site_id=site.pk)
    context = {"site": site, "title": title, "form": form, "formset": formset}
    status = 400 if request.method == "POST" and (form.errors or not formset.is_valid()) else 200
    return render(request, "smartcharging/load_group_form.html", context, status=status)


@require_POST
@role_required(*LIMIT_WRITE_ROLES)
def load_group_remove(request, group_id: int):
    """Remove a feeder (with the feeders inside it; its stations fall back below its parent) or the grid
    connection (load management ends at the site)."""
    group = get_object_or_404(LoadGroup.objects.select_related("site"), pk=group_id)
    site, root = group.site, group.parent_id is None
    load.load_group_delete(group=group)
    if root:
        messages.success(request, f"{site.name} is no longer under load management.")
        return redirect("smartcharging:load-sites")
    messages.success(request, f"{group.name} removed: its stations are below its parent now.")
    return redirect("smartcharging:load-site", site_id=site.pk)


@require_POST
@role_required(*LIMIT_WRITE_ROLES)
def load_connector_set(request, site_id: int):
    site = get_object_or_404(Site, pk=site_id)
    form = ConnectorSettingsForm(request.POST, site=site)
    if form.is_valid():
        try:
            settings = limits.connector_load_settings_set(**form.cleaned_data)
        except ValidationError as error:
            form_refused(form, error)
        else:
            messages.success(request, f"Connector {settings.station.ocpp_id}/{settings.connector_id}: {settings}.")
            return redirect("smartcharging:load-site", site_id=site.pk)
    grid = LoadGroup.objects.filter(site=site, parent__isnull=True).first()
    return _site_page(request, site, grid, connector_form=form)


@require_POST
@role_required(*LIMIT_WRITE_ROLES)
def load_connector_remove(request, settings_id: int):
    settings = get_object_or_404(ConnectorLoadSettings.objects.select_related("station"), pk=settings_id)
    site_id = settings.station.site_id
    limits.connector_load_settings_delete(settings=settings)
    messages.success(request, f"Connector {settings.station.ocpp_id}/{settings.connector_id} takes its defaults again.")
    return redirect("smartcharging:load-site", site_id=site_id) if site_id else redirect("smartcharging:load-sites")

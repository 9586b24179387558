"""Operator pages of load management: the managed sites, and one site's load against its limit over time, each
session's share and draw, the queue, and its limit (changed at once through ``load.load_group_save``)."""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.roles import role_required, user_has_role
from analytics.staticfiles import STATIC_PATH as PLOTLY_JS
from cms.plots import to_html
from smartcharging import load, selectors
from smartcharging.figures import site_load_figure
from smartcharging.forms import GridLimitForm
from smartcharging.models import ConnectorAllocation, LoadGroup
from stations.models import Site
from stations.views import COMMAND_ROLES, VIEW_ROLES

# Limits are the technicians' and operator admins' to change (as sites are); analysts read them.
LIMIT_WRITE_ROLES = COMMAND_ROLES
LOAD_READ_ROLES = VIEW_ROLES
HISTORY = timedelta(hours=6)


@require_GET
@role_required(*LOAD_READ_ROLES)
def load_sites(request):
    context = {
        "groups": selectors.managed_sites(),
        "unmanaged": Site.objects.exclude(pk__in=selectors.managed_site_ids()).order_by("name"),
        "can_write": user_has_role(request.user, *LIMIT_WRITE_ROLES),
    }
    return render(request, "smartcharging/load_sites.html", context)


@require_http_methods(["GET", "POST"])
@role_required(*LOAD_READ_ROLES)
def load_site(request, site_id: int):
    site = get_object_or_404(Site, pk=site_id)
    grid = LoadGroup.objects.filter(site=site, parent__isnull=True).first()
    can_write = user_has_role(request.user, *LIMIT_WRITE_ROLES)
    form = GridLimitForm(request.POST if request.method == "POST" else None, instance=grid)
    if request.method == "POST":
        if not can_write:
            raise PermissionDenied("Your role does not allow changing limits.")
        if form.is_valid():
            group = form.save(commit=False)
            if grid is None:
                group.site, group.name = site, "Grid connection"
            try:
                load.load_group_save(group=group)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, f"Limit of {site.name} set to {group.limit} {group.limit_unit}: applied.")
                return redirect("smartcharging:load-site", site_id=site.pk)
    allocations = selectors.site_allocations(site_id=site.pk)
    samples = list(selectors.site_load_history(site_id=site.pk, since=timezone.now() - HISTORY))
    State = ConnectorAllocation.State
    context = {
        "site": site,
        "grid": grid,
        "feeders": LoadGroup.objects.filter(site=site, parent__isnull=False).prefetch_related("periods"),
        "periods": grid.periods.all() if grid else [],
        "form": form,
        "can_write": can_write,
        "charging": [row for row in allocations if row.state == State.CHARGING],
        "queue": [row for row in allocations if row.state == State.QUEUED],
        "out_of_pool": [row for row in allocations if row.state in (State.REJECTED, State.LOST)],
        "figure": to_html(site_load_figure(samples)),
        "latest": samples[-1] if samples else None,
        "plotly_js": PLOTLY_JS,
    }
    return render(request, "smartcharging/load_site.html", context, status=400 if form.errors else 200)

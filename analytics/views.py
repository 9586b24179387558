"""Dashboard pages for operator staff, the driver's own page, and the CSV/XLSX export of every table behind a chart."""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from accounts.roles import Role, user_has_role
from analytics import figures, money, selectors
from analytics.filters import FilterForm, Filters
from analytics.services import rollups_refreshed_at
from analytics.staticfiles import STATIC_PATH
from analytics.tables import Dashboard, table_csv, table_xlsx
from cms import plots

# Usage, utilisation, reliability and energy: every staff role. Money: those who read billing.
STAFF = (Role.OPERATOR_ADMIN, Role.TECHNICIAN, Role.FINANCE, Role.ANALYST)
MONEY_READ_ROLES = (Role.OPERATOR_ADMIN, Role.FINANCE, Role.ANALYST)


@dataclass(frozen=True)
class Spec:
    title: str
    build: Callable[..., Dashboard]  # (filters, full=...): full=False may cut long tables to their preview
    draw: Callable[[Dashboard], dict]
    roles: tuple[Role, ...] = STAFF
    tariff: bool = False
    grain: bool = False
    needs_billing: bool = False


DASHBOARDS = {
    "usage": Spec("Usage", selectors.usage_dashboard, figures.usage, tariff=True, grain=True),
    "utilisation": Spec("Utilisation", selectors.utilisation_dashboard, figures.utilisation),
    "reliability": Spec("Reliability", selectors.reliability_dashboard, figures.reliability),
    "energy": Spec("Energy and peak load", selectors.energy_dashboard, figures.energy),
    "money": Spec(
        "Money", money.money_dashboard, figures.money, roles=MONEY_READ_ROLES, tariff=True, needs_billing=True
    ),
}
EXPORT_TYPES = {
    "csv": ("text/csv; charset=utf-8", table_csv),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", table_xlsx),
}


def _spec(name: str) -> Spec:
    spec = DASHBOARDS.get(name)
    if spec is None or (spec.needs_billing and not money.available()):
        raise Http404("No such dashboard.")
    return spec


def visible_dashboards(user) -> list[tuple[str, Spec]]:
    return [
        (name, spec)
        for name, spec in DASHBOARDS.items()
        if user_has_role(user, *spec.roles) and not (spec.needs_billing and not money.available())
    ]


def dashboard_access(view):
    """Anonymous users log in first; users without a role the dashboard needs (drivers among them) get 403."""

    @wraps(view)
    def wrapped(request, name, *args, **kwargs):
        spec = _spec(name)
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not user_has_role(request.user, *spec.roles):
            raise PermissionDenied("Your role does not allow this dashboard.")
        return view(request, name, spec, *args, **kwargs)

    return wrapped


def _export(dashboard: Dashboard, table: str, kind: str, filename: str) -> HttpResponse:
    if table not in dashboard.tables or kind not in EXPORT_TYPES:
        raise Http404("No such table.")
    content_type, write = EXPORT_TYPES[kind]
    response = HttpResponse(write(dashboard.tables[table]), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}-{table}.{kind}"'
    return response


@require_GET
def index(request):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    visible = visible_dashboards(request.user)
    if visible:
        return redirect("analytics:dashboard", name=visible[0][0])
    return redirect("analytics:mine")


@require_GET
@dashboard_access
def dashboard(request, name: str, spec: Spec):
    default = Filters.default()
    form = FilterForm(
        request.GET or None,
        with_tariff=spec.tariff and money.available(),
        with_grain=spec.grain,
        initial={"start": default.start, "end": default.end, "grain": default.grain},
    )
    context = {
        "spec": spec,
        "name": name,
        "form": form,
        "dashboards": visible_dashboards(request.user),
        "plotly_js": STATIC_PATH,
        "refreshed_at": rollups_refreshed_at(),
        "base_template": "operator/base.html",
    }
    if request.GET and not form.is_valid():
        return render(request, "analytics/dashboard.html", context, status=400)
    filters = form.filters() if request.GET else default
    data = spec.build(filters, full=False)
    context |= {
        "filters": filters,
        "data": data,
        "querystring": filters.querystring(),
        "figures": {key: plots.to_html(figure) for key, figure in spec.draw(data).items()},
    }
    return render(request, "analytics/dashboard.html", context)


@require_GET
@dashboard_access
def export(request, name: str, spec: Spec, table: str, kind: str):
    form = FilterForm(request.GET, with_tariff=spec.tariff and money.available(), with_grain=spec.grain)
    if request.GET and not form.is_valid():
        return HttpResponse(
            "; ".join(form.errors.get("__all__", [])) or form.errors.as_text(),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    filters = form.filters() if request.GET else Filters.default()
    return _export(spec.build(filters), table, kind, f"{name}-{filters.start}-{filters.end}")


def _driver_filters(request) -> tuple[FilterForm, Filters | None]:
    today = Filters.default().end
    # By default, this year by month.
    default = Filters(start=today.replace(day=1, month=1), end=today, grain="month")
    form = FilterForm(
        request.GET or None,
        with_scope=False,
        initial={"start": default.start, "end": default.end, "grain": default.grain},
    )
    if request.GET and not form.is_valid():
        return form, None
    return form, form.filters() if request.GET else default


@require_GET
@login_required
def mine(request):
    form, filters = _driver_filters(request)
    context = {"form": form, "plotly_js": STATIC_PATH, "base_template": "driver/base.html"}
    if filters is None:
        return render(request, "analytics/mine.html", context, status=400)
    data = selectors.driver_dashboard(request.user, filters)
    context |= {
        "filters": filters,
        "data": data,
        "querystring": filters.querystring(),
        "figures": {key: plots.to_html(figure) for key, figure in figures.driver(data).items()},
    }
    return render(request, "analytics/mine.html", context)


@require_GET
@login_required
def mine_export(request, table: str, kind: str):
    _, filters = _driver_filters(request)
    if filters is None:
        return HttpResponse("Invalid filter.", status=400, content_type="text/plain; charset=utf-8")
    return _export(selectors.driver_dashboard(request.user, filters), table, kind, f"my-charging-{filters.start}")

"""The operator's overview: today's figures and the network right now, each tile linking to where to act.

Live counts (stations, sessions, alerts) are read from the apps that own them; energy, revenue and the
14-day trend come from the analytics rollups (refreshed every few minutes), as on the dashboards, so that
the overview and the dashboards always agree.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from accounts.roles import user_roles
from billing.operator_views import MONEY_READ_ROLES
from stations.views import STATION_READ_ROLES, VIEW_ROLES

TREND_DAYS = 14


@dataclass(frozen=True)
class Tile:
    label: str
    value: object
    unit: str = ""
    note: str = ""
    url: str = ""
    tone: str = ""  # "bad" or "warn" when the figure asks for attention


@dataclass
class Overview:
    tiles: list[Tile] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)
    alerts: list = field(default_factory=list)
    figures_as_of: datetime | None = None
    rollups_available: bool = False


def _board(state: str) -> str:
    return f"{reverse('stations:live')}?state={state}"


def _amounts(rows: list[tuple], day) -> str:
    from analytics.money import currency

    today = [(code, amount) for d, code, amount in rows if d == day]
    return ", ".join(f"{amount:,.2f} {code}" for code, amount in today) or f"0.00 {currency()}"


def operator_overview(user, now: datetime | None = None) -> Overview:
    from monitoring.selectors import recent_open_alerts
    from sessions.selectors import active_sessions_count
    from stations.selectors import network_status

    now = now or timezone.now()
    roles = set(user_roles(user))
    # Each tile links only where this user may go: the live board, the alerts, the money figures.
    sees_board, sees_alerts = bool(roles.intersection(STATION_READ_ROLES)), bool(roles.intersection(VIEW_ROLES))
    sees_money = bool(roles.intersection(MONEY_READ_ROLES))
    status = network_status()
    overview = Overview()
    overview.tiles = [
        Tile(
            "Stations online",
            status.online,
            note=f"of {status.stations}",
            url=reverse("stations:live") if sees_board else "",
        ),
        Tile(
            "Stations offline",
            status.offline,
            url=_board("offline") if sees_board else "",
            tone="bad" if status.offline else "",
        ),
        Tile(
            "Stations with a fault",
            status.faulted,
            url=_board("faulted") if sees_board else "",
            tone="bad" if status.faulted else "",
        ),
        Tile("Charging sessions now", active_sessions_count(), url=_board("charging") if sees_board else ""),
        Tile(
            "Open alerts",
            status.open_alerts,
            note=f"{status.critical_alerts} critical" if status.critical_alerts else "",
            url=reverse("stations:alerts") if sees_alerts else "",
            tone="bad" if status.critical_alerts else ("warn" if status.open_alerts else ""),
        ),
    ]
    if sees_alerts:
        overview.alerts = recent_open_alerts()
    _add_rollup_figures(overview, now, with_revenue=sees_money)
    return overview


def _add_rollup_figures(overview: Overview, now: datetime, with_revenue: bool) -> None:
    from analytics import figures
    from analytics.selectors import overview_trend
    from analytics.services import rollups_refreshed_at
    from cms import plots

    trend = overview_trend(days=TREND_DAYS, now=now, with_revenue=with_revenue)
    today = timezone.localtime(now).date()
    days = trend.tables["days"]
    sessions, energy = next(((s, e) for d, s, e in days.rows if d == today), (0, Decimal(0)))
    energy = energy.quantize(Decimal("0.1"))
    overview.tiles += [
        Tile("Energy today", energy, "kWh", note=f"{sessions} session{'s' if sessions != 1 else ''} started"),
    ]
    if "revenue" in trend.tables:
        overview.tiles.append(
            Tile("Revenue today", _amounts(trend.tables["revenue"].rows, today), note="gross, sessions started today")
        )
    overview.figures = {key: plots.to_html(figure) for key, figure in figures.overview(trend).items()}
    overview.figures_as_of = rollups_refreshed_at()
    overview.rollups_available = True

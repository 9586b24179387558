"""The operator's overview: live network figures, today's energy and revenue, a 14-day trend, per role."""

from datetime import timedelta
from decimal import Decimal as D

import pytest

from accounts.roles import Role
from tests.analytics.conftest import at

TUE = at(3, 0).date()


@pytest.fixture
def busy_network(rolled_up):
    """The hand-computed network at Tuesday noon: CP-A online with connector 2 faulted, CP-B offline."""
    from analytics.rollups import rebuild_days
    from monitoring.models import Alert
    from stations.models import Connector, Station

    Station.objects.filter(ocpp_id="CP-A").update(is_online=True)
    Connector.objects.filter(station__ocpp_id="CP-A", connector_id=2).update(status="Faulted")
    # CP-B is offline: its faulted connector is not counted as a fault of the network right now.
    Connector.objects.filter(station__ocpp_id="CP-B").update(status="Faulted")
    Alert.objects.create(
        station=rolled_up["cp_b"],
        kind=Alert.Kind.OFFLINE,
        severity=Alert.Severity.CRITICAL,
        summary="CP-B offline",
        opened_at=at(3, 11),
    )
    Alert.objects.create(
        station=rolled_up["cp_a"],
        kind=Alert.Kind.CONNECTOR_FAULT,
        summary="CP-A/2 fault",
        opened_at=at(3, 10),
        closed_at=at(3, 11),
    )
    rebuild_days(d0=TUE, d1=TUE, now=at(3, 12))
    return rolled_up


def _tiles(overview) -> dict:
    return {tile.label: tile for tile in overview.tiles}


def test_overview_counts_the_network_right_now(busy_network, staff_user):
    from cms.overview import operator_overview

    tiles = _tiles(operator_overview(staff_user(Role.TECHNICIAN), now=at(3, 12)))
    assert (tiles["Stations online"].value, tiles["Stations online"].note) == (1, "of 2")
    assert tiles["Stations offline"].value == 1 and tiles["Stations offline"].tone == "bad"
    assert tiles["Stations with a fault"].value == 1
    assert tiles["Charging sessions now"].value == 1  # T4
    assert (tiles["Open alerts"].value, tiles["Open alerts"].note) == (1, "1 critical")
    assert tiles["Energy today"].value == D("7.0")  # T2's 4 kWh after midnight and T3's 3 kWh
    assert tiles["Energy today"].note == "1 session started"
    assert "Revenue today" not in tiles  # technicians see no money


def test_overview_shows_revenue_to_those_who_see_the_money(busy_network, staff_user):
    from cms.overview import operator_overview

    tiles = _tiles(operator_overview(staff_user(Role.FINANCE), now=at(3, 12)))
    assert tiles["Revenue today"].value == "0.00 EUR"  # nothing priced in this network
    # Finance reads the live board but not the alerts: each tile links only where the role may go.
    assert tiles["Stations offline"].url == "/operator/live/?state=offline"
    assert tiles["Open alerts"].url == ""


def test_overview_trend_covers_fourteen_days_ending_today(busy_network):
    from analytics.selectors import overview_trend

    days = overview_trend(days=14, now=at(3, 12)).tables["days"].rows
    assert [row[0] for row in days] == [TUE - timedelta(days=13 - i) for i in range(14)]
    assert days[-1][1:] == (1, D("7.000"))
    assert all(sessions >= 0 and energy >= 0 for _, sessions, energy in days)


def test_overview_trend_is_drawn_by_day_from_zero(busy_network):
    from analytics import figures
    from analytics.selectors import overview_trend
    from cms import plots

    trend = figures.overview(overview_trend(days=14, now=at(3, 12), with_revenue=True))
    chart = trend["trend"]
    # Fourteen days are ticked every other day: readable on a phone, still whole days.
    assert chart.layout.xaxis.type == "date" and chart.layout.xaxis.dtick == 2 * figures.DAY_MS
    assert {chart.layout.yaxis.rangemode, chart.layout.yaxis2.rangemode} == {"tozero"}
    # No priced session: the revenue chart is an empty-state message, not empty axes.
    assert "No data in this period" in plots.to_html(trend["revenue"])


def test_overview_page_for_an_analyst(busy_network, staff_user, client):
    client.force_login(staff_user(Role.ANALYST))
    html = client.get("/").content.decode()
    assert "Stations offline" in html and "Open alerts" in html and "CP-B offline" in html
    assert "analytics/vendor/plotly.min.js" in html
    assert "Revenue today" in html


def test_staff_without_a_role_see_no_figures(db, staff_user, client):
    client.force_login(staff_user())
    html = client.get("/").content.decode()
    assert "no operator role yet" in html and "Stations offline" not in html

"""Every dashboard's figures against the hand-computed values of the fixture network (see conftest.py)."""

from datetime import date
from decimal import Decimal as D

import pytest

from tests.analytics.conftest import NOW, at

MON, TUE = date(2026, 3, 2), date(2026, 3, 3)


def filters(**kwargs):
    from analytics.filters import Filters

    return Filters(start=MON, end=TUE, now=NOW, **kwargs)


def test_usage_per_day_with_a_session_across_midnight(rolled_up):
    from analytics import figures
    from analytics.selectors import usage_dashboard

    dash = usage_dashboard(filters())
    assert dash.tables["sessions"].rows == [
        # day, sessions, kWh delivered that day, avg session kWh, avg duration h, unique drivers
        (MON, 3, D("28.000"), D("10.667"), D("1.50"), 3),
        (TUE, 2, D("9.000"), D("3.000"), D("0.50"), 2),
    ]
    assert [dash.kpi(k) for k in ["sessions", "energy_kwh", "avg_session_kwh", "avg_duration_h", "unique_drivers"]] == [
        5,
        D("37.000"),
        D("8.750"),
        D("1.25"),
        3,
    ]
    volume = figures.usage(dash)["volume"]
    assert list(volume.data[0].y) == [3, 2]
    assert list(volume.data[1].y) == [28.0, 9.0]


def test_usage_per_week_and_per_site(rolled_up):
    from analytics.selectors import usage_dashboard

    week = usage_dashboard(filters(grain="week"))
    assert week.tables["sessions"].rows == [(MON, 5, D("37.000"), D("8.750"), D("1.25"), 3)]
    north = usage_dashboard(filters(site_id=rolled_up["north"].pk))
    assert north.tables["sessions"].column("sessions") == [2, 1]
    assert north.tables["sessions"].column("energy_kwh") == [D("26.000"), D("6.000")]
    assert north.kpi("unique_drivers") == 2


def test_heat_map_by_weekday_and_hour(rolled_up):
    from analytics import figures
    from analytics.selectors import usage_dashboard

    cells = {(w, h): n for w, h, n in usage_dashboard(filters()).tables["heatmap"].rows if n}
    assert cells == {("Mon", 10): 2, ("Mon", 23): 1, ("Tue", 8): 1, ("Tue", 22): 1}
    # One station's map is counted from its sessions directly.
    station = usage_dashboard(filters(station_id=rolled_up["cp_b"].pk))
    assert {(w, h): n for w, h, n in station.tables["heatmap"].rows if n} == {("Mon", 10): 1, ("Tue", 8): 1}
    z = figures.usage(station)["heatmap"].data[0].z
    assert z[0][10] == 1 and z[1][8] == 1 and sum(map(sum, z)) == 2


def test_utilisation_per_station_busiest_and_idlest(rolled_up):
    from analytics import figures
    from analytics.selectors import utilisation_dashboard

    dash = utilisation_dashboard(filters())
    assert dash.tables["stations"].rows == [
        # occupied %, charging %, idle %, occupied h, idle h, sessions, kWh
        ("CP-A", "North", 2, D("6.72"), D("5.73"), D("0.99"), D("6.45"), D("0.95"), 3, D("32.000")),
        ("CP-B", "South", 1, D("2.26"), D("2.08"), D("0.17"), D("1.08"), D("0.08"), 2, D("5.000")),
    ]
    assert dash.tables["busiest"].column("station")[0] == "CP-A"
    assert dash.tables["idlest"].column("station")[0] == "CP-B"
    assert dash.tables["connectors"].rows[0][:4] == ("CP-A", 1, "North", D("9.03"))
    assert [dash.kpi(k) for k in ["occupied_pct", "idle_h"]] == [D("5.23"), D("1.03")]
    assert dash.tables["daily"].rows == [(MON, D("5.25"), D("4.17"), D("1.09")), (TUE, D("5.21"), D("4.86"), D("0.35"))]
    assert list(figures.utilisation(dash)["busiest"].data[0].x) == [5.73, 2.08]


def test_reliability_availability_uptime_mtbf_mttr(rolled_up):
    from analytics.selectors import reliability_dashboard

    dash = reliability_dashboard(filters())
    assert dash.tables["stations"].rows == [
        # availability, uptime, offline h, faulted h, unavailable h, failures, MTBF h, MTTR h
        (
            "CP-B",
            "South",
            "M2",
            "2.0",
            D("75.00"),
            D("75.00"),
            D("4.00"),
            D("8.00"),
            D("0.00"),
            2,
            D("18.00"),
            D("6.00"),
        ),
        (
            "CP-A",
            "North",
            "M1",
            "1.0",
            D("93.75"),
            D("94.79"),
            D("1.50"),
            D("2.00"),
            D("2.00"),
            3,
            D("30.33"),
            D("1.67"),
        ),
    ]
    assert [dash.kpi(k) for k in ["availability_pct", "uptime_pct", "failures", "mtbf_h", "mttr_h"]] == [
        D("87.50"),
        D("88.19"),
        5,
        D("25.40"),
        D("3.40"),
    ]
    assert dash.tables["daily"].column("availability_pct") == [D("91.67"), D("83.33")]
    assert dash.tables["error_codes"].rows == [("GroundFailure", 1, 1), ("PowerMeterFailure", 1, 1)]
    assert dash.tables["models"].rows == [("V", "M1", "1.0", 1, 1, D("1.00")), ("V", "M2", "2.0", 1, 1, D("1.00"))]
    assert dash.tables["offline"].rows == [
        ("CP-B", at(3, 20), None, D("4.00")),
        ("CP-A", at(3, 3, 30), at(3, 5), D("1.50")),
    ]


def test_energy_per_day_and_peak_load(rolled_up):
    from analytics import figures
    from analytics.selectors import energy_dashboard

    dash = energy_dashboard(filters())
    assert dash.tables["daily"].rows == [(MON, D("28.000"), D("16.000")), (TUE, D("9.000"), D("6.000"))]
    assert [dash.kpi(k) for k in ["energy_kwh", "peak_kw", "peak_at", "avg_kw", "load_factor_pct"]] == [
        D("37.000"),
        D("16.000"),
        at(2, 10),
        D("0.771"),
        D("4.8"),
    ]
    load = {row[0]: row[1:] for row in dash.tables["load"].rows}
    assert load[at(2, 10)] == (D("14.000"), D("16.000"))
    assert load[at(2, 23)] == (D("6.000"), D("6.000"))
    assert set(figures.energy(dash)) == {"daily", "load"}


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("station", [(MON, D("26.000"), D("12.000")), (TUE, D("6.000"), D("4.000"))]),
        ("site", [(MON, D("2.000"), D("4.000")), (TUE, D("3.000"), D("6.000"))]),
    ],
)
def test_energy_of_a_station_from_its_meter_curve_and_of_a_site_from_the_rollup(rolled_up, scope, expected):
    from analytics.selectors import energy_dashboard

    scoped = {"station": {"station_id": rolled_up["cp_a"].pk}, "site": {"site_id": rolled_up["south"].pk}}[scope]
    assert energy_dashboard(filters(**scoped)).tables["daily"].rows == expected


def test_a_driver_sees_only_their_own_sessions(rolled_up):
    from analytics.selectors import driver_dashboard

    dash = driver_dashboard(rolled_up["driver1"], filters())
    assert dash.tables["periods"].rows == [
        (MON, 1, D("20.000"), D("2.00"), None),
        (TUE, 1, D("0.000"), D("0.00"), None),  # still charging: no energy or duration yet
    ]
    assert [row[2] for row in dash.tables["sessions"].rows] == ["CP-A", "CP-A"]
    assert driver_dashboard(rolled_up["driver2"], filters()).kpi("energy_kwh") == D("10.000")

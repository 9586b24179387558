"""The rollups against the hand-computed figures of the fixture network (see conftest.py)."""

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.analytics.conftest import at

MON, TUE = date(2026, 3, 2), date(2026, 3, 3)
DAY = 86400


def rows(**filters):
    from analytics.models import ConnectorDay

    return {
        (r.station.ocpp_id, r.connector_id, r.day): r
        for r in ConnectorDay.objects.filter(**filters).select_related("station")
    }


def test_a_row_per_connector_and_day_covering_the_whole_day(rolled_up):
    days = rows()
    assert set(days) == {(s, c, d) for s, c in [("CP-A", 1), ("CP-A", 2), ("CP-B", 1)] for d in (MON, TUE)}
    assert {r.period_s for r in days.values()} == {DAY}


def test_sessions_and_their_energy_count_on_the_day_they_started(rolled_up):
    days = rows()
    a1_mon, a2_mon, a1_tue = days["CP-A", 1, MON], days["CP-A", 2, MON], days["CP-A", 1, TUE]
    assert (a1_mon.sessions, a1_mon.completed_sessions, a1_mon.session_energy_wh, a1_mon.session_s) == (
        1,
        1,
        20000,
        7200,
    )
    # The session crossing midnight is Monday's, with its whole energy and duration.
    assert (a2_mon.sessions, a2_mon.session_energy_wh, a2_mon.session_s) == (1, 10000, 7200)
    assert days["CP-A", 2, TUE].sessions == 0
    # The running session counts as started but not yet as completed.
    assert (a1_tue.sessions, a1_tue.completed_sessions, a1_tue.session_energy_wh) == (1, 0, 0)


def test_energy_delivered_follows_the_meter_curve_across_midnight(rolled_up):
    days = rows()
    assert days["CP-A", 1, MON].energy_wh == 20000
    assert days["CP-A", 2, MON].energy_wh == 6000  # 23:00-00:00, up to the midnight register reading
    assert days["CP-A", 2, TUE].energy_wh == 4000
    assert days["CP-B", 1, MON].energy_wh == 2000
    assert days["CP-B", 1, TUE].energy_wh == 3000
    assert days["CP-A", 1, TUE].energy_wh == 2000  # the running session, up to its last sample


def test_occupied_charging_and_idle_time_from_the_status_history(rolled_up):
    days = rows()
    a1_mon = days["CP-A", 1, MON]
    # Preparing 09:55, Charging 10:00, SuspendedEV 11:30, Finishing 12:00, Available 12:10.
    assert (a1_mon.occupied_s, a1_mon.charging_s, a1_mon.idle_s) == (8100, 5400, 2700)
    a2_mon, a2_tue = days["CP-A", 2, MON], days["CP-A", 2, TUE]
    assert (a2_mon.occupied_s, a2_mon.charging_s, a2_mon.idle_s) == (3720, 3600, 120)
    assert (a2_tue.occupied_s, a2_tue.charging_s, a2_tue.idle_s) == (3900, 3600, 300)
    # Still charging at the end of the range: counted up to its end.
    a1_tue = days["CP-A", 1, TUE]
    assert (a1_tue.occupied_s, a1_tue.charging_s, a1_tue.idle_s) == (7500, 7200, 300)


def test_faults_unavailability_and_offline_time_are_unioned_per_connector(rolled_up):
    days = rows()
    a1 = days["CP-A", 1, TUE]
    assert (a1.faulted_s, a1.unavailable_s, a1.offline_s) == (7200, 3600, 5400)
    # Outage = faulted or offline; down adds the station-wide Unavailable 03:00-04:00 that overlaps the offline time.
    assert (a1.outage_s, a1.down_s, a1.failures) == (12600, 14400, 2)
    a2 = days["CP-A", 2, TUE]
    assert (a2.faulted_s, a2.unavailable_s, a2.offline_s, a2.outage_s, a2.down_s, a2.failures) == (
        0,
        3600,
        5400,
        5400,
        7200,
        1,
    )
    assert days["CP-A", 1, MON].down_s == 0


def test_a_fault_across_midnight_counts_once_and_its_time_on_both_days(rolled_up):
    days = rows()
    b_mon, b_tue = days["CP-B", 1, MON], days["CP-B", 1, TUE]
    assert (b_mon.faulted_s, b_mon.failures) == (6 * 3600, 1)
    # Tuesday: the fault's last two hours, and the offline period from 20:00 that has not ended.
    assert (b_tue.faulted_s, b_tue.offline_s, b_tue.outage_s, b_tue.failures) == (7200, 14400, 21600, 1)


def test_fault_days_by_error_code(rolled_up):
    from analytics.models import FaultDay

    assert sorted(FaultDay.objects.values_list("station__ocpp_id", "connector_id", "day", "error_code", "faults")) == [
        ("CP-A", 1, TUE, "GroundFailure", 1),
        ("CP-B", 1, MON, "PowerMeterFailure", 1),
    ]


def test_network_hours_carry_energy_starts_and_the_15_minute_peak(rolled_up):
    from analytics.models import NetworkHour, SiteHour

    hours = {h.hour: h for h in NetworkHour.objects.all()}
    ten = hours[at(2, 10)]
    # 10:00-10:15: CP-A/1 3 kWh per quarter (12 kW) + CP-B/1 1 kWh per quarter (4 kW).
    assert (ten.sessions, ten.energy_wh, ten.peak_demand_w) == (2, 14000, 16000)
    assert (hours[at(2, 11)].energy_wh, hours[at(2, 11)].peak_demand_w) == (8000, 8000)
    assert sum(h.energy_wh for h in hours.values()) == 37000
    assert sum(h.sessions for h in hours.values()) == 5
    north = {h.hour: h for h in SiteHour.objects.filter(site=rolled_up["north"])}
    assert (north[at(2, 10)].energy_wh, north[at(2, 10)].peak_demand_w) == (12000, 12000)


def test_rebuilding_a_day_replaces_its_rows(rolled_up):
    from analytics.models import ConnectorDay
    from analytics.rollups import rebuild_days
    from tests.analytics.conftest import NOW

    before = ConnectorDay.objects.count()
    rebuild_days(d0=TUE, d1=TUE, now=NOW)
    assert ConnectorDay.objects.count() == before
    assert rows()["CP-A", 1, TUE].failures == 2


@pytest.mark.parametrize("now_hour", [12])
def test_today_is_counted_up_to_now(network, now_hour):
    from analytics.rollups import rebuild_days

    rebuild_days(d0=TUE, d1=TUE, now=at(3, now_hour))
    days = rows()
    assert days["CP-A", 1, TUE].period_s == now_hour * 3600
    assert days["CP-B", 1, TUE].energy_wh == 3000
    assert days["CP-A", 1, TUE].faulted_s == 0  # the 14:00 fault is still in the future


WEEK = [date(2026, 3, 2) + timedelta(days=n) for n in range(8)]  # MON .. the day before NOW


@pytest.fixture
def week_rolled_up(network):
    from analytics.rollups import rebuild_days
    from tests.analytics.conftest import NOW

    rebuild_days(d0=WEEK[0], d1=WEEK[-1], now=NOW)
    return network


def connector_day_sums(start: date, end: date) -> dict:
    from analytics.models import ConnectorDay
    from analytics.rollups import FIGURES

    sums: dict = {}
    for row in ConnectorDay.objects.filter(day__range=(start, end)):
        key = (row.station_id, row.connector_id)
        sums[key] = [a + getattr(row, f) for a, f in zip(sums.get(key, [0] * len(FIGURES)), FIGURES, strict=True)]
    return {key: tuple(values) for key, values in sums.items() if values[0] or values[1]}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.dates(WEEK[0] - timedelta(days=2), WEEK[-1] + timedelta(days=2)),
    length=st.integers(0, 12),
)
def test_running_totals_give_any_range_as_the_sum_of_its_connector_days(week_rolled_up, start, length):
    from analytics.db import fetch
    from analytics.selectors import _per_connector_sql

    end = start + timedelta(days=length)
    params = {"start": start, "end": end, "station_ids": None}
    found = {(row[0], row[1]): tuple(row[2:]) for row in fetch(_per_connector_sql(params), params)}
    assert found == connector_day_sums(start, end)


def test_rebuilding_a_day_recomputes_every_later_running_total(week_rolled_up):
    from analytics.models import ConnectorTotal, NetworkDay
    from analytics.rollups import rebuild_days
    from tests.analytics.conftest import NOW

    ConnectorTotal.objects.filter(day__gte=TUE).update(sessions=999)
    NetworkDay.objects.filter(day=TUE).update(sessions=999)
    rebuild_days(d0=TUE, d1=TUE, now=NOW)
    for day in WEEK[1:]:
        totals = {(t.station_id, t.connector_id): t.sessions for t in ConnectorTotal.objects.filter(day=day)}
        assert totals == {key: figures[1] for key, figures in connector_day_sums(WEEK[0], day).items()}
        assert sum(totals.values()) == 5
    sessions = {n.day: n.sessions for n in NetworkDay.objects.all()}
    assert sessions[TUE] == 2 and sum(sessions.values()) == 5

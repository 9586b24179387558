"""Reads behind the dashboards: each aggregates in PostgreSQL, from the rollups where one covers the question.

Units in the returned tables: energy kWh, power kW, durations hours, shares percent (all Decimal),
days in the operator's TIME_ZONE.
"""

from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from analytics import money
from analytics.db import fetch
from analytics.filters import Filters
from analytics.rollups import COUNTED, FIGURES, TABLES, quarter_energy_ctes
from analytics.tables import Column, Dashboard, Kpi, Table

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
# Beyond this many days the load curve is drawn per day instead of per hour.
HOURLY_LOAD_MAX_DAYS = 92


def _in_scope(alias: str, params: dict) -> str:
    return "" if params["station_ids"] is None else f" AND {alias}.station_id = ANY(%(station_ids)s)"


def _share(part: str, whole: str) -> str:
    return f"round(100 * ({part})::numeric / nullif({whole}, 0), 2)"


def _hours(expr: str) -> str:
    return f"round(({expr})::numeric / 3600, 2)"


def _kwh(expr: str) -> str:
    return f"round(({expr})::numeric / 1000, 3)"


def _per_connector_sql(params: dict) -> str:
    """Each connector of the scope with its connector-day figures summed over [start, end]: its running totals
    at the end (the last day rolled up) less those of the day before the start; two rows per connector whatever
    the range. Connectors with nothing in the range (no day covered, no session) are left out."""
    figures = ", ".join(f"e.{column} - coalesce(s.{column}, 0) AS {column}" for column in FIGURES)
    return f"""
        SELECT e.station_id, e.connector_id, {figures}
        FROM {TABLES["ctot"]} e
        LEFT JOIN {TABLES["ctot"]} s
          ON s.day = %(start)s::date - 1 AND s.station_id = e.station_id AND s.connector_id = e.connector_id
        WHERE e.day = (SELECT max(day) FROM {TABLES["ctot"]} WHERE day <= %(end)s) AND e.day >= %(start)s
          AND (e.period_s > coalesce(s.period_s, 0) OR e.sessions > coalesce(s.sessions, 0)){_in_scope("e", params)}"""


def _days_sql(params: dict) -> str:
    """The scope's connector-day figures summed per day over [start, end]: one network-day row a day for the
    whole network, the scope's connector-days otherwise."""
    if params["station_ids"] is None:
        return f"SELECT * FROM {TABLES['nday']} WHERE day BETWEEN %(start)s AND %(end)s"
    sums = ", ".join(f"sum({column}) AS {column}" for column in FIGURES)
    return f"""
        SELECT cd.day, {sums} FROM {TABLES["cday"]} cd
        WHERE cd.day BETWEEN %(start)s AND %(end)s{_in_scope("cd", params)} GROUP BY cd.day"""


def _periods(grain: str) -> str:
    """Every period of the range, so that empty ones show as zero instead of vanishing from the chart."""
    return (
        f"SELECT p::date AS period FROM generate_series(date_trunc('{grain}', %(start)s::date),"
        f" %(end)s::date, interval '1 {grain}') p"
    )


# ---------------------------------------------------------------- usage


def usage_dashboard(filters: Filters, full: bool = True) -> Dashboard:
    params = filters.params()
    grain = filters.grain
    totals = f"""
        SELECT date_trunc('{grain}', cd.day)::date AS period, sum(cd.sessions) AS sessions,
               sum(cd.energy_wh) AS energy_wh, sum(cd.session_energy_wh) AS session_energy_wh,
               sum(cd.completed_sessions) AS completed, sum(cd.session_s) AS session_s
        FROM ({_days_sql(params)}) cd GROUP BY 1"""
    if filters.tariff_id:
        totals = money.usage_totals_by_tariff_sql(grain, params)
    driver_rows = fetch(_unique_drivers_sql(filters, params), params)
    drivers_by_period = {period: n for period, n in driver_rows if period is not None}
    all_drivers = next((n for period, n in driver_rows if period is None), 0)
    rows = fetch(
        f"""
        WITH totals AS ({totals})
        SELECT p.period, coalesce(t.sessions, 0), {_kwh("coalesce(t.energy_wh, 0)")},
               {_kwh("t.session_energy_wh / nullif(t.completed, 0)")}, {_hours("t.session_s / nullif(t.completed, 0)")},
               coalesce(t.session_energy_wh, 0), coalesce(t.completed, 0), coalesce(t.session_s, 0)
        FROM ({_periods(grain)}) p LEFT JOIN totals t ON t.period = p.period ORDER BY 1""",
        params,
    )
    dashboard = Dashboard()
    dashboard.add(
        Table(
            "sessions",
            f"Sessions per {grain}",
            [
                Column("period", grain.capitalize(), "date"),
                Column("sessions", "Sessions", "int"),
                Column("energy_kwh", "Energy delivered (kWh)", "number"),
                Column("avg_session_kwh", "Average session energy (kWh)", "number"),
                Column("avg_duration_h", "Average session duration (h)", "number"),
                Column("unique_drivers", "Unique drivers", "int"),
            ],
            [(*row[:5], drivers_by_period.get(row[0], 0)) for row in rows],
        )
    )
    completed = sum(row[6] for row in rows)
    dashboard.kpis = [
        Kpi("sessions", "Sessions", sum(row[1] for row in rows)),
        Kpi("energy_kwh", "Energy delivered", sum(row[2] for row in rows), "kWh"),
        Kpi(
            "avg_session_kwh", "Average session energy", _ratio(sum(row[5] for row in rows), completed * 1000, 3), "kWh"
        ),
        Kpi(
            "avg_duration_h", "Average session duration", _ratio(sum(row[7] for row in rows), completed * 3600, 2), "h"
        ),
        Kpi("unique_drivers", "Unique drivers", all_drivers),
    ]
    dashboard.add(heatmap_table(filters, params))
    return dashboard


def _unique_drivers_sql(filters: Filters, params: dict) -> str:
    """Unique drivers per period and overall (the NULL period): a driver is the session's user, else its ID token.

    The whole network reads the daily bitmaps; a site's or station's few sessions are counted directly.
    """
    grain = filters.grain
    if filters.tariff_id:
        return (
            money.tariff_sessions_sql(
                f"date_trunc('{grain}', (sc.session_started_at AT TIME ZONE %(tz)s))::date, count(DISTINCT sc.user_id)",
                params,
            )
            + " GROUP BY GROUPING SETS ((1), ())"
        )
    if params["station_ids"] is not None:
        return f"""
            SELECT date_trunc('{grain}', (t.started_at AT TIME ZONE %(tz)s))::date, count(DISTINCT t.user_id)
                   + count(DISTINCT t.id_token_id) FILTER (WHERE t.user_id IS NULL)
            FROM {TABLES["tx"]} t
            WHERE t.started_at >= %(lo)s AND t.started_at < %(hi)s AND {COUNTED.format(t="t")}{_in_scope("t", params)}
            GROUP BY GROUPING SETS ((1), ())"""
    # Bitmaps of different days differ in length (the highest id that charged): padded before OR-ing.
    return f"""
        WITH r AS (SELECT day, users, tokens FROM {TABLES["dday"]} WHERE day BETWEEN %(start)s AND %(end)s),
             l AS (SELECT greatest(max(length(users)), 1) AS lu, greatest(max(length(tokens)), 1) AS lt FROM r)
        SELECT date_trunc('{grain}', r.day)::date, bit_count(bit_or(rpad(r.users::text, l.lu, '0')::varbit))
               + bit_count(bit_or(rpad(r.tokens::text, l.lt, '0')::varbit))
        FROM r CROSS JOIN l GROUP BY GROUPING SETS ((1), ())"""


def _ratio(numerator, denominator, places: int):
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1).scaleb(-places))


def heatmap_table(filters: Filters, params: dict) -> Table:
    """Sessions started by weekday and hour of day (local time), from the hourly rollups or a station's sessions."""
    if filters.tariff_id:
        source = (
            money.tariff_sessions_sql("date_trunc('hour', sc.session_started_at) AS hour, count(*) AS sessions", params)
            + " GROUP BY 1"
        )
    elif filters.station_id:
        source = f"""
            SELECT date_trunc('hour', t.started_at) AS hour, count(*) AS sessions FROM {TABLES["tx"]} t
            WHERE t.started_at >= %(lo)s AND t.started_at < %(hi)s AND {COUNTED.format(t="t")}{_in_scope("t", params)}
            GROUP BY 1"""
    elif filters.site_id:
        source = f"SELECT hour, sessions FROM {TABLES['shour']} WHERE site_id = %(site_id)s"
    else:
        source = f"SELECT hour, sessions FROM {TABLES['nhour']}"
    rows = fetch(
        f"""
        WITH h AS ({source}), counts AS (
            SELECT extract(isodow FROM hour AT TIME ZONE %(tz)s)::int AS dow,
                   extract(hour FROM hour AT TIME ZONE %(tz)s)::int AS hod, sum(sessions) AS n
            FROM h WHERE hour >= %(lo)s AND hour < %(hi)s GROUP BY 1, 2)
        SELECT d, hh, coalesce(c.n, 0)::int FROM generate_series(1, 7) d CROSS JOIN generate_series(0, 23) hh
        LEFT JOIN counts c ON c.dow = d AND c.hod = hh ORDER BY 1, 2""",
        params,
    )
    return Table(
        "heatmap",
        "Sessions by weekday and hour of day",
        [Column("weekday", "Weekday"), Column("hour", "Hour", "int"), Column("sessions", "Sessions", "int")],
        [(WEEKDAYS[d - 1], h, n) for d, h, n in rows],
    )


# ---------------------------------------------------------------- utilisation

# GROUPING() bits of (station, connector, day): which level of a GROUPING SETS row this is.
BY_CONNECTOR, BY_STATION, BY_DAY, TOTAL = 0b001, 0b011, 0b110, 0b111

UTILISATION_COLUMNS = f"""
    {_share("a.occupied_s", "a.period_s")}, {_share("a.charging_s", "a.period_s")},
    {_share("a.idle_s", "a.period_s")}, {_hours("a.occupied_s")}, {_hours("a.idle_s")}, a.sessions,
    {_kwh("a.energy_wh")}"""

UTILISATION_HEAD = [
    Column("occupied_pct", "Occupied (%)", "percent"),
    Column("charging_pct", "Charging (%)", "percent"),
    Column("idle_pct", "Idle, plugged in (%)", "percent"),
    Column("occupied_h", "Occupied (h)", "number"),
    Column("idle_h", "Idle (h)", "number"),
    Column("sessions", "Sessions", "int"),
    Column("energy_kwh", "Energy (kWh)", "number"),
]


def utilisation_dashboard(filters: Filters, full: bool = True) -> Dashboard:
    """Occupied, charging and idle time as a share of the period: per connector, station, day and overall.

    Connectors, stations and the total from the running totals (GROUPING SETS), days from the day rollups.
    """
    params = filters.params()
    sums = """sum(cd.period_s) AS period_s, sum(cd.occupied_s) AS occupied_s, sum(cd.charging_s) AS charging_s,
              sum(cd.idle_s) AS idle_s, sum(cd.sessions) AS sessions, sum(cd.energy_wh) AS energy_wh"""
    rows = fetch(
        f"""
        WITH a AS (
            SELECT GROUPING(cd.station_id, cd.connector_id) << 1 | 1 AS level, cd.station_id, cd.connector_id,
                   NULL::date AS day, {sums}
            FROM ({_per_connector_sql(params)}) cd
            GROUP BY GROUPING SETS ((cd.station_id, cd.connector_id), (cd.station_id), ())
            UNION ALL
            SELECT {BY_DAY}, NULL, NULL, cd.day, {sums} FROM ({_days_sql(params)}) cd GROUP BY cd.day)
        SELECT a.level, st.ocpp_id, a.connector_id, coalesce(site.name, ''), a.day, {UTILISATION_COLUMNS}
        FROM a LEFT JOIN {TABLES["st"]} st ON st.id = a.station_id
        LEFT JOIN {TABLES["site"]} site ON site.id = st.site_id""",
        params,
    )
    levels: dict[int, list[tuple]] = {BY_CONNECTOR: [], BY_STATION: [], BY_DAY: [], TOTAL: []}
    for level, *row in rows:
        levels[level].append(tuple(row))
    connectors_of: dict[str, int] = {}
    for station, *_ in levels[BY_CONNECTOR]:
        connectors_of[station] = connectors_of.get(station, 0) + 1
    stations = sorted(
        ((st, site, connectors_of[st], *rest) for st, _, site, _, *rest in levels[BY_STATION]),
        key=lambda row: (-(row[3] or 0), row[0]),
    )
    connectors = sorted(
        ((st, c, site, *rest) for st, c, site, _, *rest in levels[BY_CONNECTOR]),
        key=lambda row: (-(row[3] or 0), row[0], row[1]),
    )
    dashboard = Dashboard()
    station_columns = [Column("station", "Station"), Column("site", "Site"), Column("connectors", "Connectors", "int")]
    dashboard.add(Table("stations", "Utilisation per station", station_columns + UTILISATION_HEAD, stations, 50))
    dashboard.add(
        Table(
            "connectors",
            "Utilisation per connector",
            [
                Column("station", "Station"),
                Column("connector", "Connector", "int"),
                Column("site", "Site"),
                *UTILISATION_HEAD,
            ],
            connectors,
            50,
        )
    )
    ranked = [row for row in stations if row[3] is not None]
    dashboard.add(Table("busiest", "Busiest stations", station_columns + UTILISATION_HEAD, ranked[:10]))
    dashboard.add(Table("idlest", "Idlest stations", station_columns + UTILISATION_HEAD, ranked[::-1][:10]))
    dashboard.add(
        Table(
            "daily",
            "Utilisation per day",
            [Column("day", "Day", "date"), *UTILISATION_HEAD[:3]],
            sorted((day, *rest[:3]) for _, _, _, day, *rest in levels[BY_DAY]),
        )
    )
    total = levels[TOTAL][0][4:] if levels[TOTAL] else (None,) * 7
    dashboard.kpis = [
        Kpi("occupied_pct", "Occupied", total[0], "%"),
        Kpi("charging_pct", "Charging", total[1], "%"),
        Kpi("idle_pct", "Idle, plugged in", total[2], "%"),
        Kpi("idle_h", "Idle time", total[4], "h"),
    ]
    return dashboard


# ---------------------------------------------------------------- reliability

# Over connector-day rows ``d``; a station's offline time counts once (``station_offline_s``), not per connector.
RELIABILITY_COLUMNS = f"""
    {_share("sum(d.period_s - d.down_s)", "sum(d.period_s)")},
    {_share("sum(d.period_s - d.outage_s)", "sum(d.period_s)")},
    {_hours("sum(d.station_offline_s)")}, {_hours("sum(d.faulted_s)")}, {_hours("sum(d.unavailable_s)")},
    sum(d.failures),
    {_hours("sum(d.period_s - d.outage_s) / nullif(sum(d.failures), 0)")},
    {_hours("sum(d.outage_s) / nullif(sum(d.failures), 0)")}"""

RELIABILITY_HEAD = [
    Column("availability_pct", "Availability (%)", "percent"),
    Column("uptime_pct", "Uptime (%)", "percent"),
    Column("offline_h", "Offline (h)", "number"),
    Column("faulted_h", "Faulted (h)", "number"),
    Column("unavailable_h", "Unavailable (h)", "number"),
    Column("failures", "Failures", "int"),
    Column("mtbf_h", "MTBF (h)", "number"),
    Column("mttr_h", "MTTR (h)", "number"),
]


def reliability_dashboard(filters: Filters, full: bool = True) -> Dashboard:
    """Availability counts every cause that keeps a driver from charging; uptime only the unplanned ones.

    Per connector: failures are faults and offline periods that began; MTBF is the time up per failure,
    MTTR the time down (faulted or offline) per failure, both in connector-hours. The
    running totals give the stations and the total (GROUPING SETS), the day rollups the days.
    """
    params = filters.params()
    rows = fetch(
        f"""
        WITH a AS (
            SELECT GROUPING(d.station_id) << 1 | 1 AS level, d.station_id, NULL::date AS day, {RELIABILITY_COLUMNS}
            FROM ({_per_connector_sql(params)}) d GROUP BY GROUPING SETS ((d.station_id), ())
            UNION ALL
            SELECT 2, NULL, d.day, {RELIABILITY_COLUMNS} FROM ({_days_sql(params)}) d GROUP BY d.day)
        SELECT a.*, st.ocpp_id, coalesce(site.name, ''), st.model, st.firmware_version
        FROM a LEFT JOIN {TABLES["st"]} st ON st.id = a.station_id
        LEFT JOIN {TABLES["site"]} site ON site.id = st.site_id""",
        params,
    )
    by_station = sorted(
        (tuple(r[-4:]) + tuple(r[3:-4]) for r in rows if r[0] == 0b01), key=lambda r: (r[4] is None, r[4] or 0, r[0])
    )
    daily = sorted((r[2], *r[3:-4]) for r in rows if r[0] == 0b10)
    total = next((r[3:-4] for r in rows if r[0] == 0b11), (None,) * 8)
    dashboard = Dashboard()
    dashboard.add(
        Table(
            "stations",
            "Reliability per station",
            [
                Column("station", "Station"),
                Column("site", "Site"),
                Column("model", "Model"),
                Column("firmware", "Firmware"),
                *RELIABILITY_HEAD,
            ],
            by_station,
            50,
        )
    )
    dashboard.add(Table("daily", "Availability per day", [Column("day", "Day", "date"), *RELIABILITY_HEAD], daily))
    fault_scope = _in_scope("f", params)
    dashboard.add(
        Table(
            "error_codes",
            "Faults by error code",
            [
                Column("error_code", "Error code"),
                Column("faults", "Faults", "int"),
                Column("stations", "Stations", "int"),
            ],
            fetch(
                f"""SELECT f.error_code, sum(f.faults), count(DISTINCT f.station_id) FROM {TABLES["fday"]} f
            WHERE f.day BETWEEN %(start)s AND %(end)s{fault_scope} GROUP BY 1 ORDER BY 2 DESC, 1""",
                params,
            ),
        )
    )
    fleet_scope = "" if params["station_ids"] is None else " AND st.id = ANY(%(station_ids)s)"
    dashboard.add(
        Table(
            "models",
            "Faults by model and firmware",
            [
                Column("vendor", "Vendor"),
                Column("model", "Model"),
                Column("firmware", "Firmware"),
                Column("stations", "Stations", "int"),
                Column("faults", "Faults", "int"),
                Column("faults_per_station", "Faults per station", "number"),
            ],
            fetch(
                f"""
            WITH fleet AS (
                SELECT st.vendor, st.model, st.firmware_version, count(*) AS stations FROM {TABLES["st"]} st
                WHERE true{fleet_scope} GROUP BY 1, 2, 3),
            faults AS (
                SELECT st.vendor, st.model, st.firmware_version, sum(f.faults) AS faults
                FROM {TABLES["fday"]} f JOIN {TABLES["st"]} st ON st.id = f.station_id
                WHERE f.day BETWEEN %(start)s AND %(end)s{fault_scope} GROUP BY 1, 2, 3)
            SELECT fl.vendor, fl.model, fl.firmware_version, fl.stations, coalesce(fa.faults, 0),
                   round(coalesce(fa.faults, 0)::numeric / fl.stations, 2)
            FROM fleet fl LEFT JOIN faults fa USING (vendor, model, firmware_version)
            ORDER BY 6 DESC, 1, 2, 3""",
                params,
            ),
        )
    )
    offline_where = f"""
        FROM {TABLES["off"]} o JOIN {TABLES["st"]} st ON st.id = o.station_id
        WHERE o.started_at < %(hi)s AND coalesce(o.ended_at, %(hi)s) > %(lo)s{_in_scope("o", params)}"""
    offline_count = fetch(f"SELECT count(*) {offline_where}", params)[0][0]
    offline = fetch(
        f"""
        SELECT st.ocpp_id, o.started_at, o.ended_at,
               {
            _hours("extract(epoch FROM least(coalesce(o.ended_at, %(hi)s), %(hi)s) - greatest(o.started_at, %(lo)s))")
        }
        {offline_where} ORDER BY o.started_at DESC, st.ocpp_id {"" if full else "LIMIT 50"}""",
        params,
    )
    dashboard.add(
        Table(
            "offline",
            "Offline periods",
            [
                Column("station", "Station"),
                Column("started_at", "Offline from", "datetime"),
                Column("ended_at", "Back at", "datetime"),
                Column("hours", "Hours in range", "number"),
            ],
            offline,
            50,
            offline_count,
        )
    )
    dashboard.kpis = [
        Kpi("availability_pct", "Availability", total[0], "%"),
        Kpi("uptime_pct", "Uptime", total[1], "%"),
        Kpi("failures", "Failures", total[5] or 0),
        Kpi("mtbf_h", "MTBF", total[6], "h"),
        Kpi("mttr_h", "MTTR", total[7], "h"),
        Kpi("offline_periods", "Offline periods", offline_count),
    ]
    return dashboard


# ---------------------------------------------------------------- energy and peak load


def _load_source(filters: Filters, params: dict) -> list[str]:
    """CTEs ending in ``source(hour, energy_wh, peak_demand_w)`` for the scope."""
    if filters.station_id:
        # One station's sessions are few: its 15-minute demand comes from the meter curve directly.
        return [
            quarter_energy_ctes(params["station_ids"]),
            "q AS (SELECT quarter, sum(wh) AS wh FROM quarters GROUP BY 1)",
            "source AS (SELECT date_trunc('hour', quarter) AS hour, sum(wh) AS energy_wh, max(wh) * 4 AS peak_demand_w"
            " FROM q GROUP BY 1)",
        ]
    if filters.site_id:
        return [f"source AS (SELECT * FROM {TABLES['shour']} WHERE site_id = %(site_id)s)"]
    return [f"source AS (SELECT * FROM {TABLES['nhour']})"]


def energy_dashboard(filters: Filters, full: bool = True) -> Dashboard:
    from analytics.app_settings import app_settings

    params = {**filters.params(), "lookback": timedelta(days=app_settings.SESSION_LOOKBACK_DAYS)}
    ctes = _load_source(filters, params)
    with_source = "WITH " + ",".join(ctes)
    dashboard = Dashboard()
    days = """days AS (
        SELECT (hour AT TIME ZONE %(tz)s)::date AS day, sum(energy_wh) AS wh, max(peak_demand_w) AS peak
        FROM source WHERE hour >= %(lo)s AND hour < %(hi)s GROUP BY 1)"""
    daily = fetch(
        f"""{with_source}, {days}
        SELECT d::date, {_kwh("coalesce(days.wh, 0)")}, {_kwh("coalesce(days.peak, 0)")}
        FROM generate_series(%(start)s::date, %(end)s::date, interval '1 day') d
        LEFT JOIN days ON days.day = d::date ORDER BY 1""",
        params,
    )
    dashboard.add(
        Table(
            "daily",
            "Energy and peak load per day",
            [
                Column("day", "Day", "date"),
                Column("energy_kwh", "Energy (kWh)", "number"),
                Column("peak_kw", "Peak 15-minute demand (kW)", "number"),
            ],
            daily,
        )
    )
    if filters.days <= HOURLY_LOAD_MAX_DAYS:
        dashboard.add(
            Table(
                "load",
                "Load per hour",
                [
                    Column("hour", "Hour", "datetime"),
                    Column("avg_kw", "Average power (kW)", "number"),
                    Column("peak_kw", "Peak 15-minute demand (kW)", "number"),
                ],
                fetch(
                    f"""{with_source} SELECT hour, {_kwh("energy_wh")}, {_kwh("peak_demand_w")} FROM source
                WHERE hour >= %(lo)s AND hour < %(hi)s ORDER BY 1""",
                    params,
                ),
                200,
            )
        )
    peak = fetch(
        f"""{with_source} SELECT hour, {_kwh("peak_demand_w")} FROM source WHERE hour >= %(lo)s AND hour < %(hi)s
        ORDER BY peak_demand_w DESC, hour LIMIT 1""",
        params,
    )
    energy = sum(row[1] for row in daily)
    hours = max((filters.hi - filters.lo).total_seconds() / 3600, 1)
    average = _ratio(energy * 1000, round(hours * 1000), 3)
    peak_kw = peak[0][1] if peak else None
    dashboard.kpis = [
        Kpi("energy_kwh", "Energy delivered", energy, "kWh"),
        Kpi("peak_kw", "Peak demand", peak_kw, "kW"),
        Kpi("peak_at", "Peak at", timezone.localtime(peak[0][0]) if peak else None),
        Kpi("avg_kw", "Average load", average, "kW"),
        Kpi("load_factor_pct", "Load factor", _ratio(average * 100, peak_kw, 1) if peak_kw else None, "%"),
    ]
    return dashboard


# ---------------------------------------------------------------- driver


def driver_dashboard(user, filters: Filters) -> Dashboard:
    """A driver's own sessions, energy and cost over time; nothing of anyone else's."""
    params = {**filters.params(), "user_id": user.pk}
    grain = filters.grain
    cost = money.session_cost_sql("t")
    rows = fetch(
        f"""
        WITH mine AS (
            SELECT date_trunc('{grain}', (t.started_at AT TIME ZONE %(tz)s))::date AS period, count(*) AS sessions,
                   coalesce(sum(t.energy_wh), 0) AS wh,
                   coalesce(sum(extract(epoch FROM t.stopped_at - t.started_at)), 0) AS s,
                   sum({cost}) AS cost
            FROM {TABLES["tx"]} t WHERE t.user_id = %(user_id)s AND t.started_at >= %(lo)s AND t.started_at < %(hi)s
            GROUP BY 1)
        SELECT p.period, coalesce(m.sessions, 0), {_kwh("coalesce(m.wh, 0)")}, {_hours("coalesce(m.s, 0)")}, m.cost
        FROM ({_periods(grain)}) p LEFT JOIN mine m ON m.period = p.period ORDER BY 1""",
        params,
    )
    dashboard = Dashboard()
    dashboard.add(
        Table(
            "periods",
            f"My charging per {grain}",
            [
                Column("period", grain.capitalize(), "date"),
                Column("sessions", "Sessions", "int"),
                Column("energy_kwh", "Energy (kWh)", "number"),
                Column("hours", "Hours charging", "number"),
                Column("cost", f"Cost ({money.currency()})", "number"),
            ],
            rows,
        )
    )
    sessions = fetch(
        f"""
        SELECT t.started_at, t.stopped_at, st.ocpp_id, coalesce(site.name, ''), {_kwh("t.energy_wh")},
               {_hours("extract(epoch FROM t.stopped_at - t.started_at)")}, {cost}
        FROM {TABLES["tx"]} t JOIN {TABLES["st"]} st ON st.id = t.station_id
        LEFT JOIN {TABLES["site"]} site ON site.id = st.site_id
        WHERE t.user_id = %(user_id)s AND t.started_at >= %(lo)s AND t.started_at < %(hi)s
        ORDER BY t.started_at DESC""",
        params,
    )
    dashboard.add(
        Table(
            "sessions",
            "My sessions",
            [
                Column("started_at", "Started", "datetime"),
                Column("stopped_at", "Ended", "datetime"),
                Column("station", "Station"),
                Column("site", "Site"),
                Column("energy_kwh", "Energy (kWh)", "number"),
                Column("hours", "Hours", "number"),
                Column("cost", f"Cost ({money.currency()})", "number"),
            ],
            sessions,
            50,
        )
    )
    costs = [row[4] for row in rows if row[4] is not None]
    dashboard.kpis = [
        Kpi("sessions", "Sessions", sum(row[1] for row in rows)),
        Kpi("energy_kwh", "Energy", sum(row[2] for row in rows), "kWh"),
        Kpi("cost", "Cost", sum(costs) if costs else None, money.currency()),
    ]
    return dashboard


# ---------------------------------------------------------------- operator overview


def overview_trend(*, days: int = 14, now: datetime | None = None, with_revenue: bool = False) -> Dashboard:
    """The overview's small trend: sessions and energy per day over the last ``days`` days (today included),
    and, for those who see the money, gross revenue per day and currency. From the rollups, like the dashboards."""
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    params = {"start": today - timedelta(days=days - 1), "end": today}
    dashboard = Dashboard()
    dashboard.add(
        Table(
            "days",
            f"Sessions and energy, last {days} days",
            [
                Column("day", "Day", "date"),
                Column("sessions", "Sessions", "int"),
                Column("energy_kwh", "Energy (kWh)", "number"),
            ],
            fetch(
                f"""
            WITH d AS (SELECT day, sessions, energy_wh AS wh FROM {TABLES["nday"]}
                       WHERE day BETWEEN %(start)s AND %(end)s)
            SELECT p::date, coalesce(d.sessions, 0)::int, {_kwh("coalesce(d.wh, 0)")}
            FROM generate_series(%(start)s::date, %(end)s::date, interval '1 day') p
            LEFT JOIN d ON d.day = p::date ORDER BY 1""",
                params,
            ),
        )
    )
    if with_revenue and money.available():
        dashboard.add(
            Table(
                "revenue",
                f"Revenue, last {days} days",
                [Column("day", "Day", "date"), Column("currency", "Currency"), Column("gross", "Gross", "number")],
                fetch(
                    f"""SELECT day, currency, sum(gross_amount) FROM {TABLES["rday"]}
                WHERE day BETWEEN %(start)s AND %(end)s GROUP BY 1, 2 HAVING sum(billable_sessions) > 0
                ORDER BY 1, 2""",
                    params,
                ),
            )
        )
    return dashboard

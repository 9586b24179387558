"""The SQL that derives the rollups from sessions, meter samples, status history and offline periods.

Everything is computed in PostgreSQL, a range of days per statement:

- Energy is split over time along each session's meter curve: the points (start, meter_start), every
  ``Energy.Active.Import.Register`` sample, (stop, meter_start + energy_wh) are joined by straight lines,
  and each line's energy is shared among the 15-minute buckets it crosses by overlap. So a session that
  crosses midnight adds to each day what it delivered that day, and a bucket's energy x 4 is its average
  power: the 15-minute demand a grid operator bills as peak load.
- Status durations come from the status history: each event lasts until the connector's next one (the
  state before the range is carried in from the last earlier event). Connector 0 (the whole station) being
  Faulted or Unavailable, and the station's offline periods, count against each of its connectors; the
  unions are taken with multiranges so overlapping causes are not counted twice.
- Unique drivers per day are kept as bitmaps (bit n: user n, or ID token n), built here in Python from
  each day's distinct ids; revenue per day, station and tariff is summed from billing's priced sessions.
"""

from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from analytics.app_settings import app_settings
from analytics.db import NO_JIT
from analytics.models import (
    ConnectorDay,
    ConnectorTotal,
    DriverDay,
    FaultDay,
    NetworkDay,
    NetworkHour,
    NetworkRevenueDay,
    RevenueDay,
    SiteHour,
    StationOfflinePeriod,
)
from sessions.models import MeterSample, Transaction
from stations.models import Connector, ConnectorStatusEvent, Site, Station

OCCUPIED = ("Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Occupied")
# A 2.0.1 connector Occupied with no charging state known (before its session starts) is plugged in, not charging.
IDLE = ("Preparing", "SuspendedEV", "SuspendedEVSE", "Finishing", "Occupied")
ENERGY_REGISTER = "Energy.Active.Import.Register"
# A stop for a transaction the CSMS never issued has no start to count from, and a refused start is no session
# (even where the station charged anyway): both are left out of every figure.
COUNTED = "{t}.status NOT IN ('unmatched', 'refused') AND {t}.meter_start IS NOT NULL"
# A month per statement keeps the intermediate tables of a full rebuild in memory-sized pieces.
CHUNK_DAYS = 31
# The additive figures of a connector-day: what NetworkDay and ConnectorTotal sum.
FIGURES = [
    field.column
    for field in ConnectorDay._meta.concrete_fields
    if field.column not in ("id", "day", "station_id", "connector_id")
]

TABLES = {
    "tx": Transaction._meta.db_table,
    "ms": MeterSample._meta.db_table,
    "ev": ConnectorStatusEvent._meta.db_table,
    "conn": Connector._meta.db_table,
    "st": Station._meta.db_table,
    "site": Site._meta.db_table,
    "off": StationOfflinePeriod._meta.db_table,
    "cday": ConnectorDay._meta.db_table,
    "nday": NetworkDay._meta.db_table,
    "ctot": ConnectorTotal._meta.db_table,
    "fday": FaultDay._meta.db_table,
    "nhour": NetworkHour._meta.db_table,
    "shour": SiteHour._meta.db_table,
    "dday": DriverDay._meta.db_table,
    "rday": RevenueDay._meta.db_table,
    "nrday": NetworkRevenueDay._meta.db_table,
}


def seconds(expr: str) -> str:
    """SQL for the total length in seconds of a tstzmultirange (0 for NULL)."""
    return f"(SELECT coalesce(sum(extract(epoch FROM upper(x) - lower(x))), 0) FROM unnest({expr}) x)::int"


def _in_list(values) -> str:
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


def station_clause(alias: str, station_ids: list[int] | None) -> str:
    return "" if station_ids is None else f" AND {alias}.station_id = ANY(%(station_ids)s)"


def quarter_energy_ctes(station_ids: list[int] | None) -> str:
    """CTEs ending in ``quarters(station_id, connector_id, quarter, wh)`` for [%(lo)s, %(hi)s)."""
    return f"""
    sess AS (
        SELECT t.id, t.station_id, t.connector_id, t.started_at, t.stopped_at, t.meter_start::float8 AS e_start,
               CASE WHEN t.stopped_at IS NOT NULL AND t.energy_wh IS NOT NULL
                    THEN (t.meter_start + t.energy_wh)::float8 END AS e_stop
        FROM {TABLES["tx"]} t
        WHERE t.started_at < %(hi)s AND t.started_at >= %(lo)s - %(lookback)s AND {COUNTED.format(t="t")}
          AND (t.stopped_at IS NULL OR t.stopped_at > %(lo)s){station_clause("t", station_ids)}
    ),
    pts AS (
        SELECT id, started_at AS ts, e_start AS wh FROM sess
        UNION ALL
        SELECT s.id, m.timestamp, least(greatest(m.value, s.e_start), coalesce(s.e_stop, m.value))
        FROM sess s JOIN {TABLES["ms"]} m ON m.transaction_id = s.id
        WHERE m.measurand = '{ENERGY_REGISTER}' AND m.phase = '' AND m.value IS NOT NULL
          AND m.timestamp > s.started_at AND (s.stopped_at IS NULL OR m.timestamp < s.stopped_at)
          -- Implied by the line above (sessions start after it); stated, so older partitions are never read.
          AND m.timestamp >= %(lo)s - %(lookback)s{station_clause("m", station_ids)}
        UNION ALL
        SELECT id, stopped_at, e_stop FROM sess WHERE e_stop IS NOT NULL
    ),
    segs AS (
        SELECT id, ts AS a, lead(ts) OVER w AS b, greatest(lead(wh) OVER w - wh, 0) AS wh
        FROM pts WINDOW w AS (PARTITION BY id ORDER BY ts)
    ),
    quarters AS (
        SELECT s.station_id, s.connector_id, q AS quarter,
               g.wh * extract(epoch FROM least(g.b, q + interval '15 minutes') - greatest(g.a, q))
                    / extract(epoch FROM g.b - g.a) AS wh
        FROM segs g JOIN sess s ON s.id = g.id
        CROSS JOIN LATERAL generate_series(
            date_bin('15 minutes', greatest(g.a, %(lo)s), TIMESTAMPTZ '2000-01-01 00:00Z'),
            least(g.b, %(hi)s) - interval '1 microsecond', interval '15 minutes') q
        WHERE g.b > g.a AND g.wh > 0 AND g.b > %(lo)s AND g.a < %(hi)s
    )"""


def status_ctes() -> str:
    """CTEs ending in ``iv`` (each status interval within [%(lo)s, %(hi)s), connectors and station level)."""
    return f"""
    conns AS (
        -- The registered connectors, and any a session names that the station never reported a status for.
        SELECT k.station_id, k.connector_id, st.created_at, st.site_id,
               min(k.connector_id) OVER (PARTITION BY k.station_id) AS first_connector
        FROM (
            SELECT c.station_id, c.connector_id FROM {TABLES["conn"]} c
            WHERE c.connector_id > 0
            UNION
            SELECT t.station_id, t.connector_id FROM {TABLES["tx"]} t
            WHERE t.started_at >= %(lo)s - %(lookback)s AND t.started_at < %(hi)s AND t.connector_id > 0
        ) k JOIN {TABLES["st"]} st ON st.id = k.station_id
    ),
    status_keys AS (
        SELECT station_id, connector_id FROM conns
        UNION SELECT DISTINCT station_id, 0 FROM conns
    ),
    ev AS (
        SELECT k.station_id, k.connector_id, p.status, p.error_code, %(lo)s AS ts, true AS carried
        FROM status_keys k CROSS JOIN LATERAL (
            SELECT e.status, e.error_code FROM {TABLES["ev"]} e
            WHERE e.station_id = k.station_id AND e.connector_id = k.connector_id AND e.timestamp < %(lo)s
            ORDER BY e.timestamp DESC LIMIT 1) p
        UNION ALL
        SELECT k.station_id, k.connector_id, e.status, e.error_code, e.timestamp, false
        FROM status_keys k JOIN {TABLES["ev"]} e
          ON e.station_id = k.station_id AND e.connector_id = k.connector_id
         AND e.timestamp >= %(lo)s AND e.timestamp < %(hi)s
    ),
    iv AS (
        SELECT station_id, connector_id, status, error_code, carried, ts AS a,
               coalesce(lead(ts) OVER w, %(hi)s) AS b,
               lag(status) OVER w AS prev_status, lag(error_code) OVER w AS prev_error
        FROM ev WINDOW w AS (PARTITION BY station_id, connector_id ORDER BY ts, carried DESC)
    ),
    onsets AS (
        SELECT station_id, connector_id, a AS ts, coalesce(nullif(error_code, ''), 'NoError') AS error_code
        FROM iv
        WHERE NOT carried AND status = 'Faulted'
          AND (prev_status IS DISTINCT FROM 'Faulted' OR prev_error IS DISTINCT FROM error_code)
    )"""


def revenue_day_sql() -> str | None:
    """Priced sessions per day, station, tariff and currency; None without the billing app's tables."""
    from analytics import money

    if not money.available():
        return None
    return f"""
    INSERT INTO {TABLES["rday"]} (day, station_id, tariff_id, currency, sessions, billable_sessions, energy_wh,
                                  session_s, net_amount, gross_amount)
    SELECT (sc.session_started_at AT TIME ZONE %(tz)s)::date, t.station_id, sc.tariff_id, sc.currency, count(*),
           count(*) FILTER (WHERE sc.status = 'billable'), sum(sc.energy_wh),
           round(coalesce(sum(extract(epoch FROM t.stopped_at - t.started_at)), 0)),
           coalesce(sum(sc.net_amount) FILTER (WHERE sc.status = 'billable'), 0),
           coalesce(sum(sc.gross_amount) FILTER (WHERE sc.status = 'billable'), 0)
    FROM {money.table("charge")} sc JOIN {TABLES["tx"]} t ON t.id = sc.transaction_id
    WHERE sc.session_started_at >= %(lo)s AND sc.session_started_at < %(hi)s
    GROUP BY 1, 2, 3, 4
    """


def network_revenue_day_sql() -> str:
    return f"""
    INSERT INTO {TABLES["nrday"]} (day, tariff_id, currency, sessions, billable_sessions, energy_wh, session_s,
                                   net_amount, gross_amount)
    SELECT day, tariff_id, currency, sum(sessions), sum(billable_sessions), sum(energy_wh), sum(session_s),
           sum(net_amount), sum(gross_amount)
    FROM {TABLES["rday"]} WHERE day BETWEEN %(d0)s AND %(d1)s GROUP BY 1, 2, 3
    """


def _bitmap(ids: list[int] | None) -> str:
    """'0100…': bit n set for each id n."""
    if not ids:
        return ""
    bits = bytearray(b"0" * (max(ids) + 1))
    for n in ids:
        bits[n] = ord("1")
    return bits.decode()


def _rebuild_driver_days(cursor, params: dict) -> None:
    cursor.execute(
        f"""
        SELECT (t.started_at AT TIME ZONE %(tz)s)::date,
               array_agg(DISTINCT t.user_id) FILTER (WHERE t.user_id IS NOT NULL),
               array_agg(DISTINCT t.id_token_id) FILTER (WHERE t.user_id IS NULL AND t.id_token_id IS NOT NULL)
        FROM {TABLES["tx"]} t WHERE t.started_at >= %(lo)s AND t.started_at < %(hi)s AND {COUNTED.format(t="t")}
        GROUP BY 1""",
        params,
    )
    rows = [
        (day, len(users or ()) + len(tokens or ()), _bitmap(users), _bitmap(tokens))
        for day, users, tokens in cursor.fetchall()
    ]
    cursor.executemany(
        f"INSERT INTO {TABLES['dday']} (day, drivers, users, tokens) VALUES (%s, %s, %s::varbit, %s::varbit)", rows
    )


def _days_cte() -> str:
    return """
    days AS (
        SELECT d::date AS day, (d::timestamp AT TIME ZONE %(tz)s) AS t0,
               ((d + interval '1 day')::timestamp AT TIME ZONE %(tz)s) AS t1
        FROM generate_series(%(d0)s::date, %(d1)s::date, interval '1 day') d
    )"""


def connector_day_sql() -> str:
    occupied, idle = _in_list(OCCUPIED), _in_list(IDLE)
    faulted = "('Faulted', 'station:Faulted')"
    unavailable = "('Unavailable', 'station:Unavailable')"
    return f"""
    WITH {_days_cte()},
    {status_ctes()},
    ranges AS (
        SELECT d.day, iv.station_id, iv.connector_id, iv.status AS kind,
               tstzrange(greatest(iv.a, d.t0), least(iv.b, d.t1)) AS r
        FROM iv JOIN days d ON iv.a < d.t1 AND iv.b > d.t0
        WHERE iv.b > iv.a AND iv.connector_id > 0
        UNION ALL
        SELECT d.day, c.station_id, c.connector_id, 'station:' || iv.status,
               tstzrange(greatest(iv.a, d.t0), least(iv.b, d.t1))
        FROM iv JOIN conns c ON c.station_id = iv.station_id JOIN days d ON iv.a < d.t1 AND iv.b > d.t0
        WHERE iv.b > iv.a AND iv.connector_id = 0 AND iv.status IN ('Faulted', 'Unavailable')
        UNION ALL
        SELECT d.day, c.station_id, c.connector_id, 'Offline',
               tstzrange(greatest(o.started_at, d.t0, %(lo)s), least(coalesce(o.ended_at, %(hi)s), d.t1, %(hi)s))
        FROM {TABLES["off"]} o JOIN conns c ON c.station_id = o.station_id
        JOIN days d ON o.started_at < least(d.t1, %(hi)s) AND coalesce(o.ended_at, %(hi)s) > greatest(d.t0, %(lo)s)
        WHERE o.started_at < %(hi)s
    ),
    status_days AS (
        SELECT day, station_id, connector_id,
               sum(extract(epoch FROM upper(r) - lower(r))) FILTER (WHERE kind IN {occupied}) AS occupied_s,
               sum(extract(epoch FROM upper(r) - lower(r))) FILTER (WHERE kind = 'Charging') AS charging_s,
               sum(extract(epoch FROM upper(r) - lower(r))) FILTER (WHERE kind IN {idle}) AS idle_s,
               range_agg(r) FILTER (WHERE kind IN {faulted}) AS faulted,
               range_agg(r) FILTER (WHERE kind IN {unavailable}) AS unavailable,
               range_agg(r) FILTER (WHERE kind = 'Offline') AS offline,
               range_agg(r) FILTER (WHERE kind IN {faulted} OR kind = 'Offline') AS outage,
               range_agg(r) FILTER (WHERE kind IN {faulted} OR kind IN {unavailable} OR kind = 'Offline') AS down
        FROM ranges GROUP BY 1, 2, 3
    ),
    failure_days AS (
        SELECT (x.ts AT TIME ZONE %(tz)s)::date AS day, c.station_id, c.connector_id, count(*) AS failures
        FROM conns c JOIN (
            SELECT station_id, connector_id, ts FROM onsets
            UNION ALL
            SELECT station_id, NULL, started_at FROM {TABLES["off"]}
            WHERE started_at >= %(lo)s AND started_at < %(hi)s
        ) x ON x.station_id = c.station_id AND (x.connector_id IS NULL OR x.connector_id IN (0, c.connector_id))
        GROUP BY 1, 2, 3
    ),
    started AS (
        SELECT (t.started_at AT TIME ZONE %(tz)s)::date AS day, t.station_id, t.connector_id,
               count(*) AS sessions,
               count(*) FILTER (WHERE t.stopped_at IS NOT NULL) AS completed_sessions,
               coalesce(sum(t.energy_wh) FILTER (WHERE t.stopped_at IS NOT NULL), 0) AS session_energy_wh,
               coalesce(sum(extract(epoch FROM t.stopped_at - t.started_at)), 0) AS session_s
        FROM {TABLES["tx"]} t
        WHERE t.started_at >= %(lo)s AND t.started_at < %(hi)s AND {COUNTED.format(t="t")}
        GROUP BY 1, 2, 3
    ),
    energy AS (
        SELECT (quarter AT TIME ZONE %(tz)s)::date AS day, station_id, connector_id, sum(wh) AS wh
        FROM analytics_quarters GROUP BY 1, 2, 3
    )
    INSERT INTO {TABLES["cday"]} (
        day, station_id, connector_id, period_s, sessions, completed_sessions, session_energy_wh, session_s,
        energy_wh, occupied_s, charging_s, idle_s, faulted_s, unavailable_s, offline_s, station_offline_s, outage_s,
        down_s, failures)
    SELECT d.day, c.station_id, c.connector_id,
           extract(epoch FROM least(d.t1, %(hi)s) - greatest(d.t0, c.created_at))::int,
           coalesce(s.sessions, 0), coalesce(s.completed_sessions, 0), coalesce(s.session_energy_wh, 0),
           round(coalesce(s.session_s, 0)), round(coalesce(e.wh, 0)),
           round(coalesce(sd.occupied_s, 0)), round(coalesce(sd.charging_s, 0)), round(coalesce(sd.idle_s, 0)),
           {seconds("sd.faulted")}, {seconds("sd.unavailable")}, {seconds("sd.offline")},
           CASE WHEN c.connector_id = c.first_connector THEN {seconds("sd.offline")} ELSE 0 END,
           {seconds("sd.outage")}, {seconds("sd.down")}, coalesce(f.failures, 0)
    FROM conns c JOIN days d ON d.t0 < %(hi)s AND d.t1 > c.created_at
    LEFT JOIN started s ON s.day = d.day AND s.station_id = c.station_id AND s.connector_id = c.connector_id
    LEFT JOIN energy e ON e.day = d.day AND e.station_id = c.station_id AND e.connector_id = c.connector_id
    LEFT JOIN status_days sd ON sd.day = d.day AND sd.station_id = c.station_id AND sd.connector_id = c.connector_id
    LEFT JOIN failure_days f ON f.day = d.day AND f.station_id = c.station_id AND f.connector_id = c.connector_id
    """


def network_day_sql() -> str:
    figures = ", ".join(FIGURES)
    return f"""
    INSERT INTO {TABLES["nday"]} (day, {figures})
    SELECT day, {", ".join(f"sum({column})" for column in FIGURES)} FROM {TABLES["cday"]}
    WHERE day BETWEEN %(d0)s AND %(d1)s GROUP BY day
    """


def running_totals_sql() -> str:
    """Insert every connector's running totals from %(d0)s to the last connector-day, carried on from the day
    before %(d0)s; a day without a connector-day repeats the totals (one row per connector and day)."""
    return f"""
    INSERT INTO {TABLES["ctot"]} (day, station_id, connector_id, {", ".join(FIGURES)})
    WITH base AS (SELECT * FROM {TABLES["ctot"]} WHERE day = %(d0)s::date - 1),
    keys AS (
        SELECT station_id, connector_id, min(first) AS first FROM (
            SELECT station_id, connector_id, min(day) AS first FROM {TABLES["cday"]} WHERE day >= %(d0)s GROUP BY 1, 2
            UNION ALL
            SELECT station_id, connector_id, %(d0)s::date FROM base) k
        GROUP BY 1, 2
    ),
    grid AS (
        SELECT k.station_id, k.connector_id, d::date AS day FROM keys k
        CROSS JOIN generate_series(k.first, (SELECT max(day) FROM {TABLES["cday"]}), interval '1 day') d
    )
    SELECT g.day, g.station_id, g.connector_id,
           {", ".join(f"coalesce(b.{column}, 0) + sum(coalesce(c.{column}, 0)) OVER w" for column in FIGURES)}
    FROM grid g
    LEFT JOIN {TABLES["cday"]} c ON c.day = g.day AND c.station_id = g.station_id AND c.connector_id = g.connector_id
    LEFT JOIN base b ON b.station_id = g.station_id AND b.connector_id = g.connector_id
    WINDOW w AS (PARTITION BY g.station_id, g.connector_id ORDER BY g.day)
    -- A day's rows together on disk: a range's two days are read from a few pages, not one page per connector.
    ORDER BY g.day, g.station_id, g.connector_id
    """


def rebuild_running_totals(*, d0: date) -> None:
    """Recompute the connectors' running totals from ``d0`` on (every later day's depend on it): after any
    rebuild of connector-days, from the first day rebuilt."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(NO_JIT)
        cursor.execute(f"DELETE FROM {TABLES['ctot']} WHERE day >= %s", [d0])
        cursor.execute(running_totals_sql(), {"d0": d0})


def fault_day_sql() -> str:
    return f"""
    WITH {status_ctes()}
    INSERT INTO {TABLES["fday"]} (day, station_id, connector_id, error_code, faults)
    SELECT (ts AT TIME ZONE %(tz)s)::date, station_id, connector_id, error_code, count(*)
    FROM onsets GROUP BY 1, 2, 3, 4
    """


def hour_sql(site_level: bool) -> str:
    """Insert the hours of the network (or of every site) from ``analytics_quarters`` and session starts."""
    if site_level:
        key, table, columns = "st.site_id", "shour", "site_id, "
        join, where = f"JOIN {TABLES['st']} st ON st.id = x.station_id", " AND st.site_id IS NOT NULL"
    else:
        key, join, table, columns, where = "0", "", "nhour", "", ""
    return f"""
    WITH q AS (
        SELECT {key} AS k, x.quarter, sum(x.wh) AS wh FROM analytics_quarters x {join}
        WHERE true{where} GROUP BY 1, 2
    ),
    h AS (
        SELECT k, date_trunc('hour', quarter) AS hour, sum(wh) AS wh, max(wh) * 4 AS peak FROM q GROUP BY 1, 2
    ),
    s AS (
        SELECT {key} AS k, date_trunc('hour', x.started_at) AS hour, count(*) AS n
        FROM {TABLES["tx"]} x {join}
        WHERE x.started_at >= %(lo)s AND x.started_at < %(hi)s AND {COUNTED.format(t="x")}{where} GROUP BY 1, 2
    )
    INSERT INTO {TABLES[table]} ({columns}hour, sessions, energy_wh, peak_demand_w)
    SELECT {"coalesce(h.k, s.k), " if site_level else ""}coalesce(h.hour, s.hour), coalesce(s.n, 0),
           round(coalesce(h.wh, 0)), round(coalesce(h.peak, 0))
    FROM h FULL JOIN s ON s.k = h.k AND s.hour = h.hour
    """


def day_bounds(d0: date, d1: date, tz: str, now: datetime) -> tuple[datetime, datetime]:
    """[start of d0, end of d1) in ``tz``, the end capped at ``now``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (%s::date::timestamp AT TIME ZONE %s), ((%s::date + 1)::timestamp AT TIME ZONE %s)",
            [d0, tz, d1, tz],
        )
        lo, hi = cursor.fetchone()
    return lo, min(hi, now)


def rebuild_days(
    *, d0: date, d1: date, now: datetime | None = None, tz: str | None = None, running_totals: bool = True
) -> None:
    """Recompute every rollup for the days d0..d1 (inclusive), a chunk of days per transaction, then the running
    totals from d0 on (``running_totals=False`` leaves them to a caller rebuilding several ranges)."""
    from django.conf import settings

    now = now or timezone.now()
    tz = tz or settings.TIME_ZONE
    start = d0
    while start <= d1:
        end = min(start + timedelta(days=CHUNK_DAYS - 1), d1)
        _rebuild_chunk(start, end, now, tz)
        start = end + timedelta(days=1)
    if running_totals:
        rebuild_running_totals(d0=d0)


@transaction.atomic
def _rebuild_chunk(d0: date, d1: date, now: datetime, tz: str) -> None:
    lo, hi = day_bounds(d0, d1, tz, now)
    if hi <= lo:
        return
    params = {
        "d0": d0,
        "d1": d1,
        "tz": tz,
        "lo": lo,
        "hi": hi,
        "station_ids": None,
        "lookback": timedelta(days=app_settings.SESSION_LOOKBACK_DAYS),
    }
    with connection.cursor() as cursor:
        cursor.execute(NO_JIT)
        cursor.execute(f"DELETE FROM {TABLES['cday']} WHERE day BETWEEN %(d0)s AND %(d1)s", params)
        cursor.execute(f"DELETE FROM {TABLES['nday']} WHERE day BETWEEN %(d0)s AND %(d1)s", params)
        cursor.execute(f"DELETE FROM {TABLES['fday']} WHERE day BETWEEN %(d0)s AND %(d1)s", params)
        cursor.execute(f"DELETE FROM {TABLES['nhour']} WHERE hour >= %(lo)s AND hour < %(hi)s", params)
        cursor.execute(f"DELETE FROM {TABLES['shour']} WHERE hour >= %(lo)s AND hour < %(hi)s", params)
        cursor.execute(f"DELETE FROM {TABLES['dday']} WHERE day BETWEEN %(d0)s AND %(d1)s", params)
        cursor.execute(f"DELETE FROM {TABLES['rday']} WHERE day BETWEEN %(d0)s AND %(d1)s", params)
        cursor.execute(f"DELETE FROM {TABLES['nrday']} WHERE day BETWEEN %(d0)s AND %(d1)s", params)
        cursor.execute("DROP TABLE IF EXISTS analytics_quarters")
        cursor.execute(
            f"CREATE TEMP TABLE analytics_quarters ON COMMIT DROP AS WITH {quarter_energy_ctes(None)} "
            "SELECT station_id, connector_id, quarter, sum(wh) AS wh FROM quarters GROUP BY 1, 2, 3",
            params,
        )
        cursor.execute("ANALYZE analytics_quarters")
        cursor.execute(connector_day_sql(), params)
        cursor.execute(network_day_sql(), params)
        cursor.execute(fault_day_sql(), params)
        cursor.execute(hour_sql(site_level=False), params)
        cursor.execute(hour_sql(site_level=True), params)
        _rebuild_driver_days(cursor, params)
        revenue = revenue_day_sql()
        if revenue:
            cursor.execute(revenue, params)
            cursor.execute(network_revenue_day_sql(), params)

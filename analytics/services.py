"""Writers of the analytics data: offline-period tracking, the incremental rollup refresh, the monthly report."""

import logging
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from analytics import rollups
from analytics.app_settings import app_settings
from analytics.db import NO_JIT
from analytics.models import RollupState
from analytics.rollups import TABLES

logger = logging.getLogger(__name__)

# Rows committed slightly out of order (long transactions) are caught by reading a little behind: the id
# margin lets the primary key index find the newest status events, received_at keeps the recent ones.
WATERMARK_MARGIN = timedelta(minutes=5)
EVENT_ID_MARGIN = 1000
# Only one refresh at a time; a second one started meanwhile has nothing to add and leaves.
REFRESH_LOCK = 0x616E616C  # "anal"


def station_connectivity_track(*, now: datetime | None = None) -> dict[str, int]:
    """Open an offline period for each station that lost its socket or fell silent, close those that are back.

    Run every minute by beat. A period starts at the station's last message; it ends when the station
    reconnected (or, if its socket never closed, at its first message back, as seen at the next run).
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=app_settings.OFFLINE_AFTER)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {TABLES["off"]} o
            SET ended_at = greatest(o.started_at, CASE WHEN st.connected_at > o.started_at
                                                       THEN st.connected_at ELSE st.last_seen_at END),
                updated_at = %(now)s
            FROM {TABLES["st"]} st
            WHERE st.id = o.station_id AND o.ended_at IS NULL AND st.is_online AND st.last_seen_at >= %(stale)s
            """,
            {"now": now, "stale": stale},
        )
        closed = cursor.rowcount
        cursor.execute(
            f"""
            INSERT INTO {TABLES["off"]} (station_id, started_at, ended_at, updated_at)
            SELECT st.id, st.last_seen_at, NULL, %(now)s FROM {TABLES["st"]} st
            WHERE st.last_seen_at IS NOT NULL AND (NOT st.is_online OR st.last_seen_at < %(stale)s)
              AND NOT EXISTS (SELECT 1 FROM {TABLES["off"]} o WHERE o.station_id = st.id AND o.ended_at IS NULL)
            ON CONFLICT DO NOTHING
            """,
            {"now": now, "stale": stale},
        )
        opened = cursor.rowcount
    if opened or closed:
        logger.info("station connectivity tracked", extra={"offline_opened": opened, "offline_closed": closed})
    return {"opened": opened, "closed": closed}


def _local_date(moment: datetime) -> date:
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def _dirty_days(cursor, state: RollupState, now: datetime) -> set[date]:
    """Days whose source rows changed since the last refresh, beyond today and yesterday."""
    params = {
        "since": state.watermark - WATERMARK_MARGIN,
        "now": now,
        "tz": settings.TIME_ZONE,
        "lookback": timedelta(days=app_settings.SESSION_LOOKBACK_DAYS),
        "after_id": max(state.last_event_id - EVENT_ID_MARGIN, 0),
        "after_charge_id": max(state.last_charge_id - EVENT_ID_MARGIN, 0),
    }
    span = "generate_series(({a} AT TIME ZONE %(tz)s)::date, ({b} AT TIME ZONE %(tz)s)::date, interval '1 day')"
    cursor.execute(
        f"""
        SELECT DISTINCT d::date FROM {TABLES["tx"]} t,
            {span.format(a="t.started_at", b="least(coalesce(t.stopped_at, %(now)s), %(now)s)")} d
        WHERE t.started_at >= %(now)s - %(lookback)s AND t.updated_at >= %(since)s
        UNION
        SELECT DISTINCT d::date FROM {TABLES["ev"]} e
            CROSS JOIN LATERAL (
                SELECT coalesce(min(n.timestamp), %(now)s) AS until FROM {TABLES["ev"]} n
                WHERE n.station_id = e.station_id AND n.connector_id = e.connector_id AND n.timestamp > e.timestamp
            ) nxt,
            {span.format(a="e.timestamp", b="least(nxt.until, %(now)s)")} d
        WHERE e.id > %(after_id)s AND e.received_at >= %(since)s
        UNION
        SELECT DISTINCT d::date FROM {TABLES["off"]} o,
            {span.format(a="o.started_at", b="least(coalesce(o.ended_at, %(now)s), %(now)s)")} d
        WHERE o.updated_at >= %(since)s
        {_priced_days_sql()}
        """,
        params,
    )
    return {row[0] for row in cursor.fetchall()}


def _priced_days_sql() -> str:
    """The start days of sessions priced since the last refresh (billing prices a session after it ends)."""
    from analytics import money

    if not money.available():
        return ""
    return f"""
        UNION
        SELECT DISTINCT (sc.session_started_at AT TIME ZONE %(tz)s)::date FROM {money.table("charge")} sc
        WHERE sc.id > %(after_charge_id)s AND sc.priced_at >= %(since)s"""


def _last_charge_id(cursor) -> int:
    from analytics import money

    if not money.available():
        return 0
    cursor.execute(f"SELECT coalesce(max(id), 0) FROM {money.table('charge')}")
    return cursor.fetchone()[0]


def _first_day(cursor) -> date | None:
    cursor.execute(
        f"SELECT (least((SELECT min(started_at) FROM {TABLES['tx']}), (SELECT min(timestamp) FROM {TABLES['ev']}))"
        " AT TIME ZONE %s)::date",
        [settings.TIME_ZONE],
    )
    return cursor.fetchone()[0]


def _ranges(days: set[date]) -> list[tuple[date, date]]:
    """Consecutive days folded into (first, last) ranges."""
    result: list[tuple[date, date]] = []
    for day in sorted(days):
        if result and day == result[-1][1] + timedelta(days=1):
            result[-1] = (result[-1][0], day)
        else:
            result.append((day, day))
    return result


def rollups_refresh(*, now: datetime | None = None) -> list[tuple[date, date]] | None:
    """Bring the rollups up to date: today, yesterday, and every older day whose sources changed since last time.

    The first run rebuilds the whole history. Returns the day ranges rebuilt, or None when another
    refresh holds the lock.
    """
    # The watermark is on the CSMS's clock (updated_at, received_at); ``now`` is where the data ends.
    clock = timezone.now()
    now = now or clock
    today = _local_date(now)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(NO_JIT)
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [REFRESH_LOCK])
        if not cursor.fetchone()[0]:
            return None
        state, _ = RollupState.objects.select_for_update().get_or_create(name="rollups")
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {TABLES['ev']}")
        last_event_id = cursor.fetchone()[0]
        last_charge_id = _last_charge_id(cursor)
        days = {today, today - timedelta(days=1)}
        if state.watermark is None:
            first = _first_day(cursor)
            if first is not None and first < today:
                days |= {first + timedelta(days=n) for n in range((today - first).days)}
        else:
            days |= {day for day in _dirty_days(cursor, state, now) if day <= today}
        ranges = _ranges(days)
        for d0, d1 in ranges:
            rollups.rebuild_days(d0=d0, d1=d1, now=now, running_totals=False)
        rollups.rebuild_running_totals(d0=ranges[0][0])
        state.watermark, state.last_event_id, state.last_charge_id = clock, last_event_id, last_charge_id
        state.refreshed_at = timezone.now()
        state.save()
    logger.info("analytics rollups refreshed", extra={"ranges": [f"{a}..{b}" for a, b in ranges]})
    return ranges


def rollups_refreshed_at() -> datetime | None:
    return RollupState.objects.filter(name="rollups").values_list("refreshed_at", flat=True).first()


REPORT_TABLES = [
    ("usage", "sessions"),
    ("utilisation", "stations"),
    ("reliability", "stations"),
    ("reliability", "error_codes"),
    ("energy", "daily"),
    ("money", "tariffs"),
    ("money", "unpaid"),
]


def report_recipients() -> list[str]:
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    from accounts.roles import Role

    if app_settings.REPORT_RECIPIENTS:
        return app_settings.REPORT_RECIPIENTS
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    users = users.filter(Q(is_superuser=True) | Q(groups__name__in=[Role.ANALYST, Role.OPERATOR_ADMIN]))
    return sorted(set(users.values_list("email", flat=True)))


def _month_report(month: date, now: datetime):
    """The subject, text and CSV attachments of the report on ``month``."""
    from analytics import money, selectors
    from analytics.filters import Filters
    from analytics.tables import table_csv

    end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    filters = Filters(start=month, end=end, now=now)
    builders = {
        "usage": selectors.usage_dashboard,
        "utilisation": selectors.utilisation_dashboard,
        "reliability": selectors.reliability_dashboard,
        "energy": selectors.energy_dashboard,
    }
    if money.available():
        builders["money"] = money.money_dashboard
    dashboards = {name: build(filters) for name, build in builders.items()}
    lines = [f"Voltgrid network report for {month:%B %Y} ({month} to {end}).", ""]
    for name, dashboard in dashboards.items():
        lines.append(name.capitalize())
        lines += [
            f"  {kpi.label}: {'-' if kpi.value is None else kpi.value} {kpi.unit}".rstrip() for kpi in dashboard.kpis
        ]
        lines.append("")
    lines.append("The attached CSV files hold the tables behind the dashboards' charts.")
    attachments = [
        (f"{name}-{table}-{month:%Y-%m}.csv", table_csv(dashboards[name].tables[table]), "text/csv")
        for name, table in REPORT_TABLES
        if name in dashboards
    ]
    return f"Voltgrid report for {month:%B %Y}", "\n".join(lines), attachments


def report_monthly_send(*, month: date | None = None, now: datetime | None = None):
    """E-mail the report on ``month`` (default: last month) once; None when it was already sent or nobody gets it.

    The MonthlyReport row is written in the same transaction as the sending: a failed send leaves no row,
    and the next hourly run tries again; a second worker running at once waits on the row and sends nothing.
    """
    from django.core.mail import EmailMessage

    from analytics.models import MonthlyReport

    now = now or timezone.now()
    month = month or (_local_date(now).replace(day=1) - timedelta(days=1)).replace(day=1)
    if MonthlyReport.objects.filter(month=month).exists():
        return None
    recipients = report_recipients()
    if not recipients:
        logger.warning("monthly report not sent: no recipients", extra={"month": str(month)})
        return None
    rollups_refresh(now=now)
    with transaction.atomic():
        report, created = MonthlyReport.objects.get_or_create(month=month, defaults={"recipients": recipients})
        if not created:
            return None
        subject, body, attachments = _month_report(month, now)
        message = EmailMessage(subject=subject, body=body, to=recipients[:1], bcc=recipients[1:])
        for attachment in attachments:
            message.attach(*attachment)
        message.send()
    logger.info("monthly report sent", extra={"month": str(month), "recipients": len(recipients)})
    return report

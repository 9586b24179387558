"""Offline-period tracking, the incremental rollup refresh, the monthly report e-mail."""

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from accounts.roles import Role
from tests.analytics.conftest import NOW, at


@pytest.fixture
def station(db):
    from stations.models import Station

    return Station.objects.create(ocpp_id="CP-T")


def set_state(station, **fields):
    from stations.models import Station

    Station.objects.filter(pk=station.pk).update(**fields)


def periods(station):
    return list(station.offline_periods.order_by("started_at").values_list("started_at", "ended_at"))


def test_a_disconnected_station_gets_an_offline_period_from_its_last_message_until_it_reconnects(station):
    from analytics.services import station_connectivity_track

    t = datetime(2026, 3, 5, 12, tzinfo=UTC)
    set_state(station, is_online=False, last_seen_at=t)
    assert station_connectivity_track(now=t + timedelta(minutes=1)) == {"opened": 1, "closed": 0}
    assert station_connectivity_track(now=t + timedelta(minutes=2)) == {"opened": 0, "closed": 0}
    set_state(station, is_online=True, connected_at=t + timedelta(minutes=30), last_seen_at=t + timedelta(minutes=31))
    assert station_connectivity_track(now=t + timedelta(minutes=32)) == {"opened": 0, "closed": 1}
    assert periods(station) == [(t, t + timedelta(minutes=30))]


def test_a_station_that_falls_silent_on_an_open_socket_counts_as_offline(station, settings):
    from analytics.services import station_connectivity_track

    settings.CMS_ANALYTICS_OFFLINE_AFTER = 900
    t = datetime(2026, 3, 5, 12, tzinfo=UTC)
    set_state(station, is_online=True, connected_at=t - timedelta(hours=1), last_seen_at=t)
    assert station_connectivity_track(now=t + timedelta(minutes=14))["opened"] == 0
    assert station_connectivity_track(now=t + timedelta(minutes=16))["opened"] == 1
    # It speaks again on the same socket: the period ends at its message.
    set_state(station, last_seen_at=t + timedelta(minutes=40))
    assert station_connectivity_track(now=t + timedelta(minutes=41))["closed"] == 1
    assert periods(station) == [(t, t + timedelta(minutes=40))]


def test_a_station_never_seen_is_not_offline(station):
    from analytics.services import station_connectivity_track

    assert station_connectivity_track(now=NOW) == {"opened": 0, "closed": 0}


def stored_an_hour_ago():
    """Backdate the CSMS-clock stamps of the fixture rows, as if they had been stored before the last refresh."""
    from analytics.models import RollupState, StationOfflinePeriod
    from sessions.models import Transaction
    from stations.models import ConnectorStatusEvent

    earlier = timezone.now() - timedelta(hours=1)
    Transaction.objects.update(updated_at=earlier)
    ConnectorStatusEvent.objects.update(received_at=earlier)
    StationOfflinePeriod.objects.update(updated_at=earlier)
    RollupState.objects.update(watermark=earlier + timedelta(minutes=30))


def test_the_first_refresh_builds_the_whole_history_then_only_what_changed(network):
    from analytics.models import ConnectorDay
    from analytics.services import rollups_refresh
    from sessions.models import Transaction

    ranges = rollups_refresh(now=at(5, 12))
    stored_an_hour_ago()
    assert ranges == [(date(2026, 3, 1), date(2026, 3, 5))]
    assert ConnectorDay.objects.get(station=network["cp_a"], connector_id=1, day=date(2026, 3, 3)).failures == 2
    assert rollups_refresh(now=at(5, 13)) == [(date(2026, 3, 4), date(2026, 3, 5))]

    # The running session of Tuesday ends on Thursday: Tuesday and Wednesday are recomputed too.
    tx = Transaction.objects.get(stopped_at__isnull=True)
    tx.stopped_at, tx.meter_stop, tx.energy_wh, tx.status = at(5, 6), tx.meter_start + 9000, 9000, "completed"
    tx.save()
    assert rollups_refresh(now=at(5, 14)) == [(date(2026, 3, 3), date(2026, 3, 5))]
    tuesday = ConnectorDay.objects.get(station=network["cp_a"], connector_id=1, day=date(2026, 3, 3))
    assert (tuesday.completed_sessions, tuesday.session_energy_wh) == (1, 9000)


def test_a_late_status_event_recomputes_the_days_it_changes(network):
    from analytics.models import ConnectorDay
    from analytics.services import rollups_refresh
    from stations.models import ConnectorStatusEvent

    rollups_refresh(now=at(9, 12))
    stored_an_hour_ago()
    # Replayed from a station's offline queue: CP-A/2 was Faulted on Monday 2 from 13:00 until 14:00.
    for hour, status in [(13, "Faulted"), (14, "Available")]:
        ConnectorStatusEvent.objects.create(
            station=network["cp_a"],
            connector_id=2,
            status=status,
            error_code="OtherError" if status == "Faulted" else "NoError",
            timestamp=at(2, hour),
        )
    assert (date(2026, 3, 2), date(2026, 3, 2)) in rollups_refresh(now=at(9, 12, 10))
    assert ConnectorDay.objects.get(station=network["cp_a"], connector_id=2, day=date(2026, 3, 2)).faulted_s == 3600


def test_a_refresh_already_running_makes_a_second_one_leave(network):
    from analytics.services import REFRESH_LOCK, rollups_refresh

    db = connection.settings_dict
    other = psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=db["NAME"],
        autocommit=True,
    )
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [REFRESH_LOCK])
        assert rollups_refresh(now=NOW) is None
        other.execute("SELECT pg_advisory_unlock(%s)", [REFRESH_LOCK])
    finally:
        other.close()
    assert rollups_refresh(now=NOW) is not None


def test_the_monthly_report_is_mailed_once_with_the_tables_attached(network, staff_user, mailoutbox):
    from analytics.models import MonthlyReport
    from analytics.services import report_monthly_send

    staff_user(Role.ANALYST, email="analyst@example.com")
    staff_user(Role.TECHNICIAN, email="tech@example.com")
    report = report_monthly_send(now=datetime(2026, 4, 1, 7, tzinfo=UTC))
    assert report.month == date(2026, 3, 1)
    assert report_monthly_send(now=datetime(2026, 4, 1, 8, tzinfo=UTC)) is None
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.subject == "Voltgrid report for March 2026"
    assert mail.to == ["analyst@example.com"]
    assert "  Sessions: 5" in mail.body
    assert "  Energy delivered: 37.000 kWh" in mail.body
    names = [name for name, _, _ in mail.attachments]
    assert "usage-sessions-2026-03.csv" in names and "reliability-stations-2026-03.csv" in names
    usage_csv = dict((name, body) for name, body, _ in mail.attachments)["usage-sessions-2026-03.csv"]
    assert "2026-03-02,3,28.000,10.667,1.50,3" in usage_csv
    assert MonthlyReport.objects.count() == 1


def test_a_failed_send_leaves_the_month_to_the_next_run(network, staff_user, settings, mailoutbox):
    from analytics.models import MonthlyReport
    from analytics.services import report_monthly_send

    staff_user(Role.ANALYST)
    settings.EMAIL_BACKEND = "tests.analytics.failing_mail.Backend"
    with pytest.raises(ConnectionRefusedError):
        report_monthly_send(now=datetime(2026, 4, 1, 7, tzinfo=UTC))
    assert not MonthlyReport.objects.exists()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert report_monthly_send(now=datetime(2026, 4, 1, 8, tzinfo=UTC)) is not None


def test_without_recipients_nothing_is_sent(network, mailoutbox):
    from analytics.services import report_monthly_send

    assert report_monthly_send(now=datetime(2026, 4, 1, 7, tzinfo=UTC)) is None
    assert mailoutbox == []


def test_beat_runs_the_analytics_jobs_and_they_are_registered(settings):
    from cms.celery import app

    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for name in ["track_station_connectivity", "refresh_rollups", "send_monthly_report"]:
        assert f"analytics.tasks.{name}" in scheduled
        assert f"analytics.tasks.{name}" in app.tasks


def test_the_tasks_call_the_services(network, station):
    from analytics import tasks
    from analytics.models import RollupState

    set_state(station, is_online=False, last_seen_at=timezone.now() - timedelta(minutes=5))
    tasks.track_station_connectivity()
    assert station.offline_periods.filter(ended_at__isnull=True).exists()
    tasks.refresh_rollups()
    assert RollupState.objects.get(name="rollups").refreshed_at is not None

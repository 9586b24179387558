"""Celery jobs of the analytics app, run by beat (CELERY_BEAT_SCHEDULE): thin callers of analytics.services."""

from celery import shared_task
from django.db import connection

from analytics import services


def _postgresql() -> bool:
    # The rollups are PostgreSQL SQL; the embedded SQLite mode has no dashboards to feed.
    return connection.vendor == "postgresql"


@shared_task(ignore_result=True)
def track_station_connectivity() -> None:
    if _postgresql():
        services.station_connectivity_track()


@shared_task(ignore_result=True)
def refresh_rollups() -> None:
    if _postgresql():
        services.rollups_refresh()


@shared_task(ignore_result=True)
def send_monthly_report() -> None:
    if _postgresql():
        services.report_monthly_send()

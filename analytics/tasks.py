"""Celery jobs of the analytics app, run by beat (CELERY_BEAT_SCHEDULE): thin callers of analytics.services."""

from celery import shared_task

from analytics import services


@shared_task(ignore_result=True)
def track_station_connectivity() -> None:
    services.station_connectivity_track()


@shared_task(ignore_result=True)
def refresh_rollups() -> None:
    services.rollups_refresh()


@shared_task(ignore_result=True)
def send_monthly_report() -> None:
    services.report_monthly_send()

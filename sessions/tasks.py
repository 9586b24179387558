"""Celery tasks of the sessions app (periodic ones scheduled in CELERY_BEAT_SCHEDULE): thin callers of services."""

from celery import shared_task

from sessions.reservations import reservations_expire


@shared_task(name="sessions.expire_reservations", ignore_result=True)
def expire_reservations() -> int:
    """End expired the reservations whose time has passed without a session."""
    return reservations_expire()

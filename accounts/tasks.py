"""Celery tasks of the accounts app: the stations' local authorization lists (scheduled in CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from accounts import local_list
from stations.models import Station


@shared_task(name="accounts.sync_local_lists")
def sync_local_lists() -> int:
    """Queue a sync for every online station whose list is behind (after a token change, and on each beat)."""
    due = local_list.local_lists_due()
    for station_pk in due:
        sync_station_local_list.delay(station_pk)
    return len(due)


@shared_task(name="accounts.sync_station_local_list")
def sync_station_local_list(station_pk: int, force_full: bool = False) -> str:
    station = Station.objects.filter(pk=station_pk).first()
    if station is None:
        return "gone"
    return local_list.station_local_list_sync(station=station, force_full=force_full).outcome

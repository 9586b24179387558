"""Celery tasks of the stations app (periodic ones scheduled in CELERY_BEAT_SCHEDULE): thin callers of services."""

from datetime import timedelta

from celery import shared_task

from stations import local_list, nodes, services
from stations.app_settings import app_settings
from stations.models import Station


@shared_task(name="stations.purge_ocpp_messages")
def purge_ocpp_messages(batch_size: int = 10_000) -> int:
    """Delete the OCPP message log older than CMS_OCPP_MESSAGE_RETENTION_DAYS (0 keeps it all)."""
    days = app_settings.MESSAGE_RETENTION_DAYS
    if days <= 0:
        return 0
    return services.ocpp_messages_purge(older_than=timedelta(days=days), batch_size=batch_size)


@shared_task(name="stations.sweep_dead_nodes", ignore_result=True)
def sweep_dead_nodes() -> int:
    """Record offline the stations of daphne nodes whose lease expired (killed without a goodbye)."""
    return nodes.nodes_sweep()


# The local-list tasks kept their names from the accounts app: queued tasks and the beat schedule use them.


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

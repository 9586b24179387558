"""Celery tasks of the stations app (periodic ones scheduled in CELERY_BEAT_SCHEDULE): thin callers of services."""

from datetime import timedelta

from celery import shared_task

from stations import nodes, services
from stations.app_settings import app_settings


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

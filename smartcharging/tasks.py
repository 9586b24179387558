"""Celery tasks of load management: thin callers of ``smartcharging.load``."""

from celery import shared_task

from smartcharging import load


@shared_task(name="smartcharging.site_rebalance")
def site_rebalance(site_id: int) -> int | None:
    result = load.site_rebalance(site_id=site_id)
    return None if result is None else result.sent


@shared_task(name="smartcharging.watch_sites")
def watch_sites() -> int:
    return len(load.sites_watch())

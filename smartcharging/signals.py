"""Sessions starting and stopping at a managed site share its current again (after the commit, off the OCPP hot
path: the receivers only queue ``smartcharging.load.site_rebalance_soon``)."""

from smartcharging import load

# A session's save that may change who charges where (any save without update_fields may too).
SHARE_FIELDS = frozenset({"status", "connector_id", "stopped_at"})


def session_saved(sender, instance, created, update_fields=None, **kwargs) -> None:
    if not created and update_fields is not None and not SHARE_FIELDS.intersection(update_fields):
        return
    _soon(instance.station_id)


def session_stopped(sender, transaction, **kwargs) -> None:
    _soon(transaction.station_id)


def _soon(station_id: int) -> None:
    site_id = load.managed_site_of(station_id=station_id)
    if site_id is not None:
        load.site_rebalance_soon(site_id=site_id)

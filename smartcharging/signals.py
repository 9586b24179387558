"""Sessions starting and stopping at a managed site share its current again (after the commit, off the OCPP hot
path: the receiver only queues ``smartcharging.load.site_rebalance_soon``). Every stop saves the session's status
before ``sessions.signals.session_stopped`` is sent, so the save alone is listened to: the site is looked up once."""

from smartcharging import load

# A session's save that may change who charges where (any save without update_fields may too).
SHARE_FIELDS = frozenset({"status", "connector_id", "stopped_at"})


def session_saved(sender, instance, created, update_fields=None, **kwargs) -> None:
    if not created and update_fields is not None and not SHARE_FIELDS.intersection(update_fields):
        return
    load.station_site_rebalance_soon(station_id=instance.station_id)

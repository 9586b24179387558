"""Heartbeats, answered at once; the hot path's writer records them in its next transaction.

A Heartbeat carries nothing to store but the fact that it came, and its answer (the CSMS's time) depends on no
write. Waiting for the commit made it wait a whole transaction of the other stations' readings: in a closed loop
of 100 stations, half of every station's time. Its record (``last_heartbeat_at``) is written a few milliseconds
later; if that write fails (PostgreSQL away), the writer logs it and the station's next heartbeat records it.

A station whose heartbeat is still waiting for the writer is not queued again: a writer held up for minutes
would otherwise gather one item per heartbeat.
"""

from datetime import datetime

from django.utils import timezone

from stations import services
from stations.models import Station
from stations.protocol.group_commit import group_commit

# Stations (pks) whose heartbeat is queued for the writer and not yet taken by it.
_queued: set[int] = set()


def heartbeat_received(station: Station) -> datetime:
    """Queue the station's heartbeat for the writer; the time to answer with."""
    if station.pk not in _queued:
        _queued.add(station.pk)
        group_commit().enqueue(_record_heartbeats, station)
    return timezone.now()


def _record_heartbeats(stations: list[Station]) -> list[None]:
    # Taken off the queue before the write: a heartbeat arriving during it is queued again, not lost in it.
    _queued.difference_update(station.pk for station in stations)
    services.station_heartbeats_record(stations=stations)
    return [None] * len(stations)

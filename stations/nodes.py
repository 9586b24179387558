"""Liveness leases of the daphne nodes serving OCPP, and the sweep that ends the connections of dead ones.

A node (one daphne process) renews its lease every CMS_OCPP_NODE_RENEW_SECONDS while it holds
stations; each station records the node holding its socket. A node killed outright says no goodbye,
so its stations would stay online for ever: whoever sees its lease older than CMS_OCPP_NODE_LEASE_SECONDS
(another node, the Celery beat sweep, a command to one of its stations, its successor on the same host
and pid at start-up) records them offline with the ordinary offline service, and deletes the lease.

A station kept alive by WebSocket pings alone sends no OCPP frame, but daphne closes a socket whose
pong is late (``--ping-interval`` 20 s + ``--ping-timeout`` 30 s), so a station a live node still holds
was heard within a minute: the renewal moves its ``last_seen_at`` on, once a minute, not per ping.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from stations.app_settings import app_settings
from stations.models import Node, Station
from stations.services import stations_disconnected_at_node

logger = logging.getLogger(__name__)

# A station held by a live node answered daphne's pings within this long (20 s interval + 30 s timeout).
SOCKET_HEARD_WITHIN = timedelta(seconds=60)


def node_lease_acquire(*, name: str, channel_prefix: str, host: str, pid: int) -> Node:
    """The lease of a node starting to serve stations; a predecessor on the same host and pid is dead."""
    now = timezone.now()
    node, _ = Node.objects.update_or_create(
        name=name,
        defaults={"channel_prefix": channel_prefix, "host": host, "pid": pid, "started_at": now, "renewed_at": now},
    )
    logger.info("node lease acquired", extra={"node": name})
    nodes_sweep(predecessors_of=node)
    return node


def node_lease_renew(*, node: Node) -> bool:
    """Renew ``node``'s lease; False when it was swept meanwhile (its stations were recorded offline)."""
    now = timezone.now()
    if not Node.objects.filter(pk=node.pk).update(renewed_at=now):
        return False
    Station.objects.filter(node=node, is_online=True, last_seen_at__lt=now - SOCKET_HEARD_WITHIN).update(
        last_seen_at=now
    )
    return True


def node_lease_release(*, node: Node) -> None:
    """The node holds no station any more: end its lease (and any station it failed to record offline)."""
    _nodes_end(Node.objects.filter(pk=node.pk), why="node lease released")


def nodes_sweep(*, predecessors_of: Node | None = None) -> int:
    """Record offline the stations of every node whose lease has expired, and end those leases.

    ``predecessors_of``: also the leases of earlier processes on the same host with the same pid (a
    restarted container's daphne), which are dead whatever their age. The number of stations.
    """
    expired = Q(renewed_at__lt=timezone.now() - timedelta(seconds=app_settings.NODE_LEASE_SECONDS))
    if predecessors_of is not None:
        expired |= Q(host=predecessors_of.host, pid=predecessors_of.pid) & ~Q(pk=predecessors_of.pk)
    return _nodes_end(Node.objects.filter(expired), why="node lease expired")


def _nodes_end(nodes, *, why: str) -> int:
    offline = 0
    with transaction.atomic():
        # Several sweepers at once (nodes, beat): each dead node is ended by one of them.
        for node in nodes.select_for_update(skip_locked=True):
            ended = stations_disconnected_at_node(node=node)
            node.delete()
            offline += ended
            log = logger.warning if ended else logger.info
            log(why, extra={"node": node.name, "renewed_at": node.renewed_at.isoformat(), "stations_offline": ended})
    return offline


def node_lease_expired(*, node_id: int) -> bool:
    """Whether the node of this id is dead: its lease is older than the lease time, or already swept."""
    renewed_at = Node.objects.filter(pk=node_id).values_list("renewed_at", flat=True).first()
    return renewed_at is None or timezone.now() - renewed_at > timedelta(seconds=app_settings.NODE_LEASE_SECONDS)

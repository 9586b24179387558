"""What a daphne node does in the background for the stations it holds: its lease, and their group memberships.

The lease (``stations.nodes``) is held from the first OCPP connection of the process to the end of its
last one, renewed from the event loop through the database pool, never blocking the loop. Each
renewal also sweeps the expired leases of other nodes, so dead nodes' stations go offline even
without Celery beat. If this node was itself taken for dead (its renewals could not reach the
database for a lease time), its live connections are recorded online again.

Channel-layer groups: a connection accepted while Redis was away, or one whose membership Redis may
have lost in an outage, joins its station's group again once Redis answers.
"""

import asyncio
import logging
import os
import socket
import uuid

from channels.layers import get_channel_layer

from stations import nodes
from stations.app_settings import app_settings
from stations.models import Node
from stations.protocol.channel_layer import layer_health
from stations.protocol.db import in_db_pool

logger = logging.getLogger(__name__)

# How often the node looks for connections to join to their groups again (in memory; cheap).
REJOIN_CHECK_SECONDS = 0.5


class NodeRuntime:
    def __init__(self):
        self.host, self.pid = socket.gethostname()[:200], os.getpid()
        self.name = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:8]}"
        self.node: Node | None = None
        self.connections: dict = {}  # channel name -> OcppConsumer
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._tasks: list[asyncio.Task] = []
        # The outage count up to which every connection held has joined its group (None: some may not have).
        self._joined_through: int | None = None

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # First use, or a new event loop (tests): what ran on the old one will never run again.
            self._loop, self._lock, self.node, self.connections, self._tasks = loop, asyncio.Lock(), None, {}, []

    async def hold(self, consumer) -> Node:
        """Register an accepted connection; the node's lease (acquired by the first one)."""
        self._bind()
        async with self._lock:
            if self.node is None:
                self.node = await in_db_pool(self._acquire)()
                self._tasks = [asyncio.create_task(self._renew_forever()), asyncio.create_task(self._rejoin_forever())]
            self.connections[consumer.channel_name] = consumer
            if consumer.layer_generation != layer_health.outages:
                self._joined_through = None  # accepted while Redis was away: the next check looks for it
            return self.node

    async def release(self, consumer) -> None:
        """A connection ended; the last one ends the lease."""
        self._bind()
        async with self._lock:
            self.connections.pop(consumer.channel_name, None)
            if self.connections or self.node is None:
                return
            node, self.node = self.node, None
            for task in self._tasks:
                task.cancel()
            try:
                await in_db_pool(nodes.node_lease_release)(node=node)
            except Exception:
                logger.exception("node lease not released (it will expire)", extra={"node": node.name})

    def _acquire(self) -> Node:
        prefix = getattr(get_channel_layer(), "client_prefix", "")
        return nodes.node_lease_acquire(name=self.name, channel_prefix=prefix, host=self.host, pid=self.pid)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(app_settings.NODE_RENEW_SECONDS)
            try:
                await self._renew()
            except Exception:
                logger.exception("node lease not renewed", extra={"node": self.name})

    async def _renew(self) -> None:
        if not await in_db_pool(nodes.node_lease_renew)(node=self.node):
            logger.error(
                "node taken for dead (lease swept): recording its connections online again",
                extra={"node": self.name, "connections": len(self.connections)},
            )
            async with self._lock:
                self.node = await in_db_pool(self._acquire)()
                await asyncio.gather(*(consumer.record_online() for consumer in list(self.connections.values())))
        await in_db_pool(nodes.nodes_sweep)()

    async def _rejoin_forever(self) -> None:
        """Walks the connections only after an outage (or a connection accepted during one): with 10,000 held,
        a walk every REJOIN_CHECK_SECONDS for nothing was a stall of the loop twice a second."""
        while True:
            await asyncio.sleep(REJOIN_CHECK_SECONDS)
            generation = layer_health.outages
            if generation == self._joined_through or not layer_health.worth_trying():
                continue
            self._joined_through = generation
            for consumer in [c for c in self.connections.values() if c.layer_generation != generation]:
                if not await consumer.join_station_group():
                    self._joined_through = None
                    break


_node_runtime = NodeRuntime()


def node_runtime() -> NodeRuntime:
    return _node_runtime

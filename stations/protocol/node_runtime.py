"""What a daphne node does in the background for the stations it holds: its lease, and their group memberships.

The lease (``stations.nodes``) is held from the first OCPP connection of the process to the end of its
last one, renewed from the event loop through a thread of its own, never blocking the loop nor waiting behind
station work. Each renewal also sweeps the expired leases of other nodes, so dead nodes' stations go offline
even without Celery beat. If this node was itself taken for dead (its renewals could not reach the
database for a lease time), its live connections are recorded online again.

A station's new connection tells the one it takes over to close (``tell``): directly when this node holds
it, through the channel layer otherwise; a notice that could not travel while Redis was away is sent once
Redis answers again. A notice the layer refuses as full is dropped: the process it is for is not reading its
channel (killed, its lease not yet expired: after a crash its stations all reconnect at once, and all but the
layer's capacity of their notices to the dead process were refused), and its connection is gone or soon will be.
Then the notices to that process are dropped here for ``FULL_PROCESS_SECONDS``, without a Redis round trip and a
warning each (10,000 of them in such a storm): one warning says so.
"""

import asyncio
import logging
import os
import socket
import time
import uuid

from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer

from stations import nodes
from stations.app_settings import app_settings
from stations.models import Node
from stations.protocol.channel_layer import LAYER_ERRORS, layer_health
from stations.protocol.db import in_lease_thread

logger = logging.getLogger(__name__)

# How often the node looks for notices to send again after a Redis outage (in memory; cheap).
RESEND_CHECK_SECONDS = 0.5
# How long notices to a process whose channel was found full are dropped without trying (its lease's length: by
# then a dead process is swept and nothing is sent to it).
FULL_PROCESS_SECONDS = 30.0


class NodeRuntime:
    def __init__(self):
        self.host, self.pid = socket.gethostname()[:200], os.getpid()
        self.name = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:8]}"
        self.node: Node | None = None
        self.connections: dict = {}  # channel name -> OcppConsumer
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._tasks: list[asyncio.Task] = []
        self._unsent: list[tuple[str, dict]] = []  # (channel, notice) that Redis could not carry
        self._full_until: dict[str, float] = {}  # a process's channel prefix -> until when its notices are dropped

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # First use, or a new event loop (tests): what ran on the old one will never run again.
            self._loop, self._lock, self.node, self.connections, self._tasks = loop, asyncio.Lock(), None, {}, []
            self._unsent, self._full_until = [], {}

    async def hold(self, consumer) -> Node:
        """Register an accepted connection; the node's lease (acquired by the first one)."""
        self._bind()
        async with self._lock:
            if self.node is None:
                self.node = await in_lease_thread(self._acquire)()
                self._tasks = [asyncio.create_task(self._renew_forever()), asyncio.create_task(self._resend_forever())]
            self.connections[consumer.channel_name] = consumer
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
                await in_lease_thread(nodes.node_lease_release)(node=node)
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
        if not await in_lease_thread(nodes.node_lease_renew)(node=self.node):
            logger.error(
                "node taken for dead (lease swept): recording its connections online again",
                extra={"node": self.name, "connections": len(self.connections)},
            )
            async with self._lock:
                self.node = await in_lease_thread(self._acquire)()
                await asyncio.gather(*(consumer.record_online() for consumer in list(self.connections.values())))
        await in_lease_thread(nodes.nodes_sweep)()

    async def tell(self, channel_name: str, event: dict) -> None:
        """Deliver ``event`` to the consumer of ``channel_name``: at once when this node holds it, else through the
        channel layer (later, should Redis be away)."""
        self._bind()
        consumer = self.connections.get(channel_name)
        if consumer is not None:
            await consumer.dispatch(event)
        elif not await self._send(channel_name, event):
            self._unsent.append((channel_name, event))

    async def _send(self, channel_name: str, event: dict) -> bool:
        process = channel_name.partition("!")[0]  # channels_redis: one queue per process
        if self._full_until.get(process, 0.0) > time.monotonic():
            return True  # dropped: see the module's docstring
        if not layer_health.worth_trying():
            return False
        try:
            await get_channel_layer().send(channel_name, event)
        except ChannelFull:
            self._full_until[process] = time.monotonic() + FULL_PROCESS_SECONDS
            logger.warning(
                "notices dropped: the channel of the process they are for is full",
                extra={"channel": channel_name, "for_seconds": FULL_PROCESS_SECONDS, **event},
            )
        except LAYER_ERRORS as error:
            layer_health.failed(error)
            return False
        layer_health.succeeded()
        return True

    async def _resend_forever(self) -> None:
        while True:
            await asyncio.sleep(RESEND_CHECK_SECONDS)
            while self._unsent and await self._send(*self._unsent[0]):
                self._unsent.pop(0)


_node_runtime = NodeRuntime()


def node_runtime() -> NodeRuntime:
    return _node_runtime

"""The node's lease is renewed in a thread of its own: a backlog of station work in the database pool (thousands
of sessions started at once) must not hold it back past the lease's length, or the node is taken for dead."""

import asyncio
import threading

import pytest

from stations.models import Node
from stations.protocol.db import POOL_SIZE, in_db_pool, pool_close_connections
from stations.protocol.node_runtime import NodeRuntime

pytestmark = pytest.mark.django_db(transaction=True)


async def test_the_lease_is_renewed_while_every_pool_thread_is_busy():
    runtime = NodeRuntime()
    runtime._bind()
    runtime.node = await in_db_pool(runtime._acquire)()
    acquired_at = runtime.node.renewed_at
    release = threading.Event()
    backlog = [asyncio.ensure_future(in_db_pool(release.wait)(10)) for _ in range(POOL_SIZE * 2)]
    try:
        await asyncio.wait_for(runtime._renew(), timeout=5)
        assert (await Node.objects.aget(pk=runtime.node.pk)).renewed_at > acquired_at
    finally:
        release.set()
        await asyncio.gather(*backlog)
        pool_close_connections()

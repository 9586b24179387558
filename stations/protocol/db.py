"""Where the OCPP layer runs database work off the event loop.

The hot path (Heartbeat, MeterValues, StatusNotification, connection state) goes through the group
commit (``group_commit``). The rest (handshakes, boot, authorisation, transactions: a few queries
each, and rarer) runs in a small pool of its own rather than Django's one thread for async code, which
also serves the portal's views one call at a time; each pool thread keeps its own database connection.

Channels' ``database_sync_to_async`` closes old connections before and after every call, which with
``CONN_HEALTH_CHECKS`` costs a ``SELECT 1`` per call; here a thread does that every few seconds, and
after a call that failed (which is when a broken connection has to go).
"""

import functools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import SyncToAsync
from django.db import close_old_connections, connections

from stations.protocol.batching import Batches, Job

POOL_SIZE = 4
CONNECTION_CHECK_INTERVAL = 10.0

_pool = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="ocpp-db")
# The node's liveness lease has a thread (and a connection) of its own: queued in the pool behind a backlog of
# station work (3,333 sessions started at once at 10,000 stations) its renewal waited past the lease's length,
# and the node was taken for dead while it served.
_lease_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocpp-node-lease")
# The frame log (``stations.protocol.framing.log``) too: nobody waits for it, and in the hot path's writer its COPY of
# a few hundred rows made every fifth transaction 7 ms longer, for the 50 stations whose answers waited on that one.
_frame_log_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocpp-frame-log")
_checked = threading.local()


def in_db_pool(function):
    """``function`` as a coroutine function run in the pool."""
    return SyncToAsync(_with_connection_care(function), thread_sensitive=False, executor=_pool)


class PoolBatches(Batches):
    """Batches (``stations.protocol.batching``) run in the pool, with its connection care."""

    def __init__(self, *, max_batch: int, linger: float = 0.0):
        super().__init__(executor=_pool, max_batch=max_batch, linger=linger)

    def run_batch(self, jobs: list[Job]) -> list:
        return _with_connection_care(super().run_batch)(jobs)


def in_lease_thread(function):
    """``function`` as a coroutine function run in the node lease's own thread."""
    return SyncToAsync(_with_connection_care(function), thread_sensitive=False, executor=_lease_thread)


def in_frame_log_thread(function):
    """``function`` as a coroutine function run in the frame log's own thread."""
    return SyncToAsync(_with_connection_care(function), thread_sensitive=False, executor=_frame_log_thread)


def _with_connection_care(function):
    @functools.wraps(function)
    def call(*args, **kwargs):
        now = time.monotonic()
        if now - getattr(_checked, "at", 0.0) > CONNECTION_CHECK_INTERVAL:
            _checked.at = now
            close_old_connections()  # honours CONN_MAX_AGE
        try:
            return function(*args, **kwargs)
        except Exception:
            close_old_connections()
            raise

    return call


def pool_close_connections() -> None:
    """Close the database connection of every pool thread, the lease's and the frame log's (tests do, before their
    database is dropped)."""
    barrier = threading.Barrier(POOL_SIZE)

    def close() -> None:
        barrier.wait(5)  # holds each thread until all have a task: one task per thread
        connections.close_all()

    for done in [_pool.submit(close) for _ in range(POOL_SIZE)]:
        done.result()
    _lease_thread.submit(connections.close_all).result()
    _frame_log_thread.submit(connections.close_all).result()

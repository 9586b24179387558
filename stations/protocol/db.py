"""Where the OCPP layer runs database work off the event loop.

The hot path (Heartbeat, MeterValues, StatusNotification, connection state) goes through the group
commit (``group_commit``). The rest (handshakes, boot, authorisation, transactions: a few queries
each, and rarer) runs in a small pool of its own rather than Django's one thread for async code, which
also serves the portal's views one call at a time; each pool thread keeps its own database connection.

Channels' ``database_sync_to_async`` closes old connections before and after every call, which with
``CONN_HEALTH_CHECKS`` costs a ``SELECT 1`` per call; here a thread does that every few seconds, and
after a call that failed (which is when a broken connection has to go).
"""

import asyncio
import functools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import SyncToAsync
from django.db import close_old_connections, connections

POOL_SIZE = 4
CONNECTION_CHECK_INTERVAL = 10.0

_pool = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="ocpp-db")
_checked = threading.local()


def in_db_pool(function):
    """``function`` as a coroutine function run in the pool."""
    return SyncToAsync(_with_connection_care(function), thread_sensitive=False, executor=_pool)


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
    """Close the database connection of every pool thread (tests do, before their database is dropped)."""
    barrier = threading.Barrier(POOL_SIZE)

    def close() -> None:
        barrier.wait(5)  # holds each thread until all have a task: one task per thread
        connections.close_all()

    for done in [_pool.submit(close) for _ in range(POOL_SIZE)]:
        done.result()


class PoolBatch:
    """Calls of ``fn(items) -> results`` (one result per item, in order) gathered from many coroutines and run as
    few calls in the pool: up to one per pool thread at once, each taking everything submitted meanwhile.

    Each call in the pool costs the event loop a thread hop, and its thread a wait for the GIL at every round trip
    it makes: with the loop busy (a reconnect storm of thousands of handshakes) a login alone waited several
    switch intervals per query. A batch of them waits as long as one.
    """

    def __init__(self, fn, *, concurrency: int = POOL_SIZE):
        self._call = in_db_pool(fn)
        self._concurrency = concurrency
        self._loop = None
        self._waiting: list[tuple[object, asyncio.Future]] = []
        self._running: set[asyncio.Task] = set()

    async def submit(self, item):
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # First use, or a new event loop (tests): the old one's tasks and callers will never run again.
            self._loop, self._running, self._waiting = loop, set(), []
        future = loop.create_future()
        self._waiting.append((item, future))
        if len(self._running) < self._concurrency:
            task = loop.create_task(self._run(loop))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        return await future

    async def _run(self, loop) -> None:
        while self._waiting and loop is self._loop:
            batch, self._waiting = self._waiting, []
            try:
                outcomes = await self._call([item for item, _ in batch])
            except Exception as error:
                outcomes = [error] * len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
        # In the same step as the last look at what waits: a submit from now on starts a task of its own.
        self._running.discard(asyncio.current_task())

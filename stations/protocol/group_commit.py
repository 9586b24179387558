"""Group commit: the hot-path writes of many stations in one transaction, each answered after the commit.

A station may not be answered before what it sent is durable, and a transaction per message costs a
commit (an fsync) and a trip through the async ORM's one thread each: a few hundred messages a second
per process. Instead each daphne process has one writer thread with its own database connection. A
handler submits an item with the batch service that stores it (``fn(items) -> results``, one result
per item, in order) and waits. The writer takes everything submitted while its previous transaction
was being written, calls each service once with all of its items, commits, and only then wakes each
waiting handler with its own result. A write whose answer depends on nothing stored (a Heartbeat's) is
enqueued instead, and nobody waits for it (``stations.protocol.heartbeats``). Idle, a message is written at
once; under load a transaction carries the messages of hundreds of stations and nobody waits more than about
two of them.

If the transaction fails, each item is written again alone, in a transaction of its own: an item the
database refuses fails only its own call (its handler raises, the station gets InternalError), and
the other items are stored. Callbacks registered with ``transaction.on_commit`` (live events) run in
the writer thread once the data is committed.

The writer takes its next batch itself, as soon as it has committed one; only the answers go through the
event loop. Asking the loop for each batch (``stations.protocol.batching``'s way) left the writer idle for
the loop's turn: 1.4 to 2.5 ms of every 14 to 15 ms batch with 100 busy stations, whose loop is never idle.
"""

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections, connection, connections, transaction

from stations.protocol.batching import Job, results_by_function, settle

logger = logging.getLogger(__name__)

# Items per transaction: large enough to carry a storm, small enough to keep one commit short.
MAX_BATCH = 500
# A write waiting this long for a lock gives up (and is retried alone) before PostgreSQL's deadlock
# detection (deadlock_timeout, 1 s) would pick a victim, which could be a migration or a TRUNCATE.
LOCK_TIMEOUT = "500ms"
# How often the writer lets Django retire its connection (CONN_MAX_AGE) or replace a broken one.
CONNECTION_CHECK_INTERVAL = 10.0


class GroupCommit:
    def __init__(self, *, max_batch: int = MAX_BATCH):
        self.max_batch = max_batch
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocpp-group-commit")
        self._connection_checked = time.monotonic()
        self._prepared = None  # the database connection whose session settings are made
        # Shared with the writer thread without a lock: a deque's append and popleft are thread-safe, and a lock
        # held by the writer when the interpreter switched threads stalled the event loop (2.5 % of its time).
        self._waiting = deque()
        self._writing = False  # a drain runs or is queued in the writer thread

    async def submit(self, fn, item):
        """``fn``'s result for ``item``, once the transaction that stored it has committed (or its error).

        A caller cancelled meanwhile (its station disconnected) does not withdraw the item: it is stored all the same.
        """
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((fn, item, future))
        self._start_writing()
        return await future

    def enqueue(self, fn, item) -> None:
        """``item`` stored by ``fn`` in the next transaction, with nobody waiting for it (a failure is logged)."""
        self._waiting.append((fn, item, None))
        self._start_writing()

    def _start_writing(self) -> None:
        if not self._writing:
            self._writing = True
            self._executor.submit(self._write_while_waiting)

    def _write_while_waiting(self) -> None:
        """In the writer thread: batch after batch until nothing waits."""
        while True:
            batch = [self._waiting.popleft() for _ in range(min(self.max_batch, len(self._waiting)))]
            if not batch:
                self._writing = False
                if not self._waiting:
                    return
                # Appended while the flag was still up, so its caller started no drain: this one goes on. (A caller
                # who saw the flag down queued another drain behind this one, which will find little or nothing.)
                self._writing = True
                continue
            try:
                outcomes = self.run_batch([job[:2] for job in batch])
            except Exception as error:  # the batch itself failed: no item has its result
                outcomes = [error] * len(batch)
            answers: dict[asyncio.AbstractEventLoop, list] = {}
            unstored = 0
            for (_, _, future), outcome in zip(batch, outcomes, strict=True):
                if future is not None:
                    answers.setdefault(future.get_loop(), []).append((future, outcome))
                elif isinstance(outcome, BaseException):
                    unstored += 1
            if unstored:
                logger.error("writes nobody waited for were not stored", extra={"items": unstored})
            for loop, settled in answers.items():
                try:
                    loop.call_soon_threadsafe(settle, settled)
                except RuntimeError:
                    continue  # its event loop is closed (a test's that ended): nobody waits for these

    def run_batch(self, jobs: list[Job]) -> list:
        """In the writer thread: all the jobs in one transaction, or each alone if that fails."""
        self._prepare_connection()
        try:
            with transaction.atomic():
                return results_by_function(jobs, lambda fn, items: fn(items))
        except Exception as error:
            logger.warning(
                "group commit failed; writing its items one by one",
                extra={"items": len(jobs), "error": f"{type(error).__name__}: {error}"},
            )
        close_old_connections()
        outcomes: list = [None] * len(jobs)
        failures = 0
        for index, (fn, item) in enumerate(jobs):
            try:
                self._prepare_connection()
                with transaction.atomic():
                    outcomes[index] = fn([item])[0]
            except Exception as error:
                failures += 1
                if failures == 1:
                    logger.exception("OCPP message not stored", extra={"service": getattr(fn, "__name__", str(fn))})
                outcomes[index] = error
                close_old_connections()
        if failures > 1:
            logger.error("OCPP messages not stored", extra={"items": failures})
        return outcomes

    def _prepare_connection(self) -> None:
        now = time.monotonic()
        if now - self._connection_checked > CONNECTION_CHECK_INTERVAL:
            self._connection_checked = now
            close_old_connections()
        connection.ensure_connection()
        if connection.connection is not self._prepared:
            with connection.cursor() as cursor:
                cursor.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            self._prepared = connection.connection

    def shutdown(self) -> None:
        """Close the writer thread and its database connection (for tests)."""
        self._executor.submit(connections.close_all).result()
        self._executor.shutdown()


_group_commit: GroupCommit | None = None


def group_commit() -> GroupCommit:
    """The process's writer, created on first use."""
    global _group_commit
    if _group_commit is None:
        _group_commit = GroupCommit()
    return _group_commit

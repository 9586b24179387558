"""The station message log: every OCPP frame goes to ``stations.OcppMessage`` in batches, off the event loop.

Writing one row per frame would put a database round trip on the path of every message. Instead each
daphne process keeps one buffer: a frame is appended in microseconds, and the buffer is written in one
statement (``stations.services.ocpp_messages_store``) every ``CMS_OCPP_FRAME_LOG_FLUSH_MS``
milliseconds, or as soon as ``CMS_OCPP_FRAME_LOG_BATCH`` frames wait, by a thread and database connection
of its own (``stations.protocol.db.in_frame_log_thread``), not by the hot path's writer whose transactions
stations wait for. The log is a record of the wire, not the domain data: handlers store that themselves
before they answer. If the database is unavailable the rows wait (up to ``MAX_WAITING``) and are retried.
"""

import asyncio
import atexit
import logging
from datetime import datetime
from typing import Any, NamedTuple

from stations.app_settings import app_settings
from stations.protocol.db import in_frame_log_thread

logger = logging.getLogger(__name__)

MAX_WAITING = 100_000
RETRY_DELAY = 1.0


class FrameRecord(NamedTuple):
    station_id: int
    direction: str
    message_type: int | None
    action: str
    unique_id: str
    payload: Any
    raw: str
    error_code: str
    latency_ms: float | None
    created_at: datetime


class FrameLog:
    def __init__(self, *, flush_interval: float, batch_size: int):
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self._waiting: list[FrameRecord] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._writing: asyncio.Task | None = None

    def record(self, record: FrameRecord) -> None:
        """Called on the event loop for every frame; returns at once."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # First use, or a new event loop (tests): timers and tasks of the old one will never run.
            self._loop, self._timer, self._writing = loop, None, None
        self._waiting.append(record)
        if len(self._waiting) > MAX_WAITING:
            # Drop a tenth at once, so that a long outage costs one list shift per many frames.
            dropped = len(self._waiting) - MAX_WAITING + MAX_WAITING // 10
            del self._waiting[:dropped]
            logger.error("OCPP message log is not being written: oldest frames dropped", extra={"frames": dropped})
        if self._writing is not None:
            return  # the running write schedules the next one
        if len(self._waiting) >= self.batch_size:
            self._start_write()
        elif self._timer is None:
            self._timer = loop.call_later(self.flush_interval, self._start_write)

    async def flush(self) -> None:
        """Write everything recorded so far (for shutdown and tests)."""
        while self._writing is not None or self._waiting:
            if self._writing is None:
                self._start_write()
            await asyncio.shield(self._writing)

    def _start_write(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._writing is None and self._waiting:
            self._writing = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        batch, self._waiting = self._waiting, []
        loop = asyncio.get_running_loop()
        try:
            await _store_in_its_thread(batch)
        except Exception:
            logger.exception("OCPP message log write failed; retrying", extra={"frames": len(batch)})
            self._waiting[:0] = batch
            await asyncio.sleep(RETRY_DELAY)
        finally:
            self._writing = None
        if self._waiting:
            if len(self._waiting) >= self.batch_size:
                self._start_write()
            elif self._timer is None:
                self._timer = loop.call_later(self.flush_interval, self._start_write)

    def write_remaining(self) -> None:
        """At interpreter exit, when no event loop runs any more: write what is left, in this thread."""
        if self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                _store(batch)
            except Exception:
                logger.exception("OCPP message log: frames lost at exit", extra={"frames": len(batch)})


def _store(batch: list[FrameRecord]) -> None:
    from stations.services import ocpp_messages_store

    ocpp_messages_store(records=batch)


_store_in_its_thread = in_frame_log_thread(_store)


_frame_log: FrameLog | None = None


def frame_log() -> FrameLog:
    """The process's frame log, created on first use."""
    global _frame_log
    if _frame_log is None:
        _frame_log = FrameLog(
            flush_interval=app_settings.FRAME_LOG_FLUSH_MS / 1000, batch_size=app_settings.FRAME_LOG_BATCH
        )
        atexit.register(_frame_log.write_remaining)
    return _frame_log

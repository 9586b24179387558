"""Gives the `ocpp` library the recv()/send() connection it expects, on top of a Channels consumer.

Every frame passes here in both directions, whoever sends it (a handler's answer, a command from
``stations.protocol.commands``), so this is where each is parsed once and put in the message log,
with the latency of the answer: ours to the station's CALL, the station's to ours.
"""

import asyncio
import contextlib
import time
from datetime import UTC, datetime

from stations.app_settings import app_settings
from stations.models import OcppMessage
from stations.protocol.framing import CALL, CALL_ERROR, CALL_RESULT, Frame, parse_frame
from stations.protocol.framing.log import FrameRecord, frame_log
from stations.protocol.redaction import redacted

IN, OUT = OcppMessage.Direction.IN, OcppMessage.Direction.OUT
# A peer that never answers must not grow the latency bookkeeping without bound.
MAX_OPEN_CALLS = 256
CLOSE_FLUSH_TIMEOUT = 5.0


class ConsumerConnection:
    def __init__(self, consumer, *, station_pk: int, log=None):
        self._consumer = consumer
        self._station_pk = station_pk
        self._log = log or frame_log()
        self._max_frame_bytes = app_settings.MAX_FRAME_BYTES
        self._incoming: asyncio.Queue[Frame] = asyncio.Queue()
        # message id -> (monotonic time, action) of CALLs still waiting for their answer, per direction
        self._open_in: dict[str, tuple[float, str]] = {}
        self._open_out: dict[str, tuple[float, str]] = {}

    def feed(self, data: str | bytes) -> None:
        frame = parse_frame(data, max_bytes=self._max_frame_bytes)
        self._record(IN, frame, opened=self._open_in, answered=self._open_out, answerable=frame.answerable)
        self._incoming.put_nowait(frame)

    async def recv(self) -> Frame:
        return await self._incoming.get()

    def take_unread(self) -> list[Frame]:
        """The frames received but not yet taken by ``recv()`` (the connection has ended)."""
        unread = []
        while not self._incoming.empty():
            unread.append(self._incoming.get_nowait())
        return unread

    async def send(self, text: str) -> Frame:
        frame = parse_frame(text)
        self._record(OUT, frame, opened=self._open_out, answered=self._open_in, answerable=False)
        await self._consumer.send_frame(text)
        return frame

    async def close(self) -> None:
        """The connection ended: write its frames now rather than at the next flush (bounded by a timeout)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._log.flush(), CLOSE_FLUSH_TIMEOUT)

    def _record(self, direction, frame: Frame, *, opened: dict, answered: dict, answerable: bool) -> None:
        now = time.monotonic()
        action, latency_ms = frame.action, None
        if frame.message_type == CALL or answerable:
            if len(opened) >= MAX_OPEN_CALLS:
                opened.pop(next(iter(opened)))
            opened[frame.unique_id] = (now, frame.action)
        elif frame.message_type in (CALL_RESULT, CALL_ERROR) and (call := answered.pop(frame.unique_id, None)):
            latency_ms = round((now - call[0]) * 1000, 3)
            action = call[1]
        self._log.record(
            FrameRecord(
                station_id=self._station_pk,
                direction=direction,
                message_type=frame.message_type,
                action=action[:64],
                unique_id=frame.unique_id[:64],
                payload=redacted(frame.action, frame.payload),
                raw=frame.raw,
                error_code=frame.error_code[:40],
                latency_ms=latency_ms,
                created_at=datetime.now(UTC),
            )
        )

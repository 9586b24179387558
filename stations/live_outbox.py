"""Live events (``stations.live``) of a state change, published once its transaction has committed.

Services call ``live_event_on_commit(event)``. The OCPP writer thread commits the changes of hundreds
of stations at a time and must not wait for Redis: its events go to this process's outbox, which the
event loop of the daphne process (bound by the OCPP consumer) publishes, a round's events in a few
channel-layer messages, in rounds at most ``PUBLISH_INTERVAL`` apart. While an event waits, a newer one about
the same thing (the same station, connector, or transaction state) is merged into it: a board is never sent stale
values, the outbox never holds more than one event per connector, and a network of stations sending
meter values every second costs a few publishes per connector per second, not one per message. A
process with no bound event loop (a Celery worker, a management command) publishes at once.
"""

import asyncio
import threading

from django.db import transaction

from stations.live import live_publish_many, live_publish_sync

# A person watching a board sees no difference; a busy network's publishes are merged per connector.
PUBLISH_INTERVAL = 0.25


def _subject(event: dict) -> tuple:
    kind = event.get("kind")
    if kind == "connector":
        return (kind, event.get("station"), event.get("connector_id"))
    if kind == "transaction":
        return (kind, event.get("transaction_id"), event.get("state"))
    return (kind, event.get("station"))


class LiveOutbox:
    def __init__(self, *, interval: float = PUBLISH_INTERVAL):
        self.interval = interval
        self._lock = threading.Lock()
        self._waiting: dict[tuple, dict] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Publish from ``loop`` from now on (called on it, by the OCPP consumer)."""
        if loop is self._loop:
            return
        with self._lock:
            self._loop, self._draining = loop, bool(self._waiting)
        if self._draining:
            loop.create_task(self._drain())

    def put(self, event: dict) -> None:
        """Publish ``event`` soon; callable from any thread."""
        loop = self._loop
        if loop is None or not loop.is_running():
            try:
                live_publish_sync(event)
            except RuntimeError as error:
                if "interpreter shutdown" not in str(error):
                    raise
                # The process is exiting: its event loop has stopped and its writer commits its last batches, whose
                # events can no longer be published (an error per event, hundreds at every restart of a busy node,
                # before). A board that reconnects loads the state from the database.
            return
        key = _subject(event)
        with self._lock:
            known = self._waiting.get(key)
            self._waiting[key] = event if known is None else {**known, **event}
            if self._draining:
                return
            self._draining = True
        loop.call_soon_threadsafe(self._start_draining, loop)

    def _start_draining(self, loop) -> None:
        loop.create_task(self._drain())

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if not self._waiting:
                    self._draining = False
                    return
                events, self._waiting = list(self._waiting.values()), {}
            round_started = loop.time()
            await live_publish_many(events)
            # What arrives meanwhile waits for the next round, merged per subject.
            await asyncio.sleep(max(0.0, round_started + self.interval - loop.time()))


live_outbox = LiveOutbox()


def live_event_on_commit(event: dict) -> None:
    """Publish ``event`` for the live board once the current transaction commits (at once outside one)."""
    # Robust: a failure here must not look like a failed write to the caller (the data is committed). Not a
    # functools.partial: Django logs a robust callback's failure by its __qualname__, which a partial lacks.
    transaction.on_commit(lambda: live_outbox.put(event), robust=True)

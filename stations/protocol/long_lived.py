"""The garbage collector's full passes kept short on a node holding thousands of stations.

Every open station connection is a few hundred objects that live as long as it does (the socket's protocol, the
consumer, the ``ocpp`` charge point, their tasks and futures). CPython's full collection walks every tracked object
with the event loop stopped: at 5,000 stations about a million, 0.6-1.2 s a pass, every 2-5 s while they connect
and every 5-30 s after (``bench/load.py --mode realistic``): the tail of the latency, and a third of the reconnect
storm's CPU.

So each full pass freezes what it found alive (a collector callback): those objects are moved out of the collector's
sight, as the code loaded at start is (``cms/asgi.py``), and every object is walked by one full pass, not by all of
them. A frozen object freed by its reference count goes as any other; what freezing keeps is garbage *cycles*
among frozen objects (a closed connection's, a refused handshake's). Hence the sweep: everything unfrozen,
collected in one pass (one pause of the old length) and frozen again, every ``SWEEP_EVERY_S``, or sooner once the
heap (Python's allocated blocks, an O(1) reading: counting the frozen objects walks them all, 0.25 s at a million)
has grown by ``SWEEP_GROWTH`` since the last sweep, though not within ``SWEEP_GROWTH_AFTER_S`` of it. What freezing
can hold back stays under that share of the memory (plus what a minute's growth brings), and a reconnect storm of
10,000 stations, whose growth is mostly connections that live on, costs one sweep instead of a full pass over
everything every second or two (or, growth alone, a sweep of 1-3 s for each half again of the heap: 5 % of the
storm's main thread). The sweep is looked for every ``SWEEP_CHECK_EVERY_S`` (a collector callback may not
collect).

Installed (like ``daphne_walks``) only when daphne is the server; ``tests/ocpp/test_long_lived.py``.
"""

import gc
import sys
import time

from stations.protocol.daphne_patch import daphne_patch

SWEEP_CHECK_EVERY_S = 2.0
SWEEP_EVERY_S = 600.0
SWEEP_GROWTH = 1.5
SWEEP_GROWTH_AFTER_S = 60.0
# Below this many allocated blocks (a node's code, 600,000, and a few thousand stations) growth brings no sweep.
SWEEP_FLOOR_BLOCKS = 1_000_000


class Collector:
    """Freezes after each full pass (``start``); ``sweep_if_due`` is called every ``SWEEP_CHECK_EVERY_S``."""

    def __init__(self, *, clock=time.monotonic, floor: int = SWEEP_FLOOR_BLOCKS):
        self.clock, self.floor = clock, floor
        self.swept_at, self.swept_size = clock(), floor

    def start(self) -> None:
        gc.callbacks.append(self.after_pass)

    def stop(self) -> None:
        gc.callbacks.remove(self.after_pass)

    @staticmethod
    def after_pass(phase: str, info: dict) -> None:
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()

    def sweep_if_due(self) -> bool:
        since = self.clock() - self.swept_at
        grown = since >= SWEEP_GROWTH_AFTER_S and sys.getallocatedblocks() > SWEEP_GROWTH * self.swept_size
        if not grown and since < SWEEP_EVERY_S:
            return False
        gc.unfreeze()
        gc.collect()  # and frozen again by after_pass
        self.swept_at, self.swept_size = self.clock(), max(self.floor, sys.getallocatedblocks())
        return True


@daphne_patch
def install(daphne_server) -> None:
    reactor = daphne_server.reactor
    collector = Collector()
    collector.start()

    def check():
        collector.sweep_if_due()
        reactor.callLater(SWEEP_CHECK_EVERY_S, check)

    reactor.callLater(SWEEP_CHECK_EVERY_S, check)

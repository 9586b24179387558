"""The garbage collector's full passes kept short on a node holding thousands of stations.

Every open station connection is a few hundred objects that live as long as it does (the socket's protocol, the
consumer, the ``ocpp`` charge point, their tasks and futures). CPython's full collection walks every tracked object
with the event loop stopped: at 5,000 stations about a million, 0.6-1.2 s a pass, every 2-5 s while they connect
and every 5-30 s after (``bench/load.py --mode realistic``): the tail of the latency, and a third of the reconnect
storm's CPU.

So, every ``FREEZE_EVERY_S``, the young generations are collected (short: a few thousand objects) and what
survived is frozen, moved out of the collector's sight as the code loaded at start is (``cms/asgi.py``): the full
passes then walk only what arrived since. A frozen object freed by its reference count goes as any other; what
freezing keeps is garbage *cycles* among frozen objects, chiefly those of closed connections. Hence the sweep:
every ``SWEEP_EVERY_S``, or at the next tick once enough connections open at a tick (so frozen) have closed,
``CLOSES_BEFORE_SWEEP`` or a quarter of those open, whichever is more, everything is unfrozen, collected in one
pass (one pause of the old length) and frozen again. A handshake refused between two ticks does not count.

Installed (like ``daphne_walks``) only when daphne is the server; ``tests/ocpp/test_long_lived.py``.
"""

import gc
import sys
import time

FREEZE_EVERY_S = 2.0
SWEEP_EVERY_S = 600.0
CLOSES_BEFORE_SWEEP = 1000


class Collector:
    """When to freeze and when to sweep; ``tick`` is called every ``FREEZE_EVERY_S`` by the server's reactor."""

    def __init__(self, *, clock=time.monotonic):
        self.clock = clock
        self.closes = 0
        self.swept_at = self.ticked_at = clock()

    def connection_closed(self, *, lived_s: float) -> None:
        """A connection closed after ``lived_s``: counted when it was open at the last tick."""
        if lived_s >= self.clock() - self.ticked_at:
            self.closes += 1

    def tick(self, *, connections: int) -> str:
        """Freeze what survived, or sweep first when due; says which it did."""
        self.ticked_at = self.clock()
        churned = self.closes >= max(CLOSES_BEFORE_SWEEP, connections // 4)
        if churned or self.clock() - self.swept_at >= SWEEP_EVERY_S:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.closes, self.swept_at = 0, self.ticked_at
            return "swept"
        gc.collect(1)
        gc.freeze()
        return "froze"


_installed = False


def install() -> None:
    global _installed
    daphne_server = sys.modules.get("daphne.server")
    if _installed or daphne_server is None:
        return
    _installed = True
    from daphne.ws_protocol import WebSocketProtocol

    Server, reactor = daphne_server.Server, daphne_server.reactor
    collector = Collector()
    run, protocol_disconnected = Server.run, Server.protocol_disconnected

    def protocol_disconnected_counted(self, protocol):
        protocol_disconnected(self, protocol)
        if isinstance(protocol, WebSocketProtocol):
            collector.connection_closed(lived_s=protocol.duration())

    def tick(server):
        collector.tick(connections=len(server.connections))
        reactor.callLater(FREEZE_EVERY_S, tick, server)

    def run_ticking(self):
        reactor.callLater(FREEZE_EVERY_S, tick, self)
        return run(self)

    Server.run = run_ticking
    Server.protocol_disconnected = protocol_disconnected_counted

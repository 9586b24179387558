"""The collector policy of ``stations.protocol.long_lived``: what survives is frozen out of the full passes, and
the garbage cycles frozen with it are collected by the sweep, on time or after enough closed connections. Every
test with a ``daphne_server`` runs it installed."""

import gc
import inspect
import weakref

import pytest
from daphne.server import Server

from stations.protocol import long_lived


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Node:
    """Stands for a connection's objects: they refer to each other, as a protocol and its transport do."""

    def __init__(self):
        self.itself = self


@pytest.fixture(autouse=True)
def _unfrozen():
    yield
    gc.unfreeze()


def frozen_cycle():
    """A cycle frozen by a tick, then dropped: garbage only a sweep can collect (and a weak reference to it)."""
    node = Node()
    return weakref.ref(node), node


def test_what_survives_a_tick_is_frozen_and_a_cycle_dropped_after_waits_for_the_sweep():
    clock = Clock()
    collector = long_lived.Collector(clock=clock)
    alive, node = frozen_cycle()
    assert collector.tick(connections=10) == "froze"
    assert gc.get_freeze_count() > 0
    del node
    gc.collect()
    assert alive() is not None  # frozen: out of the full pass's sight

    clock.now += long_lived.SWEEP_EVERY_S - 1
    assert collector.tick(connections=10) == "froze"
    assert alive() is not None
    clock.now += 1
    assert collector.tick(connections=10) == "swept"
    assert alive() is None
    assert gc.get_freeze_count() > 0  # and what lives is frozen again


def test_enough_closed_connections_bring_the_sweep_forward():
    clock = Clock()
    collector = long_lived.Collector(clock=clock)
    alive, node = frozen_cycle()
    collector.tick(connections=10)
    del node
    clock.now += 1.5
    for _ in range(long_lived.CLOSES_BEFORE_SWEEP - 1):
        collector.connection_closed(lived_s=1.5)  # open at the tick 1.5 s ago
    collector.connection_closed(lived_s=1.0)  # a handshake refused since: never frozen
    assert collector.tick(connections=10) == "froze"
    assert alive() is not None
    collector.connection_closed(lived_s=1.5)
    assert collector.tick(connections=10) == "swept"
    assert alive() is None
    assert collector.closes == 0


def test_with_many_connections_open_it_takes_a_quarter_of_them_closing():
    collector = long_lived.Collector(clock=Clock())
    open_connections = long_lived.CLOSES_BEFORE_SWEEP * 8
    for _ in range(long_lived.CLOSES_BEFORE_SWEEP):
        collector.connection_closed(lived_s=60)
    assert collector.tick(connections=open_connections) == "froze"
    for _ in range(open_connections // 4 - long_lived.CLOSES_BEFORE_SWEEP):
        collector.connection_closed(lived_s=60)
    assert collector.tick(connections=open_connections) == "swept"


def test_garbage_that_never_reached_a_tick_is_collected_as_ever():
    collector = long_lived.Collector(clock=Clock())
    collector.tick(connections=10)
    alive, node = frozen_cycle()
    del node
    collector.tick(connections=10)  # collected before the freeze, not frozen with the rest
    assert alive() is None


def test_daphne_still_has_what_the_policy_hooks_into():
    assert list(inspect.signature(Server.protocol_disconnected).parameters) == ["self", "protocol"]
    assert list(inspect.signature(Server.run).parameters) == ["self"]
    assert "self.connections = {}" in inspect.getsource(Server.run)
    from daphne import ws_protocol

    source = inspect.getsource(ws_protocol.WebSocketProtocol)
    assert "self.server.protocol_disconnected(self)" in source
    assert "def duration(self)" in source

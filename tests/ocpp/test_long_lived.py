"""The collector policy of ``stations.protocol.long_lived``: what survives is frozen out of the full passes, and
the garbage cycles frozen with it are collected by the sweep, on time or once the heap has grown.
Every test with a ``daphne_server`` runs it installed."""

import gc
import sys
import weakref

import pytest

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
    gc.unfreeze()
    yield
    gc.unfreeze()


def a_cycle():
    """A cycle (and a weak reference to it): garbage once dropped, that only the collector frees."""
    node = Node()
    return weakref.ref(node), node


def collector(clock=None):
    """One whose growth rule would not sweep before the test grows the frozen objects on purpose."""
    return long_lived.Collector(clock=clock or Clock(), floor=sys.getallocatedblocks() * 2)


def test_what_survives_a_tick_is_frozen_and_a_cycle_dropped_after_waits_for_the_sweep():
    clock = Clock()
    policy = collector(clock)
    alive, node = a_cycle()
    assert policy.tick() == "froze"
    assert gc.get_freeze_count() > 0
    del node
    gc.collect()
    assert alive() is not None  # frozen: out of the full pass's sight

    clock.now += long_lived.SWEEP_EVERY_S - 1
    assert policy.tick() == "froze"
    assert alive() is not None
    clock.now += 1
    assert policy.tick() == "swept"
    assert alive() is None
    assert gc.get_freeze_count() > 0  # and what lives is frozen again


def test_growth_of_the_heap_brings_the_sweep_forward():
    policy = collector()
    alive, node = a_cycle()
    policy.tick()
    del node
    threshold = long_lived.SWEEP_GROWTH * policy.swept_size
    grown = [[] for _ in range(int(threshold * 0.9) - sys.getallocatedblocks())]
    assert policy.tick() == "froze"  # not quite grown enough
    assert alive() is not None
    grown.extend([] for _ in range(int(threshold * 0.2)))
    assert policy.tick() == "swept"
    assert alive() is None
    assert policy.swept_size > threshold  # the next sweep is measured from the grown size


def test_garbage_that_never_reached_a_tick_is_collected_as_ever():
    policy = collector()
    policy.tick()
    alive, node = a_cycle()
    del node
    policy.tick()  # collected before the freeze, not frozen with the rest
    assert alive() is None

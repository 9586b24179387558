"""The collector policy of ``stations.protocol.long_lived``: what a full pass finds alive is frozen out of the
next ones, and the garbage cycles frozen with it are collected by the sweep, on time or once the heap has grown.
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


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def policy(clock):
    """Started, with a growth rule that does not sweep before a test grows the heap on purpose."""
    gc.unfreeze()
    collector = long_lived.Collector(clock=clock, floor=sys.getallocatedblocks() * 2)
    collector.start()
    yield collector
    collector.stop()
    gc.unfreeze()


def a_cycle():
    """A cycle (and a weak reference to it): garbage once dropped, that only the collector frees."""
    node = Node()
    return weakref.ref(node), node


def test_what_a_full_pass_finds_alive_is_frozen_and_a_cycle_dropped_after_waits_for_the_sweep(policy, clock):
    alive, node = a_cycle()
    gc.collect()
    assert gc.get_freeze_count() > 0
    assert not gc.get_objects(generation=2)  # the next full pass has nothing of it to walk
    del node
    gc.collect()
    assert alive() is not None  # frozen: out of the full pass's sight

    clock.now += long_lived.SWEEP_EVERY_S - 1
    assert not policy.sweep_if_due()
    assert alive() is not None
    clock.now += 1
    assert policy.sweep_if_due()
    assert alive() is None
    assert gc.get_freeze_count() > 0  # and what lives is frozen again


def test_growth_of_the_heap_brings_the_sweep_forward_though_not_within_a_minute_of_the_last(policy, clock):
    alive, node = a_cycle()
    gc.collect()
    del node
    threshold = long_lived.SWEEP_GROWTH * policy.swept_size
    grown = [[] for _ in range(int(threshold * 0.9) - sys.getallocatedblocks())]
    clock.now += long_lived.SWEEP_GROWTH_AFTER_S
    assert not policy.sweep_if_due()  # not quite grown enough
    assert alive() is not None
    grown.extend([] for _ in range(int(threshold * 0.2)))
    clock.now -= 1
    assert not policy.sweep_if_due()  # grown enough, but swept less than a minute ago
    assert alive() is not None
    clock.now += 1
    assert policy.sweep_if_due()
    assert alive() is None
    assert policy.swept_size > threshold  # the next sweep is measured from the grown size


def test_garbage_dropped_before_a_full_pass_is_collected_by_it(policy):
    gc.collect()
    alive, node = a_cycle()
    del node
    gc.collect()
    assert alive() is None


def test_the_young_passes_freeze_nothing(policy):
    gc.collect()
    frozen = gc.get_freeze_count()
    kept = [Node() for _ in range(1000)]
    gc.collect(1)
    assert gc.get_freeze_count() == frozen
    assert kept

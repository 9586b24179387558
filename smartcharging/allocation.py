"""Site load allocation: how much current each charging session at a site may draw (no Django, no I/O).

A site is a tree of nodes (its grid connection, feeders inside it), each with a limit in amps per phase; every
session hangs below one node and counts against that node and all its ancestors. The allocation

- never lets the sum below any node exceed its limit (amps are summed whatever a car's phase count: a
  one-phase car loads one phase with all its current, so the sum is an upper bound on every phase);
- gives each session 0 (it waits, suspended) or at least its minimum (and at least 0.1 A), never more than its maximum;
- admits sessions in queue order (priority, then arrival): a session that does not fit blocks the nodes it did
  not fit under for every session after it, so a car with a large minimum is not starved by later small ones;
- shares what is left above the minimums by priority group, higher first; within a group first up to what each
  car needs to get its energy by its departure, then the rest in equal parts (a car reaching its maximum, or a
  feeder its limit, leaves its part to the others);
- takes back what a car draws much less than offered (it keeps its draw plus a margin);
- is deterministic: the same input gives the same output, whatever the order of the input.

Computed in integer tenths of an amp (OCPP's limits are multiples of 0.1 A), so sums are exact.
"""

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

UNITS_PER_AMP = 10
# A car drawing under this share of what it was offered is offered its draw plus the headroom instead.
RECLAIM_RATIO = 0.8
RECLAIM_HEADROOM_A = 2.0


@dataclass(frozen=True)
class Node:
    """A node of the site's tree: ``parent`` None for the grid connection; ``limit_a`` amps per phase available
    to the cars below it (the building's own load already taken off)."""

    key: Hashable
    parent: Hashable | None
    limit_a: float


@dataclass(frozen=True)
class Demand:
    """A session asking for current below ``node``.

    ``fixed_a``: current the session is counted at whatever happens (a station that rejected its profile, or one
    the CSMS has lost and whose last profile still holds); it is not queued and its allocation is ``fixed_a``.
    ``required_a``: what it needs to get its energy by its departure, when the car or driver said.
    ``offered_a``/``drawn_a``: its previous allocation and what it draws now, when known.
    """

    key: Hashable
    node: Hashable
    min_a: float
    max_a: float
    priority: int = 0
    arrival: float = 0.0
    required_a: float | None = None
    offered_a: float | None = None
    drawn_a: float | None = None
    fixed_a: float | None = None

    def cap_a(self) -> float:
        """The most worth offering: its maximum, or its draw plus a margin when it uses much less than offered."""
        if self.drawn_a is not None and self.offered_a and self.drawn_a < self.offered_a * RECLAIM_RATIO:
            return max(self.min_a, min(self.max_a, self.drawn_a + RECLAIM_HEADROOM_A))
        return self.max_a


def units(amps: float, *, up: bool = False) -> int:
    """Amps as whole tenths, rounded down (a limit, a maximum) or ``up`` (a minimum), never below 0."""
    scaled = round(amps * UNITS_PER_AMP, 6)  # 6.0 stays 60, not 59.999...
    return max(0, math.ceil(scaled) if up else math.floor(scaled))


def queue_order(demand: Demand) -> tuple:
    """Higher priority first, then earlier arrival; the key breaks ties so that the order is total."""
    return (-demand.priority, demand.arrival, repr(demand.key))


def allocate(nodes: Iterable[Node], demands: Iterable[Demand]) -> dict[Hashable, float]:
    """Each demand's current in amps (0: it waits). Raises ValueError for a demand below an unknown node or a
    node whose parent is unknown (a cycle included)."""
    tree = {node.key: node for node in nodes}
    paths = {key: _path(tree, key) for key in tree}
    remaining = {key: units(node.limit_a) for key, node in tree.items()}
    given: dict[Hashable, int] = {}
    queue = []
    for demand in sorted(demands, key=queue_order):
        if demand.node not in tree:
            raise ValueError(f"Demand {demand.key!r} is below unknown node {demand.node!r}.")
        path = paths[demand.node]
        if demand.fixed_a is not None:
            given[demand.key] = amount = units(demand.fixed_a)
            for key in path:
                remaining[key] -= amount
        else:
            queue.append(demand)
    admitted = _admit(queue, paths, remaining, given)
    by_priority: dict[int, list[_Rising]] = {}
    for demand in admitted:
        cap = units(demand.cap_a())
        rising = _Rising(
            demand.key, paths[demand.node], cap, None if demand.required_a is None else units(demand.required_a)
        )
        by_priority.setdefault(demand.priority, []).append(rising)
    for priority in sorted(by_priority, reverse=True):
        group = by_priority[priority]
        _fill([(r.key, r.path, min(r.cap, r.required)) for r in group if r.required is not None], remaining, given)
        _fill([(r.key, r.path, r.cap) for r in group], remaining, given)
    return {key: amount / UNITS_PER_AMP for key, amount in given.items()}


class _Rising(NamedTuple):
    key: Hashable
    path: tuple
    cap: int
    required: int | None


def _path(tree: Mapping[Hashable, Node], key: Hashable) -> tuple:
    path, seen = [], set()
    while key is not None:
        if key not in tree or key in seen:
            raise ValueError(f"Node {key!r} is not in the tree (or its parents form a cycle).")
        seen.add(key)
        path.append(key)
        key = tree[key].parent
    return tuple(path)


def _admit(ordered: Sequence[Demand], paths, remaining: dict, given: dict) -> list[Demand]:
    """Give each demand its minimum in queue order while it fits; those that do not fit wait at 0."""
    blocked: set = set()
    admitted = []
    for demand in ordered:
        minimum = max(1, units(demand.min_a, up=True))  # an admitted car gets something: 0 means it waits
        path = paths[demand.node]
        short = [key for key in path if remaining[key] < minimum]
        if short or minimum > units(demand.max_a) or (blocked and not blocked.isdisjoint(path)):
            given[demand.key] = 0
            blocked.update(short)
            continue
        given[demand.key] = minimum
        for key in path:
            remaining[key] -= minimum
        admitted.append(demand)
    return admitted


def _fill(rising: list[tuple[Hashable, tuple, int]], remaining: dict, given: dict) -> None:
    """Raise each (key, path, cap) equally towards its cap until the cap or a node's limit stops it."""
    rising = [entry for entry in rising if given[entry[0]] < entry[2]]
    while rising:
        below: dict = {}
        for _, path, _ in rising:
            for key in path:
                below[key] = below.get(key, 0) + 1
        step = min(min(cap - given[key] for key, _, cap in rising), min(remaining[k] // n for k, n in below.items()))
        if step > 0:
            for key, _, _ in rising:
                given[key] += step
            for node, count in below.items():
                remaining[node] -= step * count
        else:  # a node has less left than demands below it: one tenth each, in queue order, while it lasts
            for key, path, _ in rising:
                if all(remaining[node] > 0 for node in path):
                    given[key] += 1
                    for node in path:
                        remaining[node] -= 1
        rising = [
            (key, path, cap)
            for key, path, cap in rising
            if given[key] < cap and all(remaining[node] > 0 for node in path)
        ]

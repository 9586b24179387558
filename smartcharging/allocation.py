"""Site load allocation: how much current each charging session at a site may draw (no Django, no I/O).

A site is a tree of nodes (its grid connection, feeders inside it), each with a limit in amps per phase that holds on
each of the three phases (L1, L2, L3); every session hangs below one node and counts against that node and all its
ancestors, on the phases it loads: a three-phase car its current on each of the three, a one-phase car its current on
its one phase only (``Demand.lines``). The allocation

- never lets the sum on any phase below any node exceed the node's limit;
- gives each session 0 (it waits, suspended) or at least its minimum (and at least 0.1 A), never more than its maximum;
- admits sessions in queue order (priority, then arrival): a session that does not fit blocks, for every session after
  it, the phases it loads of the nodes it did not fit under, so a car with a large minimum (or a three-phase car) is
  not starved by later small (or one-phase) ones;
- shares what is left above the minimums by priority group, higher first; within a group first up to what each
  car needs to get its energy by its departure, then the rest in equal parts (a car reaching its maximum, or a
  feeder its limit, leaves its part to the others);
- takes back what a car draws much less than offered (it keeps its draw plus a margin);
- is deterministic: the same input gives the same output, whatever the order of the input.

Computed in integer tenths of an amp (OCPP's limits are multiples of 0.1 A), so sums are exact.
"""

import functools
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

UNITS_PER_AMP = 10
LINES = (1, 2, 3)  # the site's phases L1, L2, L3
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
    ``lines``: the site's phases it draws on (all three for a three-phase car; one for a one-phase car).

    The allocation reads only these attributes: any object that has them may stand for a demand (the load
    manager's connector slots do, a thousand sites' worth at a time).
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
    lines: tuple[int, ...] = LINES


def cap_a(demand: Demand) -> float:
    """The most worth offering a demand: its maximum, or its draw plus a margin when it uses much less than
    offered."""
    drawn_a, offered_a = demand.drawn_a, demand.offered_a
    if drawn_a is not None and offered_a and drawn_a < offered_a * RECLAIM_RATIO:
        return max(demand.min_a, min(demand.max_a, drawn_a + RECLAIM_HEADROOM_A))
    return demand.max_a


@functools.lru_cache(maxsize=4096)  # a site's few amounts recur in every period and every burst
def units(amps: float, *, up: bool = False) -> int:
    """Amps as whole tenths, rounded down (a limit, a maximum) or ``up`` (a minimum), never below 0."""
    scaled = round(amps * UNITS_PER_AMP, 6)  # 6.0 stays 60, not 59.999...
    return max(0, math.ceil(scaled) if up else math.floor(scaled))


def queue_order(demand: Demand) -> tuple:
    """Higher priority first, then earlier arrival; the key breaks ties so that the order is total."""
    return (-demand.priority, demand.arrival, repr(demand.key))


def allocate(nodes: Iterable[Node], demands: Iterable[Demand]) -> dict[Hashable, float]:
    """Each demand's current in amps per phase (0: it waits). Raises ValueError for a demand below an unknown node,
    one whose lines are not a non-empty set of 1, 2 and 3, or a node whose parent is unknown (a cycle included)."""
    return allocate_each([nodes], demands)[0]


def allocate_each(trees: Sequence[Iterable[Node]], demands: Iterable[Demand]) -> list[dict[Hashable, float]]:
    """``allocate`` of the same demands under each of ``trees`` (a site's limits now and in the periods ahead): the
    demands are ordered and converted once, and the loads once per shape of tree."""
    ordered, checked = [], set()
    for demand in sorted(demands, key=queue_order):
        if demand.lines not in checked:
            if not demand.lines or not set(demand.lines) <= set(LINES) or len(set(demand.lines)) != len(demand.lines):
                raise ValueError(f"Demand {demand.key!r} loads phases {demand.lines!r}: give some of 1, 2 and 3, once.")
            checked.add(demand.lines)
        ordered.append(
            _Asked(
                demand.key,
                demand.node,
                demand.lines,
                demand.priority,
                max(1, units(demand.min_a, up=True)),  # an admitted car gets something: 0 means it waits
                units(demand.max_a),
                units(cap_a(demand)),
                None if demand.required_a is None else units(demand.required_a),
                None if demand.fixed_a is None else units(demand.fixed_a),
            )
        )
    lines = _line_classes(asked.lines for asked in ordered)
    shapes: dict[frozenset, tuple[dict, dict]] = {}
    done: dict[frozenset, dict] = {}
    results = []
    for nodes in trees:
        tree = {node.key: node for node in nodes}
        limits = frozenset((key, node.parent, units(node.limit_a)) for key, node in tree.items())
        if limits not in done:  # a later period often has the limits of an earlier one (the lowest of all, say)
            shape = frozenset((key, node.parent) for key, node in tree.items())
            if shape not in shapes:
                shapes[shape] = _shape(tree, ordered, lines)
            done[limits] = _allocate(tree, ordered, lines, *shapes[shape])
        results.append(dict(done[limits]))
    return results


def _line_classes(loaded: Iterable[tuple[int, ...]]) -> dict[int, int]:
    """Each phase to the phase that stands for it: phases loaded by the same demands carry the same current all
    along (every node's limit is the same on each), so one of them is computed for all (a site of three-phase cars
    is computed on L1 alone)."""
    classes = [frozenset(LINES)]
    for lines in set(loaded):
        classes = [part for group in classes for part in (group & set(lines), group - set(lines)) if part]
    return {line: min(group) for group in classes for line in group}


class _Asked(NamedTuple):
    """A demand in tenths of an amp: its minimum (at least 1), maximum, cap, required and fixed current."""

    key: Hashable
    node: Hashable
    lines: tuple[int, ...]
    priority: int
    minimum: int
    maximum: int
    cap: int
    required: int | None
    fixed: int | None


def _shape(tree: Mapping[Hashable, Node], ordered: Sequence[_Asked], lines: Mapping[int, int]) -> tuple[dict, dict]:
    """Each node's path to the root, and the (node, line) pairs each demand counts against (of the ``lines`` that
    stand for the others)."""
    paths = {key: _path(tree, key) for key in tree}
    loads, pairs = {}, {}
    for asked in ordered:
        if asked.node not in tree:
            raise ValueError(f"Demand {asked.key!r} is below unknown node {asked.node!r}.")
        at = (asked.node, asked.lines)
        if at not in pairs:
            own = sorted({lines[line] for line in asked.lines})
            pairs[at] = tuple((key, line) for key in paths[asked.node] for line in own)
        loads[asked.key] = pairs[at]
    return paths, loads


def _allocate(
    tree: Mapping[Hashable, Node], ordered: Sequence[_Asked], lines: Mapping[int, int], paths: dict, loads: dict
) -> dict:
    limits = {key: units(node.limit_a) for key, node in tree.items()}
    # What is left of each node's limit on each phase; a demand counts against the (node, line) pairs it loads.
    remaining = {(key, line): limit for key, limit in limits.items() for line in set(lines.values())}
    # The lowest limit on the way from each node to the root: a minimum above it never fits.
    lowest = {key: min(limits[step] for step in path) for key, path in paths.items()}
    given: dict[Hashable, int] = {}
    queue = []
    for asked in ordered:
        if asked.fixed is not None:
            given[asked.key] = asked.fixed
            for pair in loads[asked.key]:
                remaining[pair] -= asked.fixed
        else:
            queue.append(asked)
    admitted = _admit(queue, loads, remaining, given, lowest)
    by_priority: dict[int, list[_Asked]] = {}
    for asked in admitted:
        by_priority.setdefault(asked.priority, []).append(asked)
    for priority in sorted(by_priority, reverse=True):
        group = by_priority[priority]
        _fill(
            [(a.key, loads[a.key], min(a.cap, a.required)) for a in group if a.required is not None], remaining, given
        )
        _fill([(a.key, loads[a.key], a.cap) for a in group], remaining, given)
    return {key: amount / UNITS_PER_AMP for key, amount in given.items()}


def _path(tree: Mapping[Hashable, Node], key: Hashable) -> tuple:
    path, seen = [], set()
    while key is not None:
        if key not in tree or key in seen:
            raise ValueError(f"Node {key!r} is not in the tree (or its parents form a cycle).")
        seen.add(key)
        path.append(key)
        key = tree[key].parent
    return tuple(path)


def _admit(ordered: Sequence[_Asked], loads: dict, remaining: dict, given: dict, lowest: dict) -> list[_Asked]:
    """Give each demand its minimum in queue order while it fits on every phase it loads; those that do not fit wait
    at 0 and block, at the nodes they did not fit under, every phase they load, so that no later car passes them
    there. A demand that could never fit (its minimum above its maximum, or above a node's limit) waits without
    blocking: it would hold the queue for good."""
    blocked: set = set()
    admitted = []
    for asked in ordered:
        minimum, load = asked.minimum, loads[asked.key]
        if minimum > asked.maximum or minimum > lowest[asked.node]:
            given[asked.key] = 0
            continue
        fits = not blocked
        for pair in load if fits else ():  # the common case: nothing blocked yet, and room on every phase
            if remaining[pair] < minimum:
                fits = False
                break
        if not fits:
            short = {node for node, line in load if remaining[(node, line)] < minimum or (node, line) in blocked}
            if short:
                given[asked.key] = 0
                blocked.update(pair for pair in load if pair[0] in short)
                continue
        given[asked.key] = minimum
        for pair in load:
            remaining[pair] -= minimum
        admitted.append(asked)
    return admitted


def _fill(rising: list[tuple[Hashable, tuple, int]], remaining: dict, given: dict) -> None:
    """Raise each (key, load, cap) equally towards its cap until the cap or a node's limit on a phase stops it (the
    load: the (node, line) pairs the demand counts against)."""
    rising = [entry for entry in rising if given[entry[0]] < entry[2]]
    while rising:
        below: dict = {}
        for _, load, _ in rising:
            for pair in load:
                below[pair] = below.get(pair, 0) + 1
        step = min(min(cap - given[key] for key, _, cap in rising), min(remaining[k] // n for k, n in below.items()))
        if step > 0:
            for key, _, _ in rising:
                given[key] += step
            for pair, count in below.items():
                remaining[pair] -= step * count
        else:  # a node has less left than demands below it: one tenth each, in queue order, while it lasts
            for key, load, _ in rising:
                if all(remaining[pair] > 0 for pair in load):
                    given[key] += 1
                    for pair in load:
                        remaining[pair] -= 1
        rising = [
            (key, load, cap)
            for key, load, cap in rising
            if given[key] < cap and all(remaining[pair] > 0 for pair in load)
        ]


@dataclass(frozen=True)
class Fallback:
    """A station as it charges without the CSMS: below ``node``, each of its connectors (the lines each loads) at the
    station's default limit, which is no use below ``min_a`` (the largest minimum among its connectors)."""

    key: Hashable
    node: Hashable
    connectors: tuple[tuple[int, ...], ...]
    min_a: float


def failsafe_shares(nodes: Iterable[Node], stations: Iterable[Fallback]) -> dict[Hashable, float]:
    """Each station's default limit in amps per phase, the same for each of its connectors, such that no phase of any
    node is above its limit even with every connector of every station drawing its default at once.

    The ``nodes``' limits are their worst case (the caller takes the lowest limit of any period and the building's
    peak off). Below each node, on each phase, its limit is shared equally by all the connectors that load that
    phase; a station's share is the least of those shares along its path, on the phases its connectors load. A
    share below the station's minimum is 0: its cars wait (offered less than its minimum a car may take its
    minimum anyway, or not charge at all). Raises ValueError for a station below an unknown node."""
    tree = {node.key: node for node in nodes}
    paths = {key: _path(tree, key) for key in tree}
    stations = list(stations)
    sharing: dict[tuple, int] = {}
    for station in stations:
        if station.node not in tree:
            raise ValueError(f"Station {station.key!r} is below unknown node {station.node!r}.")
        for lines in station.connectors:
            for pair in ((key, line) for key in paths[station.node] for line in lines):
                sharing[pair] = sharing.get(pair, 0) + 1
    shares = {}
    for station in stations:
        lines = {line for connector in station.connectors for line in connector}
        share = min(
            (units(tree[key].limit_a) // sharing[(key, line)] for key in paths[station.node] for line in lines),
            default=0,
        )
        shares[station.key] = share / UNITS_PER_AMP if share >= max(1, units(station.min_a, up=True)) else 0.0
    return shares

"""The site load allocation engine: its rules hold for any tree and any set of sessions (hypothesis), and the
plain cases read as the rules say."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcharging.allocation import (
    LINES,
    Demand,
    Fallback,
    Node,
    allocate,
    allocate_each,
    cap_a,
    failsafe_shares,
    queue_order,
    units,
)

EPSILON = 1e-9
ONE_PHASE = [(1,), (2,), (3,)]


@st.composite
def sites(draw):
    """A grid connection, up to four feeders (some nested), and up to 24 sessions below any of them, three-phase or
    one-phase on any of the three phases."""
    nodes = [Node("site", None, draw(st.floats(0, 250).map(lambda a: round(a, 1))))]
    for index in range(draw(st.integers(0, 4))):
        parent = draw(st.sampled_from([node.key for node in nodes]))
        nodes.append(Node(f"feeder-{index}", parent, round(draw(st.floats(0, 120)), 1)))
    demands = []
    for index in range(draw(st.integers(0, 24))):
        minimum = draw(st.sampled_from([0.0, 6.0, 8.0, 10.0, 13.5]))
        maximum = draw(st.sampled_from([6.0, 16.0, 32.0, 63.0]))
        offered = draw(st.none() | st.floats(0, 63).map(lambda a: round(a, 1)))
        fixed = draw(st.none() | st.none() | st.none() | st.floats(0, 32).map(lambda a: round(a, 1)))
        demands.append(
            Demand(
                key=f"c{index}",
                node=draw(st.sampled_from([node.key for node in nodes])),
                min_a=minimum,
                max_a=maximum,
                priority=draw(st.integers(0, 2)),
                arrival=float(draw(st.integers(0, 5))),
                required_a=draw(st.none() | st.floats(0, 63)),
                offered_a=offered,
                drawn_a=draw(st.none() | st.floats(0, 63)) if offered else None,
                fixed_a=fixed,
                lines=draw(st.sampled_from([LINES, LINES, *ONE_PHASE])),
            )
        )
    return nodes, demands


def path(nodes, key):
    parents = {node.key: node.parent for node in nodes}
    while key is not None:
        yield key
        key = parents[key]


@given(sites())
@settings(max_examples=200, deadline=None)
def test_no_phase_of_any_node_is_ever_loaded_above_its_limit_unless_fixed_loads_alone_do(site):
    nodes, demands = site
    shares = allocate(nodes, demands)
    for node in nodes:
        for line in LINES:
            below = [d for d in demands if node.key in path(nodes, d.node) and line in d.lines]
            fixed = sum(d.fixed_a for d in below if d.fixed_a is not None)
            total = sum(shares[d.key] for d in below)
            assert total <= max(node.limit_a, fixed) + EPSILON, (node, line)
            if fixed > node.limit_a:  # what the CSMS cannot move already overloads it: nobody else gets anything on it
                assert all(shares[d.key] == 0 for d in below if d.fixed_a is None)


@given(sites())
@settings(max_examples=200, deadline=None)
def test_each_session_gets_nothing_or_between_its_minimum_and_maximum(site):
    nodes, demands = site
    shares = allocate(nodes, demands)
    assert set(shares) == {d.key for d in demands}
    for demand in demands:
        share = shares[demand.key]
        if demand.fixed_a is not None:
            assert share == units(demand.fixed_a) / 10
        else:
            assert share == 0 or demand.min_a - EPSILON <= share <= demand.max_a + EPSILON
            assert round(share * 10, 6) == int(round(share * 10, 6))  # whole tenths of an amp


@given(sites())
@settings(max_examples=200, deadline=None)
def test_a_waiting_session_is_never_passed_by_a_later_one_below_the_same_node(site):
    nodes, demands = site
    shares = allocate(nodes, demands)
    queued = sorted((d for d in demands if d.fixed_a is None), key=queue_order)
    for position, waiting in enumerate(queued):
        # Waiting means not admitted at its minimum. One with no minimum is admitted and may still get nothing, its
        # phases being full, while a later car takes what is left on another phase: that passes nobody.
        if shares[waiting.key] > 0 or waiting.min_a > waiting.max_a or waiting.min_a <= 0:
            continue
        for later in queued[position + 1 :]:
            if later.node == waiting.node and later.min_a >= waiting.min_a and set(later.lines) & set(waiting.lines):
                assert shares[later.key] == 0, (waiting, later)


@given(sites(), st.lists(st.floats(0, 250).map(lambda a: round(a, 1)), min_size=1, max_size=3))
@settings(max_examples=200, deadline=None)
def test_allocating_under_several_limits_at_once_is_allocating_under_each(site, site_limits):
    """What the plan does for the limit periods ahead: the demands prepared once, the same shares as one by one."""
    nodes, demands = site
    trees = [[Node(n.key, n.parent, limit if n.parent is None else n.limit_a) for n in nodes] for limit in site_limits]
    assert allocate_each(trees, demands) == [allocate(tree, demands) for tree in trees]


@given(sites(), st.randoms(use_true_random=False))
@settings(max_examples=200, deadline=None)
def test_the_same_site_allocates_the_same_whatever_the_order_it_is_given_in(site, shuffler: random.Random):
    nodes, demands = site
    first = allocate(nodes, demands)
    shuffled_nodes, shuffled_demands = list(nodes), list(demands)
    shuffler.shuffle(shuffled_nodes)
    shuffler.shuffle(shuffled_demands)
    assert allocate(shuffled_nodes, shuffled_demands) == first


@given(sites())
@settings(max_examples=200, deadline=None)
def test_capacity_left_over_means_every_admitted_session_is_at_its_cap(site):
    """Nothing is wasted: a session below its cap is stopped by a node with (almost) nothing left."""
    nodes, demands = site
    shares = allocate(nodes, demands)
    for demand in demands:
        share = shares[demand.key]
        if demand.fixed_a is not None or share == 0 or share >= cap_a(demand) - 0.1 - EPSILON:
            continue
        left = []
        for key in path(nodes, demand.node):
            node = next(n for n in nodes if n.key == key)
            for line in demand.lines:
                below = [d for d in demands if key in path(nodes, d.node) and line in d.lines]
                left.append(units(node.limit_a) - sum(units(shares[d.key]) for d in below))
        assert min(left) < len(demands), (demand, left)


def test_63_amps_among_ten_cars_of_6_to_32_amps_is_an_equal_share():
    demands = [Demand(key=n, node="site", min_a=6, max_a=32, arrival=n) for n in range(10)]
    assert set(allocate([Node("site", None, 63)], demands).values()) == {6.3}


def test_cars_beyond_the_minimums_wait_at_zero_in_arrival_order():
    demands = [Demand(key=n, node="site", min_a=6, max_a=32, arrival=10 - n) for n in range(12)]
    shares = allocate([Node("site", None, 63)], demands)
    assert [n for n in range(12) if shares[n] == 0] == [0, 1]  # the two that came last
    assert sum(shares.values()) == pytest.approx(63)


def test_a_higher_priority_car_is_served_up_to_its_maximum_first():
    demands = [
        Demand(key="fleet", node="site", min_a=6, max_a=32, priority=1, arrival=5),
        Demand(key="guest", node="site", min_a=6, max_a=32, arrival=1),
    ]
    assert allocate([Node("site", None, 40)], demands) == {"fleet": 32, "guest": 8}


def test_a_car_leaving_soon_gets_what_it_needs_before_the_others_share():
    demands = [
        Demand(key="leaving", node="site", min_a=6, max_a=32, required_a=24),
        Demand(key="staying", node="site", min_a=6, max_a=32),
    ]
    assert allocate([Node("site", None, 30)], demands) == {"leaving": 24, "staying": 6}


def test_a_feeder_limit_holds_inside_a_roomier_site():
    nodes = [Node("site", None, 100), Node("feeder", "site", 20)]
    demands = [Demand(key=n, node="feeder", min_a=6, max_a=32) for n in range(4)] + [
        Demand(key="outside", node="site", min_a=6, max_a=32)
    ]
    shares = allocate(nodes, demands)
    assert [shares[n] for n in range(4)] == [6.7, 6.7, 6.6, 0]
    assert shares["outside"] == 32


def test_a_car_drawing_much_less_than_offered_leaves_the_rest_to_the_others():
    demands = [
        Demand(key="full", node="site", min_a=6, max_a=32, offered_a=20, drawn_a=3),
        Demand(key="hungry", node="site", min_a=6, max_a=32, offered_a=20, drawn_a=20),
    ]
    assert allocate([Node("site", None, 40)], demands) == {"full": 6, "hungry": 32}


def test_a_station_that_rejected_its_profile_counts_at_its_worst_case():
    demands = [
        Demand(key="rejecting", node="site", min_a=6, max_a=32, fixed_a=32),
        Demand(key="other", node="site", min_a=6, max_a=32),
    ]
    assert allocate([Node("site", None, 40)], demands) == {"rejecting": 32, "other": 8}


def test_one_phase_cars_on_three_phases_fill_a_site_three_phase_cars_would_not():
    """32 A per phase: four one-phase cars of 16 A, two on L1 and one each on L2 and L3, all charge at their maximum
    (L1 carries 32 A); counted as three-phase they would have shared 32 A on every phase at 8 A."""
    demands = [
        Demand(key=key, node="site", min_a=6, max_a=16, arrival=n, lines=lines)
        for n, (key, lines) in enumerate([("a", (1,)), ("b", (1,)), ("c", (2,)), ("d", (3,))])
    ]
    assert allocate([Node("site", None, 32)], demands) == {"a": 16, "b": 16, "c": 16, "d": 16}


def test_a_one_phase_car_loads_only_its_phase_beside_three_phase_cars():
    demands = [
        Demand(key="three", node="site", min_a=6, max_a=32, arrival=1),
        Demand(key="one-l2", node="site", min_a=6, max_a=32, arrival=2, lines=(2,)),
    ]
    # L1 and L3 carry the three-phase car alone: it takes its maximum; on L2 the two share 40 A (32 + 8).
    assert allocate([Node("site", None, 40)], demands) == {"three": 20, "one-l2": 20}
    assert allocate([Node("site", None, 64)], demands) == {"three": 32, "one-l2": 32}


def test_a_three_phase_car_that_does_not_fit_on_one_phase_waits_and_later_cars_on_its_phases_wait_behind_it():
    demands = [
        Demand(key="one-l1", node="site", min_a=6, max_a=32, arrival=1, lines=(1,), fixed_a=12),
        Demand(key="three", node="site", min_a=6, max_a=32, arrival=2),
        Demand(key="one-l2", node="site", min_a=6, max_a=32, arrival=3, lines=(2,)),
    ]
    # 16 A per phase, 12 A of it fixed on L1: the three-phase car's 6 A does not fit on L1, and the later one-phase
    # car on L2 does not pass it.
    assert allocate([Node("site", None, 16)], demands) == {"one-l1": 12, "three": 0, "one-l2": 0}


def test_a_car_waiting_behind_another_on_one_phase_holds_its_other_phases_too():
    demands = [
        Demand(key="fixed-l1", node="site", min_a=6, max_a=32, arrival=0, lines=(1,), fixed_a=8),
        Demand(key="one-l1", node="site", min_a=10, max_a=32, arrival=1, lines=(1,)),
        Demand(key="three", node="site", min_a=6, max_a=32, arrival=2),
        Demand(key="one-l2", node="site", min_a=6, max_a=32, arrival=3, lines=(2,)),
    ]
    # 16 A per phase, 8 A fixed on L1: the one-phase car of 10 A on L1 waits; the three-phase car's 6 A would fit
    # but waits behind it (L1), and the later car on L2 does not pass the three-phase one.
    assert allocate([Node("site", None, 16)], demands) == {"fixed-l1": 8, "one-l1": 0, "three": 0, "one-l2": 0}


def test_a_car_that_could_never_fit_does_not_hold_the_queue():
    """Its minimum above the site's limit (or above its own maximum): waiting for it would stop the others for good."""
    demands = [
        Demand(key="too-big", node="site", min_a=8, max_a=32, priority=1, lines=(1,)),
        Demand(key="broken", node="site", min_a=10, max_a=6, priority=1, arrival=1),
        Demand(key="three", node="site", min_a=6, max_a=6, arrival=2),
        Demand(key="one-l2", node="site", min_a=6, max_a=6, arrival=3, lines=(2,)),
    ]
    assert allocate([Node("site", None, 6)], demands) == {"too-big": 0, "broken": 0, "three": 6, "one-l2": 0}


def test_a_demand_on_no_phase_or_an_unknown_one_is_refused():
    for lines in [(), (4,), (1, 1)]:
        with pytest.raises(ValueError, match="phases"):
            allocate([Node("site", None, 16)], [Demand(key="x", node="site", min_a=6, max_a=16, lines=lines)])


@st.composite
def fallback_sites(draw):
    """A site's tree at its worst case and up to ten stations of one to four connectors, each three-phase or
    one-phase on any phase."""
    nodes, _ = draw(sites())
    stations = [
        Fallback(
            key=f"s{index}",
            node=draw(st.sampled_from([node.key for node in nodes])),
            connectors=tuple(
                draw(st.lists(st.sampled_from([LINES, LINES, *ONE_PHASE]), min_size=1, max_size=4).map(tuple))
            ),
            min_a=draw(st.sampled_from([0.0, 6.0, 8.0, 10.0, 13.5])),
        )
        for index in range(draw(st.integers(0, 10)))
    ]
    return nodes, stations


@given(fallback_sites())
@settings(max_examples=300, deadline=None)
def test_every_connector_of_every_station_at_its_default_at_once_keeps_every_phase_of_every_node_under_its_limit(
    site,
):
    nodes, stations = site
    shares = failsafe_shares(nodes, stations)
    assert set(shares) == {station.key for station in stations}
    for node in nodes:
        for line in LINES:
            total = sum(
                shares[s.key] * sum(1 for lines in s.connectors if line in lines)
                for s in stations
                if node.key in path(nodes, s.node)
            )
            assert total <= node.limit_a + EPSILON, (node, line, shares)
    for station in stations:
        assert shares[station.key] == 0 or shares[station.key] >= station.min_a - EPSILON
        assert round(shares[station.key] * 10, 6) == int(round(shares[station.key] * 10, 6))


def test_the_default_limit_shares_each_phase_among_the_connectors_loading_it_and_is_zero_below_the_minimum():
    nodes = [Node("site", None, 40), Node("feeder", "site", 12)]
    stations = [
        Fallback("three", "site", (LINES, LINES), 6),
        Fallback("one-phase", "site", ((1,), (2,)), 6),
        Fallback("fed", "feeder", ((3,),), 13),  # 12 A in its feeder is below its 13 A minimum: it waits
    ]
    # Three connectors on each phase of the site (counted as three-phase, the one-phase ones would make four).
    assert failsafe_shares(nodes, stations) == {"three": 13.3, "one-phase": 13.3, "fed": 0.0}

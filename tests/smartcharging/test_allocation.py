"""The site load allocation engine: its rules hold for any tree and any set of sessions (hypothesis), and the
plain cases read as the rules say."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcharging.allocation import Demand, Node, allocate, queue_order, units

EPSILON = 1e-9


@st.composite
def sites(draw):
    """A grid connection, up to four feeders (some nested), and up to 24 sessions below any of them."""
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
def test_no_node_is_ever_loaded_above_its_limit_unless_fixed_loads_alone_do(site):
    nodes, demands = site
    shares = allocate(nodes, demands)
    for node in nodes:
        below = [d for d in demands if node.key in path(nodes, d.node)]
        fixed = sum(d.fixed_a for d in below if d.fixed_a is not None)
        total = sum(shares[d.key] for d in below)
        assert total <= max(node.limit_a, fixed) + EPSILON
        if fixed > node.limit_a:  # what the CSMS cannot move already overloads it: nobody else gets anything
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
        if shares[waiting.key] > 0 or waiting.min_a > waiting.max_a:
            continue
        for later in queued[position + 1 :]:
            if later.node == waiting.node and later.min_a >= waiting.min_a:
                assert shares[later.key] == 0, (waiting, later)


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
        if demand.fixed_a is not None or share == 0 or share >= demand.cap_a() - 0.1 - EPSILON:
            continue
        left = []
        for key in path(nodes, demand.node):
            node = next(n for n in nodes if n.key == key)
            below = [d for d in demands if key in path(nodes, d.node)]
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

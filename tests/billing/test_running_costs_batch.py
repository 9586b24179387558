"""The running costs of many 2.0.1 sessions priced together (``sessions.costs.running_costs``, what the chargers
are sent as CostUpdated): each is what the engine makes of that session alone -- its tariff by precedence, its
operator's zone, its driver's subscription, its usage so far -- in a few queries for the whole batch; and a
session that is not open gets none."""

from datetime import time as clock
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import selectors, services
from billing.models import DriverGroup, Subscription, SubscriptionPlan
from billing.pricing import TariffSpec, price_session
from sessions import costs
from tests.billing.conftest import T0

D = Decimal


@pytest.fixture
def network(site, station, make_station, make_tariff, operator, driver, django_user_model):
    """A network tariff, the depot's (a night period), a fleet's, a station's own; drivers in and out of the
    fleet, one with a subscription including energy, and cards of nobody."""
    make_tariff(name="Network", price_per_kwh=D("0.50"), price_per_minute=D("0.01"))
    make_tariff(
        name="Depot",
        site=site,
        price_per_kwh=D("0.40"),
        start_fee=D("1.00"),
        periods=[{"name": "Night", "weekdays": "1234567", "start_time": clock(22), "end_time": clock(6)}],
    )
    fleet = DriverGroup.objects.create(name="Fleet")
    make_tariff(name="Fleet", driver_group=fleet, price_per_kwh=D("0.25"))
    member = django_user_model.objects.create_user(email="fleet@example.com", password="fleet-pass-123")
    fleet.members.add(member)
    roadside = make_station(ocpp_id="CP-ROAD")  # no site: the network tariff, the operator's zone
    own = make_station(ocpp_id="CP-OWN")
    make_tariff(name="Own", station=own, price_per_kwh=D("0.70"))
    subscriber = django_user_model.objects.create_user(email="sub@example.com", password="sub-pass-123")
    plan = SubscriptionPlan.objects.create(
        name="Commuter", monthly_fee=D("10"), currency="EUR", included_energy_wh=5_000, operator=operator
    )
    Subscription.objects.create(
        user=subscriber,
        plan=plan,
        current_period_start=T0 - timedelta(days=10),
        current_period_end=T0 + timedelta(days=20),
    )
    return {"stations": [station, roadside, own], "users": [driver, member, subscriber, None]}


def alone(session, at) -> Decimal | None:
    """The engine's gross price of one running session as of ``at``, each input read on its own."""
    user = selectors.driver_of(session)
    tariff = selectors.tariff_for(station=session.station, user=user, at=session.started_at)
    if tariff is None:
        return None
    spec = TariffSpec.from_model(tariff, selectors.station_timezone(session.station))
    allowance = selectors.allowance_of(selectors.live_subscription(user, at=session.started_at), tariff.currency)
    return price_session(spec, selectors.session_usage(session, until=at), allowance).gross


running_plans = st.lists(
    st.tuples(
        st.integers(0, 2),  # station
        st.integers(0, 3),  # driver
        st.integers(0, 60 * 24),  # start, minutes after T0
        st.integers(1, 300),  # minutes so far
        st.integers(0, 60_000),  # Wh so far
    ),
    min_size=1,
    max_size=8,
)


@pytest.mark.django_db
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans=running_plans)
def test_running_costs_priced_together_are_each_sessions_own(network, make_session, plans):
    with transaction.atomic():
        asked, expected = [], []
        for index, (station_index, user_index, start, minutes, energy) in enumerate(plans):
            started_at = T0 + timedelta(minutes=start)
            session = make_session(
                on=network["stations"][station_index],
                user=network["users"][user_index],
                started_at=started_at,
                minutes=minutes * 2,
                energy_wh=energy * 2,
                stopped=False,
                connector_id=index + 1,
            )
            at = started_at + timedelta(minutes=minutes)  # half way through the readings made above
            asked.append(costs.RunningCostAsked(session.station, session.ocpp_transaction_id, at))
            expected.append(alone(session, at))
        with CaptureQueriesContext(connection) as queries:
            priced = costs.running_costs(asked)
        assert priced == expected
        # The open sessions, their charges, samples and status events, tariffs and their periods, groups,
        # subscriptions, the operator of the stations without a site: however many sessions.
        assert len(queries) <= 9
        transaction.set_rollback(True)


def test_a_session_that_is_not_open_gets_no_running_cost_and_the_others_theirs(network, make_session):
    roadside = network["stations"][1]
    running = make_session(on=roadside, stopped=False, minutes=60, energy_wh=4_000)
    ended = make_session(on=roadside, connector_id=2)
    services.session_charge_create(transaction_id=ended.pk)
    at = T0 + timedelta(minutes=30)
    asked = [
        costs.RunningCostAsked(roadside, ended.ocpp_transaction_id, at),
        costs.RunningCostAsked(roadside, "NO-SUCH-TX", at),
        costs.RunningCostAsked(network["stations"][0], running.ocpp_transaction_id, at),  # another station's id
        costs.RunningCostAsked(roadside, running.ocpp_transaction_id, at),
    ]
    # 2 kWh and 30 minutes on the network tariff, plus 19 % tax.
    assert costs.running_costs(asked) == [None, None, None, D("1.55")]
    assert costs.running_costs(asked[3:]) == [alone(running, at)]

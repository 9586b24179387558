"""The running cost a 2.0.1 charger is shown (CostUpdated) is the engine's price of the usage so far: as a
session goes on, that price never falls, whatever the tariff (fees, bounds, periods, a subscription), and it
ends at the price of the whole session, which the charge bills. Pure functions: a few seconds in all."""

from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.money import round_money
from billing.pricing import Allowance, PeriodSpec, TariffSpec, Usage, price_session

T0 = datetime(2025, 3, 12, 21, 0, tzinfo=UTC)  # a Wednesday evening: a night period starts within the session

prices = st.decimals(min_value=0, max_value=2, places=4)


@st.composite
def tariffs(draw) -> TariffSpec:
    min_price = draw(st.none() | st.decimals(min_value=0, max_value=5, places=2))
    max_price = draw(st.none() | st.decimals(min_value=5, max_value=80, places=2))
    night = PeriodSpec(
        name="Night",
        weekdays=frozenset(range(1, 8)),
        start=time(22),
        end=time(6),
        price_per_kwh=draw(st.none() | prices),
        price_per_minute=draw(st.none() | prices),
    )
    return TariffSpec(
        currency=draw(st.sampled_from(["EUR", "JPY", "KWD"])),
        timezone="Europe/Berlin",
        tax_rate=draw(st.decimals(min_value=0, max_value=25, places=2)),
        price_per_kwh=draw(prices),
        price_per_minute=draw(prices),
        start_fee=draw(prices),
        min_price=min_price,
        max_price=max_price,
        min_billable_energy_wh=draw(st.integers(1, 500)),
        periods=draw(st.sampled_from([(), (night,)])),
    )


@st.composite
def readings(draw) -> list[tuple[datetime, int]]:
    """Delivered Wh since the start at each metered event: 1 to 30 minutes apart, at up to 50 kW."""
    moment, delivered, points = T0, 0, [(T0, 0)]
    for _ in range(draw(st.integers(1, 20))):
        minutes = draw(st.integers(1, 30))
        moment += timedelta(minutes=minutes)
        delivered += draw(st.integers(0, 50_000 * minutes // 60))
        points.append((moment, delivered))
    return points


def so_far(points, index: int) -> Usage:
    """The usage a running session shows at its ``index``-th metered event."""
    return Usage(started_at=T0, ended_at=points[index][0], curve=tuple(points[: index + 1]))


@settings(max_examples=200, deadline=None)
@given(
    tariffs(),
    readings(),
    st.integers(0, 20_000),
    st.decimals(min_value=0, max_value=100, places=2),
)
def test_the_running_cost_never_falls_and_ends_at_the_billed_price(tariff, points, included_wh, discount):
    allowance = Allowance(included_wh=included_wh, energy_discount_percent=discount)
    costs = [price_session(tariff, so_far(points, index), allowance).gross for index in range(1, len(points))]
    assert costs == sorted(costs)
    whole = Usage(started_at=T0, ended_at=points[-1][0], curve=tuple(points))
    assert costs[-1] == price_session(tariff, whole, allowance).gross
    assert all(cost == round_money(cost, tariff.currency) for cost in costs)  # rounded as the invoice is

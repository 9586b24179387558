"""Property-based tests of the meter curve and the pricing engine over random readings, glitches and rollovers.

Pure functions with bounded examples (a few seconds in all), and one property over stored sessions in
PostgreSQL with few examples: pricing never raises, whatever a station once made us store.
"""

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.pricing import TariffSpec, Usage, price_session
from billing.usage import REGISTER_LIMIT_WH, build_usage, delivered_curve

MAX_POWER_W = 400_000
T0 = datetime(2025, 3, 12, 9, 0, tzinfo=UTC)
PURE = settings(max_examples=150, deadline=None)


@st.composite
def consistent_session(draw, start=None):
    """meterStart, readings every 1 to 30 minutes (some repeated) at up to 50 kW, meterStop: all plausible."""
    value, moment = draw(st.integers(0, 10**9) if start is None else start), T0
    readings = [(moment, value)]
    for _ in range(draw(st.integers(1, 25))):
        if draw(st.booleans()) and len(readings) > 1:
            readings.append(readings[-1])  # the same reading sent twice
            continue
        minutes = draw(st.integers(1, 30))
        moment += timedelta(minutes=minutes)
        value += draw(st.integers(0, 50_000 * minutes // 60))
        readings.append((moment, value))
    return readings


def glitch_values(readings, modulus=None):
    """A value no reading continuing this session could have: negative, beyond any register, zero, below
    meterStart or a jump no charger could make in the whole session; on a register that rolled over (where
    values below meterStart are the rule), one in the middle of its range."""
    first, last = readings[0][1], readings[-1][1]
    span = max((readings[-1][0] - readings[0][0]).total_seconds(), 60)
    options = [st.integers(-(10**7), -1), st.integers(REGISTER_LIMIT_WH, 10**19)]
    if modulus:
        options += [st.just(0), st.integers(modulus // 4, modulus // 4 * 3)]
    else:
        options.append(st.integers(0, first - 1) if first > 0 else st.just(-1))
        options.append(st.integers(last + int(MAX_POWER_W * span / 3600) + 1, REGISTER_LIMIT_WH - 1))
    return st.one_of(options)


@st.composite
def with_one_glitch(draw, sessions, modulus=None):
    readings = draw(sessions)
    position = draw(st.integers(1, len(readings) - 1))  # between meterStart and meterStop
    (before, _), (after, _) = readings[position - 1], readings[position]
    moment = before + (after - before) * draw(st.sampled_from([0, 0.5, 1]))  # may share a neighbour's time
    glitch = (moment, draw(glitch_values(readings, modulus)))
    return readings, [*readings[:position], glitch, *readings[position:]]


@st.composite
def rolled_over_session(draw):
    """A consistent session on a register that wraps at ``modulus`` during it, starting in its top 1 %."""
    modulus = draw(st.sampled_from([10**7, 10**9, 2**31, 2**32]))
    unwrapped = draw(consistent_session(start=st.just(0)))
    total = unwrapped[-1][1]
    if total < 2:
        unwrapped[-1] = (unwrapped[-1][0] + timedelta(minutes=1), 2)
        total = 2
    offset = draw(st.integers(1, min(total - 1, modulus // 100)))
    start = modulus - offset
    return [(moment, (start + value) % modulus) for moment, value in unwrapped], total, modulus


junk_reading = st.tuples(
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 1, 1), timezones=st.just(UTC)),
    st.one_of(st.integers(-(10**6), 10**7), st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, -1, 2**32 - 1])),
)


@PURE
@given(consistent_session())
def test_consistent_readings_bill_exactly_meter_stop_minus_meter_start(readings):
    curve = delivered_curve(readings, MAX_POWER_W)
    assert curve.energy_wh == readings[-1][1] - readings[0][1]
    assert curve.anomalies == ()


@PURE
@given(with_one_glitch(consistent_session()))
def test_one_glitch_changes_nothing_but_is_flagged(pair):
    clean, glitched = pair
    curve = delivered_curve(glitched, MAX_POWER_W)
    assert curve.energy_wh == delivered_curve(clean, MAX_POWER_W).energy_wh
    assert [code for code, _ in curve.anomalies] == ["meter_glitch"]


@PURE
@given(rolled_over_session())
def test_a_true_rollover_is_counted_across_the_wrap(session):
    readings, total, _ = session
    curve = delivered_curve(readings, MAX_POWER_W)
    assert curve.energy_wh == total
    assert [code for code, _ in curve.anomalies] == ["meter_rollover"]


@PURE
@given(
    rolled_over_session().flatmap(
        lambda session: st.tuples(with_one_glitch(st.just(session[0]), session[2]), st.just(session[1]))
    )
)
def test_a_glitch_in_a_rolled_over_session_changes_nothing(pair):
    (_, glitched), total = pair
    assert delivered_curve(glitched, MAX_POWER_W).energy_wh == total


@PURE
@given(st.lists(junk_reading, max_size=30))
def test_any_readings_give_a_non_negative_rising_curve_and_never_less_than_agreeing_ends_prove(readings):
    curve = delivered_curve(readings, MAX_POWER_W)
    energies = [energy for _, energy in curve.points]
    assert all(energy >= 0 for energy in energies)
    assert energies == sorted(energies)
    assert [moment for moment, _ in curve.points] == sorted(moment for moment, _ in curve.points)
    ordered = sorted(readings, key=lambda reading: reading[0])
    if ordered and 0 <= ordered[0][1] <= ordered[-1][1] < REGISTER_LIMIT_WH:
        (first_at, first), (last_at, last) = ordered[0], ordered[-1]
        if last - first <= MAX_POWER_W * max((last_at - first_at).total_seconds(), 60) / 3600:
            assert curve.energy_wh == last - first  # agreeing ends prove the energy, glitches or not
        else:
            assert curve.energy_wh >= last - first or curve.anomalies


prices = st.decimals(min_value=0, max_value=3, places=4)
tariffs = st.builds(
    TariffSpec,
    currency=st.sampled_from(["EUR", "JPY", "KWD"]),
    timezone=st.just("Europe/Berlin"),
    tax_rate=st.sampled_from([Decimal(0), Decimal("7"), Decimal("19"), Decimal("20")]),
    price_per_kwh=prices,
    price_per_minute=st.decimals(min_value=0, max_value=1, places=4),
    start_fee=st.decimals(min_value=0, max_value=5, places=2),
)


def linear(energy_wh: int, minutes: int = 90) -> Usage:
    end = T0 + timedelta(minutes=minutes)
    return Usage(started_at=T0, ended_at=end, curve=((T0, 0), (end, energy_wh)))


@PURE
@given(tariffs, st.integers(0, 10**7), st.integers(0, 10**7))
def test_the_price_never_falls_as_energy_rises(tariff, first, second):
    low, high = sorted((first, second))
    assert price_session(tariff, linear(low)).net <= price_session(tariff, linear(high)).net


@PURE
@given(tariffs, st.integers(0, 10**7), st.integers(0, 24 * 60))
def test_totals_are_decimals_rounded_once_to_the_currencys_minor_unit(tariff, energy_wh, minutes):
    price = price_session(tariff, linear(energy_wh, minutes))
    digits = {"EUR": 2, "JPY": 0, "KWD": 3}[tariff.currency]
    quantum = Decimal(1).scaleb(-digits)
    for amount in (price.net, price.tax, price.gross):
        assert isinstance(amount, Decimal)
        assert amount == amount.quantize(quantum)
    assert price.net == price.subtotal.quantize(quantum, rounding=ROUND_HALF_UP)
    assert price.tax == (price.net * tariff.tax_rate / 100).quantize(quantum, rounding=ROUND_HALF_UP)
    assert price.gross == price.net + price.tax


@PURE
@given(tariffs, st.lists(junk_reading, max_size=20), junk_reading, junk_reading)
def test_pricing_any_readings_never_raises(tariff, readings, start, end):
    usage = build_usage(
        started_at=start[0], ended_at=end[0], readings=readings, status_events=[], max_power_w=MAX_POWER_W
    )
    price = price_session(tariff, usage)
    assert price.energy_wh >= 0
    assert price.net >= 0


moments = st.sampled_from(
    [
        T0,
        T0 + timedelta(hours=2),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2099, 1, 1, tzinfo=UTC),
    ]
)
register_values = st.one_of(st.integers(-1_000, 2_000_000), st.sampled_from([-100, 0, 2**63 - 1, -(2**63)]))


@pytest.mark.django_db
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    started_at=moments,
    stopped_at=moments,
    meter_start=register_values,
    meter_stop=register_values,
    samples=st.lists(
        st.tuples(st.integers(1, 119), st.one_of(register_values, st.just(1e18))),
        max_size=8,
        unique_by=lambda sample: sample[0],
    ),
)
def test_pricing_a_stored_session_never_raises_whatever_was_stored(
    make_session, make_tariff, operator, driver, started_at, stopped_at, meter_start, meter_stop, samples
):
    from billing.models import SessionCharge
    from billing.services import session_charge_create
    from sessions.models import Transaction

    with transaction.atomic():
        make_tariff()
        session = make_session(
            user=driver,
            meter_start=0,
            energy_wh=0,
            samples=[(started_at + timedelta(minutes=minute), value) for minute, value in samples],
        )
        Transaction.objects.filter(pk=session.pk).update(
            started_at=started_at, stopped_at=stopped_at, meter_start=meter_start, meter_stop=meter_stop
        )
        charge = session_charge_create(transaction_id=session.pk)
        assert charge.energy_wh >= 0
        assert isinstance(charge.gross_amount, Decimal)
        session.refresh_from_db()
        if charge.status == SessionCharge.Status.HELD:
            assert "pricing_held" in [entry["code"] for entry in session.anomalies]
        transaction.set_rollback(True)

"""The pricing engine, element by element and edge by edge, on hand-computed tables (no database)."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.money import round_money, tax_of, to_minor_units
from billing.pricing import Allowance, PeriodSpec, TariffSpec, Usage, planned_usage, price_session
from billing.usage import build_usage, delivered_curve, idle_start

D = Decimal
T0 = datetime(2025, 3, 12, 9, 0, tzinfo=UTC)  # Wednesday, 10:00 in Berlin
ALL_WEEK = frozenset(range(1, 8))


def linear(start: datetime, minutes: float, energy_wh: int, idle_from: datetime | None = None) -> Usage:
    end = start + timedelta(minutes=minutes)
    return Usage(started_at=start, ended_at=end, curve=((start, 0), (end, energy_wh)), charging_ended_at=idle_from)


def tariff(**fields) -> TariffSpec:
    return TariffSpec(**{"currency": "EUR", "tax_rate": D("19"), "timezone": "Europe/Berlin", **fields})


@pytest.mark.parametrize(
    ("fields", "usage", "net", "tax", "gross"),
    [
        # 10 kWh x 0.40
        ({"price_per_kwh": D("0.40")}, linear(T0, 60, 10_000), D("4.00"), D("0.76"), D("4.76")),
        # 90 min x 0.05
        ({"price_per_minute": D("0.05")}, linear(T0, 90, 5_000), D("4.50"), D("0.86"), D("5.36")),
        # start fee only
        ({"start_fee": D("1.00")}, linear(T0, 10, 100), D("1.00"), D("0.19"), D("1.19")),
        # idle: charging ends after 60 min, the car leaves at 100 min, 15 min grace: 25 min x 0.10
        (
            {"idle_price_per_minute": D("0.10"), "idle_grace_minutes": 15},
            linear(T0, 100, 8_000, idle_from=T0 + timedelta(minutes=60)),
            D("2.50"),
            D("0.48"),
            D("2.98"),
        ),
        # idle within the grace period costs nothing
        (
            {"idle_price_per_minute": D("0.10"), "idle_grace_minutes": 45},
            linear(T0, 100, 8_000, idle_from=T0 + timedelta(minutes=60)),
            D("0.00"),
            D("0.00"),
            D("0.00"),
        ),
        # time fee stops when charging stops: 60 charging minutes, not 100
        (
            {"price_per_minute": D("0.05")},
            linear(T0, 100, 8_000, idle_from=T0 + timedelta(minutes=60)),
            D("3.00"),
            D("0.57"),
            D("3.57"),
        ),
        # minimum session price: 0.5 kWh x 0.40 = 0.20, raised to 1.00
        ({"price_per_kwh": D("0.40"), "min_price": D("1.00")}, linear(T0, 10, 500), D("1.00"), D("0.19"), D("1.19")),
        # maximum session price: 100 kWh x 0.40 = 40.00, capped at 30.00
        (
            {"price_per_kwh": D("0.40"), "max_price": D("30")},
            linear(T0, 120, 100_000),
            D("30.00"),
            D("5.70"),
            D("35.70"),
        ),
        # every element at once: 12 kWh x 0.35 + 75 min x 0.02 + 1.00 + (100-75-10) min x 0.05
        (
            {
                "price_per_kwh": D("0.35"),
                "price_per_minute": D("0.02"),
                "start_fee": D("1.00"),
                "idle_price_per_minute": D("0.05"),
                "idle_grace_minutes": 10,
            },
            linear(T0, 100, 12_000, idle_from=T0 + timedelta(minutes=75)),
            D("7.45"),
            D("1.42"),
            D("8.87"),
        ),
    ],
    ids=[
        "energy",
        "time",
        "start-fee",
        "idle-after-grace",
        "idle-within-grace",
        "time-stops-at-idle",
        "minimum",
        "maximum",
        "all-elements",
    ],
)
def test_each_tariff_element_prices_as_computed_by_hand(fields, usage, net, tax, gross):
    price = price_session(tariff(**fields), usage)
    assert (price.net, price.tax, price.gross) == (net, tax, gross)


def test_components_are_rounded_once_at_the_end_not_one_by_one():
    # 1.001 kWh x 0.3335 = 0.3338335; 7 min x 0.0475 = 0.3325; start fee 0.3335: sum 0.9998335.
    # Rounding each to cents first would give 0.33 + 0.33 + 0.33 = 0.99.
    spec = tariff(price_per_kwh=D("0.3335"), price_per_minute=D("0.0475"), start_fee=D("0.3335"), tax_rate=D("0"))
    price = price_session(spec, linear(T0, 7, 1_001))
    assert price.subtotal == D("0.9998335")
    assert price.net == D("1.00")
    assert sum(round_money(line.amount, "EUR") for line in price.lines) == D("0.99")


def test_rounding_is_half_up_for_the_price_and_for_the_tax():
    # 0.5 kWh x 0.25 = 0.125 -> 0.13 (banker's rounding would give 0.12).
    assert price_session(tariff(price_per_kwh=D("0.25"), tax_rate=D("0")), linear(T0, 5, 500)).net == D("0.13")
    # 7 % of 1.50 = 0.105 -> 0.11.
    assert tax_of(D("1.50"), D("7"), "EUR") == D("0.11")


def test_currency_minor_units_are_respected():
    spec = tariff(currency="JPY", price_per_kwh=D("45.5"), tax_rate=D("10"))
    price = price_session(spec, linear(T0, 60, 10_000))  # 455 yen, tax 45.5 -> 46
    assert (price.net, price.tax, price.gross) == (D("455"), D("46"), D("501"))
    assert to_minor_units(D("12.345"), "EUR") == 1235
    assert to_minor_units(D("1.2345"), "KWD") == 1235


@pytest.mark.parametrize("energy_wh", [0, 5])
def test_sessions_below_the_minimum_energy_are_free_even_with_fees(energy_wh):
    spec = tariff(
        price_per_kwh=D("0.40"),
        start_fee=D("2"),
        price_per_minute=D("0.1"),
        min_price=D("3"),
        min_billable_energy_wh=10,
    )
    price = price_session(spec, linear(T0, 30, energy_wh))
    assert price.gross == 0
    assert price.free_reason == "below_min_energy"
    assert price.energy_wh == energy_wh


def test_zero_energy_session_is_priced_when_the_tariff_bills_it():
    spec = tariff(start_fee=D("1.50"), min_billable_energy_wh=0)
    assert price_session(spec, linear(T0, 30, 0)).net == D("1.50")


OFF_PEAK = PeriodSpec(name="Off-peak", weekdays=ALL_WEEK, start=time(22), end=time(6), price_per_kwh=D("0.30"))


def test_energy_is_split_by_time_of_day_along_the_meter_curve():
    # 21:00-23:00 Berlin (UTC+1 in January), 20 kWh evenly: 10 kWh at 0.50, 10 kWh off-peak at 0.30.
    start = datetime(2025, 1, 15, 20, 0, tzinfo=UTC)
    price = price_session(tariff(price_per_kwh=D("0.50"), periods=(OFF_PEAK,)), linear(start, 120, 20_000))
    assert price.net == D("8.00")
    assert {(line.description, line.quantity) for line in price.lines} == {
        ("Energy", D("10")),
        ("Energy, Off-peak", D("10")),
    }


def test_uneven_charging_follows_the_samples_not_the_clock():
    # 90 % of the energy arrives before 22:00 (the car slows down once nearly full).
    start = datetime(2025, 1, 15, 20, 0, tzinfo=UTC)
    curve = ((start, 0), (start + timedelta(minutes=60), 18_000), (start + timedelta(minutes=120), 20_000))
    usage = Usage(started_at=start, ended_at=start + timedelta(minutes=120), curve=curve)
    price = price_session(tariff(price_per_kwh=D("0.50"), periods=(OFF_PEAK,)), usage)
    assert price.net == D("9.60")  # 18 x 0.50 + 2 x 0.30


def test_a_night_period_crosses_midnight_and_belongs_to_the_day_it_starts():
    friday_night = PeriodSpec(
        name="Friday night", weekdays=frozenset({5}), start=time(22), end=time(6), price_per_kwh=D("0.10")
    )
    # Friday 2025-01-17 23:00 to Saturday 01:00 Berlin: all of it is Friday night.
    start = datetime(2025, 1, 17, 22, 0, tzinfo=UTC)
    price = price_session(tariff(price_per_kwh=D("0.50"), periods=(friday_night,)), linear(start, 120, 2_000))
    assert price.net == D("0.20")
    # Saturday 23:00 to Sunday 01:00: not Friday night.
    price = price_session(
        tariff(price_per_kwh=D("0.50"), periods=(friday_night,)), linear(start + timedelta(days=1), 120, 2_000)
    )
    assert price.net == D("1.00")


def test_midnight_crossing_into_the_weekend_changes_the_price_at_midnight():
    weekend = PeriodSpec(
        name="Weekend",
        weekdays=frozenset({6, 7}),
        start=time(0),
        end=time(0),
        price_per_kwh=D("0.20"),
        price_per_minute=D("0"),
    )
    # Friday 23:00 to Saturday 01:00 Berlin, 2 kWh evenly, 0.01 per minute on weekdays only.
    start = datetime(2025, 1, 17, 22, 0, tzinfo=UTC)
    spec = tariff(price_per_kwh=D("0.40"), price_per_minute=D("0.01"), periods=(weekend,))
    price = price_session(spec, linear(start, 120, 2_000))
    assert price.net == D("1.20")  # 1 kWh x 0.40 + 1 kWh x 0.20 + 60 min x 0.01


def test_period_boundaries_follow_daylight_saving_time():
    # Night of 2024-10-26/27 in Berlin: 03:00 CEST becomes 02:00 CET, the night has 9 real hours.
    night = PeriodSpec(name="Night", weekdays=ALL_WEEK, start=time(22), end=time(6), price_per_minute=D("0.02"))
    start = datetime(2024, 10, 26, 20, 0, tzinfo=UTC)  # 22:00 CEST
    end = datetime(2024, 10, 27, 5, 0, tzinfo=UTC)  # 06:00 CET
    usage = Usage(started_at=start, ended_at=end, curve=((start, 0), (end, 9_000)))
    price = price_session(tariff(price_per_minute=D("0.05"), periods=(night,)), usage)
    assert price.net == D("10.80")  # 540 real minutes, all of them at night
    # Spring forward, 2024-03-30/31: 02:00 CET becomes 03:00 CEST, the night has 7 real hours.
    start, end = datetime(2024, 3, 30, 21, 0, tzinfo=UTC), datetime(2024, 3, 31, 4, 0, tzinfo=UTC)
    usage = Usage(started_at=start, ended_at=end, curve=((start, 0), (end, 7_000)))
    assert price_session(tariff(price_per_minute=D("0.05"), periods=(night,)), usage).net == D("8.40")


def test_energy_split_on_the_daylight_saving_night_uses_real_hours():
    # 00:00-03:00 local on 2024-10-27 lasts 4 real hours (22:00-02:00 UTC); the session runs 22:00-05:00 UTC.
    early = PeriodSpec(name="Early", weekdays=ALL_WEEK, start=time(0), end=time(3), price_per_kwh=D("0.10"))
    start, end = datetime(2024, 10, 26, 22, 0, tzinfo=UTC), datetime(2024, 10, 27, 5, 0, tzinfo=UTC)
    usage = Usage(started_at=start, ended_at=end, curve=((start, 0), (end, 7_000)))
    price = price_session(tariff(price_per_kwh=D("0.50"), periods=(early,)), usage)
    assert price.net == D("1.90")  # 4 kWh x 0.10 + 3 kWh x 0.50


def test_idle_fee_can_be_switched_off_at_night():
    night = PeriodSpec(name="Night", weekdays=ALL_WEEK, start=time(22), end=time(6), idle_price_per_minute=D("0"))
    # Charging 20:00-21:00 Berlin, plugged in until 23:00: only the 60 idle minutes before 22:00 are billed.
    start = datetime(2025, 1, 15, 19, 0, tzinfo=UTC)
    usage = Usage(
        started_at=start,
        ended_at=start + timedelta(minutes=180),
        curve=((start, 0), (start + timedelta(minutes=60), 10_000)),
        charging_ended_at=start + timedelta(minutes=60),
    )
    assert price_session(tariff(idle_price_per_minute=D("0.10"), periods=(night,)), usage).net == D("6.00")


def test_subscription_included_energy_comes_first_then_the_discount():
    spec = tariff(price_per_kwh=D("0.50"), tax_rate=D("0"))
    price = price_session(spec, linear(T0, 60, 10_000), Allowance(included_wh=4_000, energy_discount_percent=D("20")))
    assert price.included_wh == 4_000
    assert price.net == D("2.40")  # 6 kWh x 0.40
    used_up = price_session(spec, linear(T0, 60, 10_000), Allowance(included_wh=50_000))
    assert (used_up.net, used_up.included_wh) == (D("0.00"), 10_000)


@given(
    minutes=st.integers(0, 600),
    energy_wh=st.integers(0, 200_000),
    idle_after=st.one_of(st.none(), st.integers(0, 600)),
    included_wh=st.integers(0, 50_000),
    discount=st.integers(0, 100),
    max_price=st.one_of(st.none(), st.integers(0, 100)),
)
def test_the_stored_breakdown_is_the_price_as_json(minutes, energy_wh, idle_after, included_wh, discount, max_price):
    """``Price.as_dict`` (built without ``asdict``'s deep copies) is ``asdict``'s record with Decimals as strings."""
    import json
    from dataclasses import asdict

    spec = tariff(
        price_per_kwh=D("0.39"),
        price_per_minute=D("0.02"),
        start_fee=D("0.50"),
        idle_price_per_minute=D("0.10"),
        max_price=None if max_price is None else D(max_price),
        periods=(PeriodSpec("Night", ALL_WEEK, time(22), time(6), price_per_kwh=D("0.29")),),
    )
    idle_from = None if idle_after is None else T0 + timedelta(minutes=min(idle_after, minutes))
    price = price_session(
        spec, linear(T0, minutes, energy_wh, idle_from), Allowance(included_wh, energy_discount_percent=D(discount))
    )
    record = asdict(price)
    expected = json.loads(json.dumps(record, default=str))
    assert price.as_dict() == expected
    assert json.loads(json.dumps(price.as_dict())) == expected


def test_estimate_prices_planned_energy_and_time():
    usage = planned_usage(starts_at=T0, energy_wh=20_000, minutes=45)
    price = price_session(tariff(price_per_kwh=D("0.40"), price_per_minute=D("0.02"), start_fee=D("0.50")), usage)
    assert price.net == D("9.40")
    assert price.idle_seconds == 0


# Meter registers: resets, rollovers, glitches.


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


@pytest.mark.parametrize(
    ("readings", "delivered"),
    [
        ([(at(0), 50_000), (at(15), 52_000), (at(30), 54_500)], 4_500),
        # rolled over at 10^9 Wh between two readings
        ([(at(0), 999_999_000), (at(15), 999_999_800), (at(30), 300), (at(45), 1_300)], 2_300),
        # rolled over at 2^32 Wh
        ([(at(0), 2**32 - 1_000), (at(15), 500)], 1_500),
        # reset to zero mid-session: counted from zero since
        ([(at(0), 1_050_000), (at(15), 1_052_000), (at(30), 1_000), (at(45), 3_000)], 5_000),
        # meter replaced (a lower, arbitrary reading): that interval is unknown and not billed
        ([(at(0), 1_000_000), (at(15), 1_002_000), (at(30), 900_000), (at(45), 901_000)], 3_000),
        # a glitch no charger can deliver is ignored
        ([(at(0), 10_000), (at(15), 5_000_000), (at(30), 11_000), (at(45), 12_000)], 2_000),
    ],
    ids=["plain", "rollover-decimal", "rollover-binary", "reset", "replaced", "glitch"],
)
def test_meter_register_resets_rollovers_and_glitches(readings, delivered):
    assert delivered_curve(readings, max_power_w=400_000).energy_wh == delivered


@pytest.mark.parametrize("glitch", [0, -1, -5_000, 10**18])
def test_one_low_or_absurd_reading_is_discarded_and_flagged_not_taken_for_a_reset(glitch):
    # The session: meterStart 100000, one bad reading among five, meterStop 105000.
    values = [100_000, 101_000, 102_000, glitch, 103_000, 104_000, 105_000]
    curve = delivered_curve([(at(15 * index), value) for index, value in enumerate(values)], 400_000)
    assert curve.energy_wh == 5_000
    assert [point[1] for point in curve.points] == [0, 1_000, 2_000, 3_000, 4_000, 5_000]
    assert curve.anomalies == (
        (
            "meter_glitch",
            f"reading {glitch} Wh at {at(45).isoformat()} discarded: "
            + (
                "off the rising run from the first reading to the last"
                if glitch == 0
                else "negative"
                if glitch < 0
                else "beyond any register"
            ),
        ),
    )


def test_a_glitch_in_a_session_that_rolled_over_is_discarded_too():
    values = [999_990_000, 999_995_000, 0, 999_999_000, 2_000, 6_000]
    curve = delivered_curve([(at(15 * index), value) for index, value in enumerate(values)], 400_000)
    assert curve.energy_wh == 16_000
    assert [code for code, _ in curve.anomalies] == ["meter_glitch", "meter_rollover"]


def test_a_glitch_at_meter_start_does_not_hide_a_rollover_the_ends_agree_on():
    # Found by hypothesis: a zero sent with meterStart looked like a reset there, and the wrapped readings that
    # followed (also near zero) seemed to confirm it. meterStart and meterStop agree across the wrap: 6,668 Wh.
    values = [(0, 9_993_333), (0, 0), (9, 0), (10, 0), (11, 1)]
    curve = delivered_curve([(at(minute), value) for minute, value in values], 400_000)
    assert curve.energy_wh == 6_668
    assert "meter_rollover" in [code for code, _ in curve.anomalies]


def test_a_drop_far_from_a_wrap_boundary_is_no_rollover():
    # 50 kWh on the register, then 100 Wh after a 30-hour gap: wrapping at 10^7 would be plausible energy
    # at 400 kW, but 50 kWh is nowhere near the top of the range. Confirmed by the stop, it is a reset.
    readings = [(at(0), 50_000), (at(1800), 100), (at(1815), 1_100)]
    curve = delivered_curve(readings, 400_000)
    assert curve.energy_wh == 1_100
    assert [code for code, _ in curve.anomalies] == ["meter_reset"]


def test_a_lone_low_meter_stop_is_a_glitch_and_the_last_good_reading_counts():
    readings = [(at(0), 100_000), (at(15), 101_000), (at(30), 102_000), (at(45), 0)]
    curve = delivered_curve(readings, 400_000)
    assert curve.energy_wh == 2_000
    assert [code for code, _ in curve.anomalies] == ["meter_glitch"]


def test_an_implausible_jump_that_persists_is_not_billed_but_counting_goes_on():
    readings = [(at(0), 10_000), (at(15), 12_000), (at(30), 900_000), (at(45), 902_000), (at(60), 903_000)]
    curve = delivered_curve(readings, 400_000)
    assert curve.energy_wh == 2_000 + 3_000
    assert [code for code, _ in curve.anomalies] == ["meter_reset"]


def test_a_negative_meter_start_counts_from_the_first_valid_reading():
    curve = delivered_curve([(at(0), -100), (at(15), 5_000), (at(30), 7_000)], 400_000)
    assert curve.energy_wh == 2_000
    assert [code for code, _ in curve.anomalies] == ["meter_glitch"]


def test_idle_starts_when_the_status_says_charging_stopped():
    curve = delivered_curve([(at(0), 0), (at(30), 5_000), (at(60), 10_000), (at(90), 10_000)], 400_000)
    events = [(at(0), "Preparing"), (at(1), "Charging"), (at(58), "SuspendedEV"), (at(59), "Finishing")]
    assert idle_start(curve.points, events, at(100)) == at(58)


def test_idle_never_starts_before_energy_stopped_rising():
    # The station said SuspendedEV at 20 min, but the register was still below its final value at 60 min.
    curve = delivered_curve([(at(0), 0), (at(30), 5_000), (at(60), 8_000), (at(90), 10_000), (at(99), 10_000)], 400_000)
    assert idle_start(curve.points, [(at(20), "SuspendedEV")], at(100)) == at(60)


def test_idle_from_a_flat_energy_tail_without_status_history():
    curve = delivered_curve([(at(0), 0), (at(30), 5_000), (at(45), 7_000), (at(60), 7_000), (at(90), 7_000)], 400_000)
    assert idle_start(curve.points, [], at(95)) == at(45)


def test_a_pause_in_the_middle_is_not_idle_time():
    curve = delivered_curve([(at(0), 0), (at(30), 5_000), (at(45), 5_000), (at(60), 9_000)], 400_000)
    events = [(at(1), "Charging"), (at(30), "SuspendedEVSE"), (at(46), "Charging")]
    assert idle_start(curve.points, events, at(60)) is None


def test_usage_of_a_session_with_a_status_after_the_stop_only_counts_until_the_stop():
    usage = build_usage(
        started_at=at(0),
        ended_at=at(100),
        readings=[(at(0), 0), (at(50), 10_000), (at(100), 10_000)],
        status_events=[(at(1), "Charging"), (at(60), "SuspendedEV")],
        max_power_w=400_000,
    )
    assert usage.charging_ended_at == at(60)
    assert usage.energy_wh == 10_000

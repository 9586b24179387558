"""The meter-reading normaliser and the energy cross-check (pure functions)."""

from datetime import UTC, datetime, timedelta

import pytest

from sessions.metering import energy_cross_check, energy_registers, live_values, natural_unit, normalise

T1 = datetime(2026, 1, 1, 10, tzinfo=UTC)
T2 = T1 + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("value", "unit", "stored"),
    [
        ("1.5", "kWh", (1500, "Wh")),
        ("1500", "Wh", (1500, "Wh")),
        ("2", "kvarh", (2000, "varh")),
        ("7.4", "kW", (7400, "W")),
        ("11000", "W", (11000, "W")),
        ("3", "kvar", (3000, "var")),
        ("22", "kVA", (22000, "VA")),
        ("16", "A", (16, "A")),
        ("230", "V", (230, "V")),
        ("80", "Percent", (80, "Percent")),
        ("50", "Hertz", (50, "Hz")),
        ("25", "Celcius", (25, "Celsius")),
        ("212", "Fahrenheit", (100, "Celsius")),
        ("273.15", "K", (0, "Celsius")),
    ],
)
def test_units_are_normalised(value, unit, stored):
    (reading,) = normalise([(T1, [{"value": value, "unit": unit, "measurand": "Voltage"}])])
    assert (round(reading.value, 6), reading.unit) == stored


def test_the_natural_unit_replaces_the_missing_one():
    assert [
        natural_unit(m)
        for m in ("Current.Offered", "Power.Active.Export", "Energy.Reactive.Import.Interval", "SoC", "Power.Factor")
    ] == ["A", "W", "varh", "Percent", ""]
    (reading,) = normalise([(T1, [{"value": "7", "measurand": "Power.Active.Import"}])])
    assert (reading.value, reading.unit, reading.location, reading.context) == (7, "W", "Outlet", "Sample.Periodic")


def test_live_values_take_the_latest_moment_and_sum_phases_when_there_is_no_total():
    readings = normalise(
        [
            (T1, [{"value": "1", "measurand": "Power.Active.Import", "unit": "kW"}, {"value": "10", "unit": "kWh"}]),
            (
                T2,
                [
                    {"value": "2", "measurand": "Power.Active.Import", "unit": "kW", "phase": phase}
                    for phase in ("L1", "L2", "L3")
                ],
            ),
            (T2, [{"value": "5", "measurand": "Power.Active.Import", "unit": "kW", "location": "Inlet"}]),
        ]
    )
    live = live_values(readings)
    assert (live.power_w, live.energy_register_wh, live.soc_percent, live.measured_at) == (6000, 10000, None, T2)


def test_energy_registers_are_one_total_per_moment_at_the_outlet():
    readings = normalise(
        [
            (T1, [{"value": "1.0", "unit": "kWh"}, {"value": "9.0", "unit": "kWh", "location": "Inlet"}]),
            (T2, [{"value": v, "unit": "kWh", "phase": p} for v, p in (("0.5", "L1"), ("0.5", "L2"), ("0.6", "L3"))]),
        ]
    )
    assert energy_registers(readings) == [1000, 1600]


@pytest.mark.parametrize(
    ("meter_start", "meter_stop", "registers", "expected"),
    [
        (1000, 5000, [1000, 3000, 5000], (4000, False)),
        (1000, 5000, [1005, 5040], (4000, False)),  # within 1 % (40 Wh): rounding, not a mismatch
        (1000, 5000, [900, 3000], (4000, True)),
        (1000, 5000, [7000], (4000, True)),
        (5000, 1000, [], (None, True)),
        (None, 5000, [3000, 5000], (2000, False)),
        (None, 5000, [], (None, False)),
    ],
)
def test_energy_is_meter_stop_minus_meter_start_cross_checked_with_the_registers(
    meter_start, meter_stop, registers, expected
):
    check = energy_cross_check(meter_start=meter_start, meter_stop=meter_stop, registers=registers)
    assert (check.energy_wh, check.mismatch) == expected

"""Which meter values a station sends are taken (``sessions.metering.readings_parse``): pure, no database."""

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessions.metering import MAX_MAGNITUDE, readings_parse

AT = datetime(2026, 1, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize("value", ["abc", "", "NaN", "nan", "Infinity", "-inf", "9.99e307", "1e18", "1e400", "-1"])
def test_values_no_meter_shows_are_refused_with_their_path(value):
    readings, rejected = readings_parse([(AT, [{"value": "5"}, {"value": value}])])
    assert [reading.value for reading in readings] == [5]
    assert [problem.path for problem in rejected] == ["0/sampledValue/1/value"]


def test_a_negative_power_or_temperature_is_a_value_not_a_glitch():
    readings, rejected = readings_parse(
        [(AT, [{"value": "-300", "measurand": "Power.Active.Import"}, {"value": "-12", "measurand": "Temperature"}])]
    )
    assert rejected == [] and sorted(reading.value for reading in readings) == [-300, -12]


@given(
    value=st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=12)),
    unit=st.sampled_from(["Wh", "kWh", "W", "kW", "A", "V", "Percent", "K", "Fahrenheit"]),
    measurand=st.sampled_from(["Energy.Active.Import.Register", "Power.Active.Import", "Voltage", "SoC"]),
)
def test_every_value_kept_is_a_finite_plausible_number_and_every_other_is_refused(value, unit, measurand):
    readings, rejected = readings_parse([(AT, [{"value": value, "unit": unit, "measurand": measurand}])])
    assert len(readings) + len(rejected) == 1
    for reading in readings:
        assert math.isfinite(reading.value) and abs(reading.value) <= MAX_MAGNITUDE
        if measurand.endswith(".Register"):
            assert reading.value >= 0

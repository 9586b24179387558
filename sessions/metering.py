"""Meter readings as stations send them (MeterValues, transactionData) normalised to the units we store.

Pure functions, no database. Energy is stored in Wh (varh for reactive), power in W (var, VA),
current in A, voltage in V, temperature in °C, frequency in Hz, state of charge in percent. Defaults
follow OCPP 1.6 (measurand Energy.Active.Import.Register, location Outlet, context Sample.Periodic),
except the unit: the spec's default Wh is wrong for every measurand but energy, and stations that
leave it out mean the measurand's natural unit.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from stations.plausibility import ValueRejected

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
SOC = "SoC"
SIGNED = "SignedData"
# No meter shows more than this in the stored unit (a TWh register, a TW of power): larger is a broken value.
MAX_MAGNITUDE = 1e12
# Where a reading measures what the car receives; "Inlet" and "Body" measure the station itself.
DELIVERY_LOCATIONS = frozenset({"Outlet", "Cable", "EV"})

# unit as sent -> (stored unit, factor)
UNIT_SCALES = {
    "Wh": ("Wh", 1),
    "kWh": ("Wh", 1000),
    "varh": ("varh", 1),
    "kvarh": ("varh", 1000),
    "W": ("W", 1),
    "kW": ("W", 1000),
    "var": ("var", 1),
    "kvar": ("var", 1000),
    "VA": ("VA", 1),
    "kVA": ("VA", 1000),
    "A": ("A", 1),
    "V": ("V", 1),
    "Percent": ("Percent", 1),
    "Hertz": ("Hz", 1),
    "Hz": ("Hz", 1),
    "Celsius": ("Celsius", 1),
    "Celcius": ("Celsius", 1),  # 1.6's schema has both spellings
}
TEMPERATURES = {"K": lambda kelvin: kelvin - 273.15, "Fahrenheit": lambda fahrenheit: (fahrenheit - 32) * 5 / 9}
NATURAL_UNITS = {
    "Energy.Active": "Wh",
    "Energy.Reactive": "varh",
    "Power.Active": "W",
    "Power.Offered": "W",
    "Power.Reactive": "var",
    "Power.Factor": "",
    "Current": "A",
    "Voltage": "V",
    "Frequency": "Hz",
    "Temperature": "Celsius",
    "SoC": "Percent",
    "RPM": "rpm",
}


@dataclass(frozen=True, slots=True)
class Reading:
    timestamp: datetime
    measurand: str
    phase: str
    location: str
    context: str
    unit: str
    value: float | None
    signed_data: str = ""

    @property
    def key(self) -> tuple:
        return (self.timestamp, self.measurand, self.phase, self.location, self.context)


@dataclass(frozen=True)
class LiveValues:
    measured_at: datetime
    power_w: int | None = None
    soc_percent: float | None = None
    energy_register_wh: int | None = None


@dataclass(frozen=True)
class EnergyCheck:
    energy_wh: int | None
    mismatch: bool
    detail: str = ""


def natural_unit(measurand: str) -> str:
    return next((unit for prefix, unit in NATURAL_UNITS.items() if measurand.startswith(prefix)), "Wh")


def normalise(meter_values: Iterable[tuple[datetime, Sequence[dict]]]) -> list[Reading]:
    """Readings from ``(timestamp, sampledValue list)`` pairs (sampled values with snake_case keys).

    Raises ``ValueRejected`` for the first value that is not a plausible number (see ``readings_parse``).
    """
    readings, rejected = readings_parse(meter_values)
    if rejected:
        raise rejected[0]
    return readings


def readings_parse(
    meter_values: Iterable[tuple[datetime, Sequence[dict]]],
) -> tuple[list[Reading], list[ValueRejected]]:
    """The readings, and each value refused (its path ``<index>/sampledValue/<index>/value`` and why).

    Refused: a value that is not a finite decimal number ("abc", "NaN", "Infinity"), one beyond
    ``MAX_MAGNITUDE`` once in the stored unit (9.99e307, 1e18 Wh), a negative energy register. A
    register that decreases is kept: only the whole curve shows which reading is wrong (billing's rule).
    A SignedData value is kept as the signature of the plain reading of the same measurand, or alone.
    """
    readings: dict[tuple, Reading] = {}
    rejected: list[ValueRejected] = []
    for index, (timestamp, sampled_values) in enumerate(meter_values):
        for position, sampled in enumerate(sampled_values):
            try:
                reading = _reading(timestamp, sampled)
            except ValueRejected as problem:
                path = f"{index}/sampledValue/{position}/value"
                rejected.append(ValueRejected(path, problem.message))
                continue
            known = readings.get(reading.key)
            if known is None:
                readings[reading.key] = reading
            elif reading.signed_data and not known.signed_data:
                readings[reading.key] = replace(known, signed_data=reading.signed_data)
            elif known.value is None and reading.value is not None:
                readings[reading.key] = replace(reading, signed_data=known.signed_data)
    return list(readings.values()), rejected


def _reading(timestamp: datetime, sampled: dict) -> Reading:
    measurand = sampled.get("measurand") or ENERGY_REGISTER
    unit = sampled.get("unit") or natural_unit(measurand)
    common = {
        "timestamp": timestamp,
        "measurand": measurand,
        "phase": sampled.get("phase") or "",
        "location": sampled.get("location") or "Outlet",
        "context": sampled.get("context") or "Sample.Periodic",
    }
    raw = sampled.get("value", "")
    if sampled.get("format") == SIGNED:
        stored_unit = UNIT_SCALES.get(unit, (unit, 1))[0] if unit not in TEMPERATURES else "Celsius"
        return Reading(**common, unit=stored_unit, value=None, signed_data=raw)
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise ValueRejected("value", f"{measurand} {str(raw)[:40]!r} is not a decimal number.") from None
    if unit in TEMPERATURES:
        stored_unit, value = "Celsius", TEMPERATURES[unit](number)
    else:
        stored_unit, factor = UNIT_SCALES.get(unit, (unit, 1))
        value = number * factor
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise ValueRejected("value", f"{measurand} {str(raw)[:40]} {unit} is beyond what a meter can show.")
    if value < 0 and measurand.startswith("Energy") and measurand.endswith(".Register"):
        raise ValueRejected("value", f"{measurand} {str(raw)[:40]} {unit}: an energy register cannot be negative.")
    return Reading(**common, unit=stored_unit, value=value)


def _total(readings: list[Reading]) -> float | None:
    """The three-phase total: the reading without a phase, else the sum of the line phases."""
    overall = [reading.value for reading in readings if not reading.phase]
    if overall:
        return overall[0]
    lines = [reading.value for reading in readings if reading.phase in ("L1", "L2", "L3")]
    return sum(lines) if lines else None


def _latest_total(readings: Sequence[Reading], measurand: str, locations=DELIVERY_LOCATIONS):
    chosen = [r for r in readings if r.measurand == measurand and r.location in locations and r.value is not None]
    if not chosen:
        return None, None
    latest = max(reading.timestamp for reading in chosen)
    return latest, _total([reading for reading in chosen if reading.timestamp == latest])


def live_values(readings: Sequence[Reading]) -> LiveValues | None:
    """What a connector shows now after these readings: its latest power, state of charge and register."""
    power_at, power = _latest_total(readings, POWER)
    soc_at, soc = _latest_total(readings, SOC, locations=DELIVERY_LOCATIONS | {"Body", "Inlet"})
    energy_at, energy = _latest_total(readings, ENERGY_REGISTER)
    moments = [moment for moment in (power_at, soc_at, energy_at) if moment is not None]
    if not moments:
        return None
    return LiveValues(
        measured_at=max(moments),
        power_w=None if power is None else round(power),
        soc_percent=soc,
        energy_register_wh=None if energy is None else round(energy),
    )


def last_register(readings: Sequence[Reading]) -> float | None:
    """The latest active import register total (Wh) among the readings, if any."""
    return _latest_total(readings, ENERGY_REGISTER)[1]


def energy_registers(readings: Iterable[Reading]) -> list[float]:
    """The active import register totals (Wh) among the readings, one per moment."""
    by_moment: dict[datetime, list[Reading]] = {}
    for reading in readings:
        delivered = reading.location in DELIVERY_LOCATIONS and reading.value is not None
        if reading.measurand == ENERGY_REGISTER and delivered:
            by_moment.setdefault(reading.timestamp, []).append(reading)
    return [total for group in by_moment.values() if (total := _total(group)) is not None]


def energy_cross_check(*, meter_start: int | None, meter_stop: int, registers: Sequence[float]) -> EnergyCheck:
    """Energy of a session (meterStop - meterStart), checked against the register readings during it.

    A register reading outside [meterStart, meterStop] (beyond 1 % or 10 Wh for rounding), or a meter
    that ran backwards, is a mismatch: the session needs an operator's look before it is billed.
    """
    if meter_start is None:
        if len(registers) >= 2:
            return EnergyCheck(round(max(registers) - min(registers)), False, "from register readings only")
        return EnergyCheck(None, False, "meter start unknown")
    energy = meter_stop - meter_start
    if energy < 0:
        return EnergyCheck(None, True, f"meter ran backwards: start {meter_start} Wh, stop {meter_stop} Wh")
    tolerance = max(10, energy / 100)
    outside = [value for value in registers if value < meter_start - tolerance or value > meter_stop + tolerance]
    if outside:
        return EnergyCheck(
            energy,
            True,
            f"{len(outside)} register reading(s) outside {meter_start}..{meter_stop} Wh, e.g. {outside[0]:g} Wh",
        )
    return EnergyCheck(energy, False)

"""From raw meter readings and status history to a session's ``Usage``: delivered energy and idle time.

Meter registers are not always kind: stations send zero, negative or absurd readings, registers roll over
and meters get reset or replaced. The rules, in order (every reading set aside is reported as an anomaly
so that the operator sees why the billed energy differs from what the station sent):

- A reading below zero or of a terawatt-hour or more (``REGISTER_LIMIT_WH``) is never a register value:
  it is a glitch, discarded.
- When the first and last readings (meterStart and meterStop) agree -- the register rose by no more than
  a charger can deliver in that time (``CMS_BILLING_MAX_CHARGER_POWER_W``) -- they prove the energy: the
  billed energy is their difference, and the readings in between only shape the curve. The readings
  kept are the longest non-decreasing run between the two; the others are glitches.
- When they agree across a rollover (see below), the same holds on the unwrapped register: readings
  below meterStart are taken as after the wrap.
- Otherwise the register broke somewhere (rolled over, reset, replaced, or an endpoint is a glitch) and
  the readings are followed one by one. A reading that continues from the last accepted one (not lower,
  and no faster than a charger) is accepted. One that breaks away waits for evidence: if the next reading
  continues from the last accepted one, it was a glitch; if the next continues from it, the register
  really broke there. A lone break at the very end is a glitch, unless it is a rollover.
- A break is a rollover only where a register can roll over -- at 2^31, 2^32 or a power of ten from
  10^7 Wh, the reading before it in the top 1 % of the range and the one after in the bottom 1 %, the
  wrapped increase no faster than a charger. Another decrease is a reset: counted from zero when that is
  plausible, else (meter replaced, register set to some value) that interval's energy is unknown and not
  billed. An implausible increase that the following readings confirm is a jump, likewise not billed.

Idle time (the car plugged in, no longer charging) is the trailing part of the session after charging
ended. The status history says when (SuspendedEV, SuspendedEVSE or Finishing after the last Charging);
it is never taken earlier than the last reading at which energy was still rising. Without such a status,
the energy curve says it: from the first reading of a flat tail (two or more readings at the final value).
"""

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from billing.pricing import Usage

IDLE_STATUSES = frozenset({"SuspendedEV", "SuspendedEVSE", "Finishing"})
# No charger's register reaches 1 TWh: at 400 kW that is 285 years of charging.
REGISTER_LIMIT_WH = 10**12
_BINARY_MODULI = (2**31, 2**32)
# No energy register wraps below 10 MWh (10^7 Wh).
_SMALLEST_DECIMAL_MODULUS_DIGITS = 7
# A rollover leaves the top of the register's range for the bottom: the last 1 % before the wrap, the first after.
_WRAP_MARGIN = 100
_MIN_INTERVAL_SECONDS = 60

Reading = tuple[datetime, int]


@dataclass(frozen=True)
class MeterCurve:
    """Cumulative delivered Wh at each accepted reading, from ``(first moment, 0)``, and what was set aside:
    ``anomalies`` holds ``(code, detail)`` pairs (codes ``meter_glitch``, ``meter_rollover``, ``meter_reset``)."""

    points: tuple[Reading, ...]
    anomalies: tuple[tuple[str, str], ...] = ()

    @property
    def energy_wh(self) -> int:
        return self.points[-1][1] if self.points else 0


def _plausible_wh(earlier: Reading, later: Reading, max_power_w: int) -> float:
    seconds = max((later[0] - earlier[0]).total_seconds(), _MIN_INTERVAL_SECONDS)
    return max_power_w * seconds / 3600


def _continues(anchor: Reading, reading: Reading, max_power_w: int) -> bool:
    return 0 <= reading[1] - anchor[1] <= _plausible_wh(anchor, reading, max_power_w)


def _rollover_modulus(previous: Reading, reading: Reading, max_power_w: int) -> int | None:
    """The modulus of a register wrap from ``previous`` to ``reading``, or None if it cannot be one."""
    before, after = previous[1], reading[1]
    if after >= before:
        return None
    decimal = 10 ** max(len(str(before)), _SMALLEST_DECIMAL_MODULUS_DIGITS)
    for modulus in (decimal, *(modulus for modulus in _BINARY_MODULI if modulus > before)):
        margin = modulus // _WRAP_MARGIN
        increase = modulus - before + after
        if modulus - before <= margin and after < margin and increase <= _plausible_wh(previous, reading, max_power_w):
            return modulus
    return None


def _rollover_increase(previous: Reading, reading: Reading, max_power_w: int) -> int | None:
    """The energy across a register wrap from ``previous`` to ``reading``, or None if it cannot be one."""
    modulus = _rollover_modulus(previous, reading, max_power_w)
    return None if modulus is None else modulus - previous[1] + reading[1]


def _describe(reading: Reading) -> str:
    return f"{reading[1]} Wh at {reading[0].isoformat()}"


def _glitch(reading: Reading, why: str) -> tuple[str, str]:
    return "meter_glitch", f"reading {_describe(reading)} discarded: {why}"


def _longest_non_decreasing(values: Sequence[int]) -> set[int]:
    """Indexes of a longest non-decreasing subsequence of ``values`` (patience sorting, O(n log n))."""
    tails: list[int] = []  # tails[k]: smallest last value of a run of length k + 1
    tail_index: list[int] = []
    parent = [-1] * len(values)
    for index, value in enumerate(values):
        length = bisect_right(tails, value)
        parent[index] = tail_index[length - 1] if length else -1
        if length == len(tails):
            tails.append(value)
            tail_index.append(index)
        else:
            tails[length], tail_index[length] = value, index
    kept, index = set(), tail_index[-1] if tail_index else -1
    while index >= 0:
        kept.add(index)
        index = parent[index]
    return kept


def _between_agreeing_ends(readings: Sequence[Reading], modulus: int | None = None) -> MeterCurve:
    """The rising run from meterStart to meterStop; with a ``modulus`` the register wrapped once between
    them, and a reading below meterStart is taken as after the wrap."""
    first, last = readings[0], readings[-1]

    def unwrapped(value: int) -> int:
        return value + modulus if modulus and value < first[1] else value

    inner = readings[1:-1]
    candidates = [index for index, (_, value) in enumerate(inner) if first[1] <= unwrapped(value) <= unwrapped(last[1])]
    kept = {
        candidates[index] for index in _longest_non_decreasing([unwrapped(inner[index][1]) for index in candidates])
    }
    points = [(first[0], 0)]
    points += [(moment, unwrapped(value) - first[1]) for index, (moment, value) in enumerate(inner) if index in kept]
    points.append((last[0], unwrapped(last[1]) - first[1]))
    events = [
        (reading[0], _glitch(reading, "off the rising run from the first reading to the last"))
        for index, reading in enumerate(inner)
        if index not in kept
    ]
    if modulus:
        wrapped_at = next(moment for moment, delivered in points if first[1] + delivered >= modulus)
        moved = f"from {_describe(first)} by {wrapped_at.isoformat()}"
        events.append((wrapped_at, ("meter_rollover", f"register rolled over at {modulus} Wh {moved}")))
    return MeterCurve(tuple(points), tuple(anomaly for _, anomaly in sorted(events, key=lambda event: event[0])))


def _followed(readings: Sequence[Reading], max_power_w: int) -> MeterCurve:
    anchor = readings[0]
    delivered = 0
    points = [(anchor[0], 0)]
    anomalies: list[tuple[str, str]] = []
    pending: Reading | None = None  # broke away from the anchor; the next reading tells whether it was a glitch

    def cross_break(to: Reading) -> int:
        """Energy from the anchor to ``to``, a break the next reading confirmed (or a trailing rollover)."""
        rolled = _rollover_increase(anchor, to, max_power_w)
        if rolled is not None:
            anomalies.append(("meter_rollover", f"register rolled over from {_describe(anchor)} to {_describe(to)}"))
            return rolled
        moved = f"from {_describe(anchor)} to {_describe(to)}"
        if to[1] < anchor[1] and to[1] <= _plausible_wh(anchor, to, max_power_w):
            anomalies.append(("meter_reset", f"register reset {moved}: {to[1]} Wh counted from zero"))
            return to[1]
        anomalies.append(("meter_reset", f"register jumped {moved}: that interval's energy is unknown, not billed"))
        return 0

    for reading in readings[1:]:
        if _continues(anchor, reading, max_power_w):
            if pending is not None:
                anomalies.append(_glitch(pending, "the next reading continues from the one before"))
                pending = None
            delivered += reading[1] - anchor[1]
        elif pending is not None and _continues(pending, reading, max_power_w):
            delivered += cross_break(pending)
            points.append((pending[0], delivered))
            delivered += reading[1] - pending[1]
            pending = None
        else:
            if pending is not None:
                anomalies.append(_glitch(pending, "no reading continues from it"))
            pending = reading
            continue
        points.append((reading[0], delivered))
        anchor = reading
    if pending is not None:
        if _rollover_increase(anchor, pending, max_power_w) is not None:
            delivered += cross_break(pending)
            points.append((pending[0], delivered))
        else:
            anomalies.append(_glitch(pending, "no reading continues from it"))
    return MeterCurve(tuple(points), tuple(anomalies))


def delivered_curve(readings: Sequence[Reading], max_power_w: int) -> MeterCurve:
    """The delivered energy along ``readings`` (register Wh, the first at the start, the last at the stop)."""
    ordered = sorted(readings, key=lambda reading: reading[0])
    valid = [reading for reading in ordered if 0 <= reading[1] < REGISTER_LIMIT_WH]
    invalid = tuple(
        _glitch(reading, "negative" if reading[1] < 0 else "beyond any register")
        for reading in ordered
        if not 0 <= reading[1] < REGISTER_LIMIT_WH
    )
    if not valid:
        return MeterCurve((), invalid)
    first, last = valid[0], valid[-1]
    modulus = _rollover_modulus(first, last, max_power_w) if len(valid) > 1 else None
    if len(valid) > 1 and _continues(first, last, max_power_w):
        curve = _between_agreeing_ends(valid)
    elif modulus is not None:
        curve = _between_agreeing_ends(valid, modulus)
    else:
        curve = _followed(valid, max_power_w)
    return MeterCurve(curve.points, invalid + curve.anomalies)


def idle_start(
    curve: Sequence[tuple[datetime, int]], status_events: Iterable[tuple[datetime, str]], ended_at: datetime
) -> datetime | None:
    """When the trailing idle time began, or None when the car charged (or may have) until the end."""
    if not curve:
        return None
    total = curve[-1][1]
    flat_index = next(index for index, (_, delivered) in enumerate(curve) if delivered == total)
    flat_from = curve[flat_index][0]
    last_rise = curve[flat_index - 1][0] if flat_index > 0 else None

    idle_since = None
    for moment, status in status_events:
        if status in IDLE_STATUSES:
            idle_since = idle_since or moment
        else:
            idle_since = None
    if idle_since is not None:
        start = max(idle_since, last_rise) if last_rise else idle_since
    elif flat_from < curve[-1][0]:
        start = flat_from
    else:
        return None
    return start if start < ended_at else None


def build_usage(
    *,
    started_at: datetime,
    ended_at: datetime,
    readings: Sequence[Reading],
    status_events: Iterable[tuple[datetime, str]],
    max_power_w: int,
) -> Usage:
    """``readings`` are register values in Wh, the first one being the meter at the start (see above)."""
    meter = delivered_curve(readings, max_power_w)
    curve = meter.points or ((started_at, 0),)
    return Usage(
        started_at=started_at,
        ended_at=ended_at,
        curve=curve,
        charging_ended_at=idle_start(curve, status_events, ended_at),
        anomalies=meter.anomalies,
    )

"""From raw meter readings and status history to a session's ``Usage``: delivered energy and idle time.

Meter registers are not always kind. Between two readings the delivered energy is the increase of the
register, except:

- an increase faster than a charger can deliver (``CMS_BILLING_MAX_CHARGER_POWER_W``) is a glitch: the
  reading is ignored;
- a decrease is a rollover when the register wrapped at a power of ten (from 10^7 Wh) or 2^31/2^32 and the wrapped
  increase is plausible; otherwise a reset to zero when the new value is itself plausible (energy counted
  from zero since the reset); otherwise (meter replaced, register set to another value) the energy of
  that interval is unknown and not billed, and counting resumes from the new value.

Idle time (the car plugged in, no longer charging) is the trailing part of the session after charging
ended. The status history says when (SuspendedEV, SuspendedEVSE or Finishing after the last Charging);
it is never taken earlier than the last reading at which energy was still rising. Without such a status,
the energy curve says it: from the first reading of a flat tail (two or more readings at the final value).
"""

from collections.abc import Iterable, Sequence
from datetime import datetime

from billing.pricing import Usage

IDLE_STATUSES = frozenset({"SuspendedEV", "SuspendedEVSE", "Finishing"})
_BINARY_MODULI = (2**31, 2**32)
# No energy register wraps below 10 MWh (10^7 Wh).
_SMALLEST_DECIMAL_MODULUS_DIGITS = 7


def _wrapped_increase(previous: int, value: int, plausible: float) -> int:
    decimal = 10 ** max(len(str(previous)), _SMALLEST_DECIMAL_MODULUS_DIGITS)
    moduli = [decimal] + [modulus for modulus in _BINARY_MODULI if modulus > previous]
    for modulus in moduli:
        increase = modulus - previous + value
        if 0 <= increase <= plausible:
            return increase
    if value <= plausible:
        return value
    return 0


def delivered_curve(readings: Sequence[tuple[datetime, int]], max_power_w: int) -> tuple[tuple[datetime, int], ...]:
    """Cumulative delivered Wh at each accepted reading, from ``(first moment, 0)``."""
    if not readings:
        return ()
    start, previous = readings[0]
    previous_at = start
    delivered = 0
    points = [(start, 0)]
    for moment, value in readings[1:]:
        plausible = max_power_w * max((moment - previous_at).total_seconds(), 60) / 3600
        if value >= previous:
            if value - previous > plausible:
                continue
            delivered += value - previous
        else:
            delivered += _wrapped_increase(previous, value, plausible)
        points.append((moment, delivered))
        previous, previous_at = value, moment
    return tuple(points)


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
    readings: Sequence[tuple[datetime, int]],
    status_events: Iterable[tuple[datetime, str]],
    max_power_w: int,
) -> Usage:
    """``readings`` are register values in Wh in time order, the first one being the meter at the start."""
    curve = delivered_curve(readings, max_power_w) or ((started_at, 0),)
    return Usage(
        started_at=started_at,
        ended_at=ended_at,
        curve=curve,
        charging_ended_at=idle_start(curve, status_events, ended_at),
    )

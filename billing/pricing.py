"""The pricing engine: a tariff and a session's usage in, an itemised price out. Pure functions, no database.

Each element is computed at full precision and the net price is rounded once (see ``billing.money``):

- energy: the delivered Wh of each tariff period (split along the meter curve, see ``billing.usage``)
  times that period's kWh price; energy included in a subscription comes first, free, in time order;
  a subscription discount lowers the kWh price of the rest;
- time: seconds of charging (from the start to the moment charging ended) times the price per minute;
- idle: seconds after charging ended plus the grace period, until the session ended, times the idle
  fee per minute; periods may change the price (e.g. no idle fee at night);
- a start fee; then the minimum and maximum session price bound the sum.

Sessions delivering less than the tariff's ``min_billable_energy_wh`` are free.
Periods are evaluated in the site's time zone (``zoneinfo``), so a daylight-saving change makes a night
one hour shorter or longer in real time and the time fee follows real time.
"""

from bisect import bisect_right
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property
from itertools import pairwise
from zoneinfo import ZoneInfo

from billing.money import HUNDRED, WH_PER_KWH, ZERO, round_money, tax_of

SECONDS_PER_MINUTE = Decimal(60)


@dataclass(frozen=True)
class PeriodSpec:
    name: str
    weekdays: frozenset[int]
    start: time
    end: time
    price_per_kwh: Decimal | None = None
    price_per_minute: Decimal | None = None
    idle_price_per_minute: Decimal | None = None

    def covers(self, local: datetime) -> bool:
        moment, weekday = local.time(), local.isoweekday()
        if self.start == self.end:
            return weekday in self.weekdays
        if self.start < self.end:
            return weekday in self.weekdays and self.start <= moment < self.end
        # Crosses midnight: the early-morning part belongs to the weekday the period started on.
        if moment >= self.start:
            return weekday in self.weekdays
        if moment < self.end:
            return (weekday - 2) % 7 + 1 in self.weekdays
        return False


@dataclass(frozen=True)
class TariffSpec:
    currency: str
    timezone: str = "UTC"
    tariff_id: int | None = None
    name: str = ""
    tax_rate: Decimal = ZERO
    price_per_kwh: Decimal = ZERO
    price_per_minute: Decimal = ZERO
    start_fee: Decimal = ZERO
    idle_price_per_minute: Decimal = ZERO
    idle_grace_minutes: int = 0
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    min_billable_energy_wh: int = 1
    periods: tuple[PeriodSpec, ...] = ()

    @classmethod
    def from_model(cls, tariff, timezone: str, periods=None) -> "TariffSpec":
        """The spec of a tariff row; ``periods`` replaces its stored periods (a form's, before saving)."""
        periods = tuple(
            PeriodSpec(
                name=period.name,
                weekdays=frozenset(int(day) for day in period.weekdays),
                start=period.start_time,
                end=period.end_time,
                price_per_kwh=period.price_per_kwh,
                price_per_minute=period.price_per_minute,
                idle_price_per_minute=period.idle_price_per_minute,
            )
            for period in (tariff.periods.all() if periods is None else periods)
        )
        return cls(
            currency=tariff.currency,
            timezone=timezone,
            tariff_id=tariff.pk,
            name=tariff.name,
            tax_rate=tariff.tax_rate,
            price_per_kwh=tariff.price_per_kwh,
            price_per_minute=tariff.price_per_minute,
            start_fee=tariff.start_fee,
            idle_price_per_minute=tariff.idle_price_per_minute,
            idle_grace_minutes=tariff.idle_grace_minutes,
            min_price=tariff.min_price,
            max_price=tariff.max_price,
            min_billable_energy_wh=tariff.min_billable_energy_wh,
            periods=periods,
        )


@dataclass(frozen=True)
class Usage:
    """What a session used: delivered energy over time, and when charging ended (idle began), if it did.

    ``curve`` holds (moment, Wh delivered since the start), non-decreasing, from ``(started_at, 0)``;
    ``anomalies`` the ``(code, detail)`` of each meter reading set aside to build it (see ``billing.usage``).
    """

    started_at: datetime
    ended_at: datetime
    curve: tuple[tuple[datetime, int], ...]
    charging_ended_at: datetime | None = None
    anomalies: tuple[tuple[str, str], ...] = ()

    @property
    def energy_wh(self) -> int:
        return self.curve[-1][1] if self.curve else 0

    @cached_property
    def _times(self) -> list[datetime]:
        return [point[0] for point in self.curve]

    @property
    def charging_until(self) -> datetime:
        return self.charging_ended_at or self.ended_at

    def delivered_at(self, moment: datetime) -> int:
        """Wh delivered by ``moment``, linear between readings, rounded to whole Wh."""
        index = bisect_right(self._times, moment)
        if index == 0:
            return 0
        if index == len(self.curve):
            return self.energy_wh
        (t0, d0), (t1, d1) = self.curve[index - 1], self.curve[index]
        if t1 == t0:
            return d1
        return round(d0 + (d1 - d0) * ((moment - t0) / (t1 - t0)))


@dataclass(frozen=True)
class Allowance:
    """A subscription's effect on a session: included energy left this month, and the kWh discount."""

    included_wh: int = 0
    energy_discount_percent: Decimal = ZERO


@dataclass(frozen=True)
class PriceLine:
    kind: str  # energy, included_energy, time, idle, start_fee, minimum, maximum
    description: str
    quantity: Decimal
    unit: str  # kWh, min, session
    unit_price: Decimal
    amount: Decimal  # exact, not rounded


@dataclass(frozen=True)
class Price:
    currency: str
    tax_rate: Decimal
    net: Decimal
    tax: Decimal
    gross: Decimal
    subtotal: Decimal
    energy_wh: int
    charging_seconds: int
    idle_seconds: int
    included_wh: int = 0
    lines: tuple[PriceLine, ...] = ()
    tariff_id: int | None = None
    free_reason: str = ""

    def as_dict(self) -> dict:
        """A JSON-friendly record (Decimals as strings) for storage and the API: ``asdict``'s, without its deep
        copies (each session's breakdown is built in the batch pricing's loop)."""
        record = {name: _jsonable(getattr(self, name)) for name in _PRICE_FIELDS}
        record["lines"] = [{name: _jsonable(getattr(line, name)) for name in _LINE_FIELDS} for line in self.lines]
        return record

    @property
    def detail(self) -> str:
        return "; ".join(
            f"{line.description}: {_quantity(line)} x {line.unit_price.normalize():f}"
            f" = {round_money(line.amount, self.currency)}"
            for line in self.lines
        )


def _quantity(line: PriceLine) -> str:
    return f"{line.quantity.quantize(Decimal('0.001')).normalize():f} {line.unit}"


_PRICE_FIELDS = tuple(item.name for item in fields(Price) if item.name != "lines")
_LINE_FIELDS = tuple(item.name for item in fields(PriceLine))


def _jsonable(value):
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


@dataclass
class _Segment:
    start: datetime
    end: datetime
    period: PeriodSpec | None
    lines: list = field(default_factory=list)

    def overlap_seconds(self, start: datetime, end: datetime) -> Decimal:
        begin, finish = max(self.start, start), min(self.end, end)
        if finish <= begin:
            return ZERO
        return Decimal((finish - begin) // timedelta(microseconds=1)) / 1_000_000


def segments(started_at: datetime, ended_at: datetime, tariff: TariffSpec) -> list[_Segment]:
    """The session cut wherever a tariff period starts or ends (local time), each with its period."""
    if not tariff.periods or ended_at <= started_at:
        return [_Segment(started_at, ended_at, None)]
    zone = ZoneInfo(tariff.timezone)
    clock_times = {period.start for period in tariff.periods} | {period.end for period in tariff.periods}
    cuts = {started_at, ended_at}
    day = started_at.astimezone(zone).date() - timedelta(days=1)
    last_day = ended_at.astimezone(zone).date() + timedelta(days=1)
    while day <= last_day:
        for clock in clock_times:
            instant = datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)
            if started_at < instant < ended_at:
                cuts.add(instant)
        day += timedelta(days=1)
    ordered = sorted(cuts)
    result = []
    for begin, finish in pairwise(ordered):
        local_middle = (begin + (finish - begin) / 2).astimezone(zone)
        period = next((p for p in tariff.periods if p.covers(local_middle)), None)
        result.append(_Segment(begin, finish, period))
    return result


def _price_in(segment: _Segment, attribute: str, base: Decimal) -> Decimal:
    if segment.period is not None:
        value = getattr(segment.period, attribute)
        if value is not None:
            return value
    return base


def _label(what: str, segment: _Segment) -> str:
    return f"{what}, {segment.period.name}" if segment.period else what


def price_session(tariff: TariffSpec, usage: Usage, allowance: Allowance | None = None) -> Price:
    """The price of ``usage`` under ``tariff`` (and the driver's subscription ``allowance``)."""
    allowance = allowance or Allowance()
    energy_wh = usage.energy_wh
    charging_seconds = max(0, int((usage.charging_until - usage.started_at).total_seconds()))
    idle_seconds = max(0, int((usage.ended_at - usage.charging_until).total_seconds()))
    base = {"energy_wh": energy_wh, "charging_seconds": charging_seconds, "idle_seconds": idle_seconds}
    if energy_wh < tariff.min_billable_energy_wh:
        return Price(
            currency=tariff.currency,
            tax_rate=tariff.tax_rate,
            net=ZERO,
            tax=ZERO,
            gross=ZERO,
            subtotal=ZERO,
            tariff_id=tariff.tariff_id,
            free_reason="below_min_energy",
            **base,
        )

    lines: dict[tuple, list] = {}

    def add(kind: str, description: str, unit: str, unit_price: Decimal, quantity: Decimal, amount: Decimal):
        key = (kind, description, unit_price)
        if key in lines:
            lines[key][0] += quantity
            lines[key][1] += amount
        else:
            lines[key] = [quantity, amount, unit]

    included_left = allowance.included_wh
    discount = (HUNDRED - allowance.energy_discount_percent) / HUNDRED
    idle_from = usage.charging_until + timedelta(minutes=tariff.idle_grace_minutes)
    for segment in segments(usage.started_at, usage.ended_at, tariff):
        wh = usage.delivered_at(segment.end) - usage.delivered_at(segment.start)
        free_wh = min(wh, included_left)
        included_left -= free_wh
        if free_wh:
            add("included_energy", "Energy included in subscription", "kWh", ZERO, free_wh / WH_PER_KWH, ZERO)
        if wh - free_wh:
            unit_price = _price_in(segment, "price_per_kwh", tariff.price_per_kwh) * discount
            kwh = Decimal(wh - free_wh) / WH_PER_KWH
            label = _label("Energy", segment) + (
                f" ({allowance.energy_discount_percent.normalize():f} % subscription discount)" if discount != 1 else ""
            )
            add("energy", label, "kWh", unit_price, kwh, kwh * unit_price)
        seconds = segment.overlap_seconds(usage.started_at, usage.charging_until)
        unit_price = _price_in(segment, "price_per_minute", tariff.price_per_minute)
        if seconds and unit_price:
            minutes = seconds / SECONDS_PER_MINUTE
            add("time", _label("Charging time", segment), "min", unit_price, minutes, minutes * unit_price)
        seconds = segment.overlap_seconds(idle_from, usage.ended_at)
        unit_price = _price_in(segment, "idle_price_per_minute", tariff.idle_price_per_minute)
        if seconds and unit_price:
            minutes = seconds / SECONDS_PER_MINUTE
            add("idle", _label("Idle fee", segment), "min", unit_price, minutes, minutes * unit_price)
    if tariff.start_fee:
        add("start_fee", "Start fee", "session", tariff.start_fee, Decimal(1), tariff.start_fee)

    price_lines = [
        PriceLine(
            kind=kind, description=description, quantity=quantity, unit=unit, unit_price=unit_price, amount=amount
        )
        for (kind, description, unit_price), (quantity, amount, unit) in lines.items()
    ]
    subtotal = sum((line.amount for line in price_lines), ZERO)
    if tariff.min_price is not None and subtotal < tariff.min_price:
        price_lines.append(_bound("minimum", "Minimum session price", tariff.min_price - subtotal))
        subtotal = tariff.min_price
    if tariff.max_price is not None and subtotal > tariff.max_price:
        price_lines.append(_bound("maximum", "Maximum session price", tariff.max_price - subtotal))
        subtotal = tariff.max_price
    net = round_money(subtotal, tariff.currency)
    tax = tax_of(net, tariff.tax_rate, tariff.currency)
    return Price(
        currency=tariff.currency,
        tax_rate=tariff.tax_rate,
        net=net,
        tax=tax,
        gross=net + tax,
        subtotal=subtotal,
        included_wh=allowance.included_wh - included_left,
        lines=tuple(price_lines),
        tariff_id=tariff.tariff_id,
        **base,
    )


def _bound(kind: str, description: str, amount: Decimal) -> PriceLine:
    return PriceLine(
        kind=kind, description=description, quantity=Decimal(1), unit="session", unit_price=amount, amount=amount
    )


def planned_usage(*, starts_at: datetime, energy_wh: int, minutes: int) -> Usage:
    """The usage of a planned session for an estimate: energy delivered evenly, no idle time."""
    ends_at = starts_at + timedelta(minutes=max(minutes, 0))
    return Usage(started_at=starts_at, ended_at=ends_at, curve=((starts_at, 0), (ends_at, max(energy_wh, 0))))

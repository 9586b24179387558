"""The charging profiles a station holds and the limit they put on a connector at a moment (OCPP 1.6 §3.13,
2.0.1 block K), version-free: each version's station turns its wire form into a ``Profile``.

The rules a station applies: a profile counts from its validFrom to its validTo; its schedule starts at
startSchedule (Absolute; when it was received if it has none), at the start of the transaction (Relative), or at
the last daily or weekly recurrence of startSchedule (Recurring), and ends after its duration. Of one purpose,
the profile of the highest stack level that has a period running now prevails (a TxDefaultProfile of the
connector before one of the whole station). A TxProfile of the transaction overrides the TxDefaultProfile; the
station's maximum (ChargePointMaxProfile, 2.0.1 ChargingStationMaxProfile) caps the whole station, shared
equally by the connectors charging. Limits in A are per phase.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

STATION_MAX, TX_DEFAULT, TX = "StationMax", "TxDefault", "Tx"
PURPOSES = {
    "ChargePointMaxProfile": STATION_MAX,
    "ChargingStationMaxProfile": STATION_MAX,
    "TxDefaultProfile": TX_DEFAULT,
    "TxProfile": TX,
}
RECURRENCE = {"Daily": timedelta(days=1), "Weekly": timedelta(days=7)}
DEFAULT_PHASES = 3  # numberPhases when a period does not say (both versions)


@dataclass(frozen=True)
class Period:
    start: int  # seconds from the start of the schedule
    limit: float  # A per phase or W, as the schedule's unit
    phases: int | None = None


@dataclass(frozen=True)
class Profile:
    id: int
    connector_id: int  # 0: the whole station
    purpose: str  # STATION_MAX, TX_DEFAULT or TX
    stack_level: int
    kind: str  # Absolute, Recurring or Relative
    unit: str  # "A" or "W"
    periods: tuple[Period, ...]
    received_at: datetime
    start_schedule: datetime | None = None
    duration: int | None = None
    recurrency: str | None = None  # Daily or Weekly
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: int | str | None = None
    wire: dict = field(default_factory=dict, compare=False)  # as received (the library's snake_case), for reports


@dataclass(frozen=True)
class Electrical:
    """What a connector can deliver: its supply voltage (phase to neutral), phase count and power."""

    voltage: float
    phases: int
    max_w: float

    def watts(self, limit: float, unit: str, phases: int | None = None) -> float:
        if unit == "W":
            return limit
        return limit * self.voltage * min(phases or DEFAULT_PHASES, self.phases)

    def in_unit(self, watts: float, unit: str) -> float:
        return watts if unit == "W" else watts / (self.voltage * self.phases)


@dataclass(frozen=True)
class Session:
    """The transaction on a connector, as a TxProfile or a Relative schedule sees it."""

    transaction_id: int | str
    started_at: datetime


def _origins(profile: Profile, start: datetime, end: datetime, session: Session | None) -> list[datetime]:
    """The moments the profile's schedule starts (again) that matter between ``start`` and ``end``."""
    if profile.kind == "Relative":
        return [] if session is None else [session.started_at]
    if profile.kind == "Recurring":
        if profile.start_schedule is None:
            return []
        cycle = RECURRENCE.get(profile.recurrency or "Daily", RECURRENCE["Daily"])
        first = max(0, math.floor((start - profile.start_schedule) / cycle))
        origins = []
        while (origin := profile.start_schedule + first * cycle) <= end:
            origins.append(origin)
            first += 1
        return origins
    return [profile.start_schedule or profile.received_at]


def profile_limit_w(profile: Profile, at: datetime, session: Session | None, electrical: Electrical) -> float | None:
    """The limit the profile sets at ``at`` in W; None when it sets none then (not valid, not started, over, or a
    TxProfile of another transaction)."""
    if (profile.valid_from and at < profile.valid_from) or (profile.valid_to and at >= profile.valid_to):
        return None
    if profile.purpose == TX and (session is None or profile.transaction_id not in (None, session.transaction_id)):
        return None
    origins = [o for o in _origins(profile, at, at, session) if o <= at]
    if not origins:
        return None
    elapsed = (at - origins[-1]).total_seconds()
    if profile.duration is not None and elapsed >= profile.duration:
        return None
    running = [p for p in profile.periods if p.start <= elapsed]
    if not running:
        return None
    period = max(running, key=lambda p: p.start)
    return electrical.watts(period.limit, profile.unit, period.phases)


def prevailing_limit_w(
    profiles: Iterable[Profile],
    purpose: str,
    connector_id: int,
    at: datetime,
    session: Session | None,
    electrical: Electrical,
) -> float | None:
    """The limit of the purpose's prevailing profile on the connector at ``at``: the highest stack level with a
    period running; a profile of the connector itself before one of the station (connector 0)."""
    candidates = sorted(
        (p for p in profiles if p.purpose == purpose and p.connector_id in (connector_id, 0)),
        key=lambda p: (p.connector_id == connector_id, p.stack_level),
        reverse=True,
    )
    for profile in candidates:
        limit = profile_limit_w(profile, at, session, electrical)
        if limit is not None:
            return limit
    return None


def connector_limit_w(
    profiles: Iterable[Profile],
    connector_id: int,
    at: datetime,
    session: Session | None,
    electrical: Electrical,
    *,
    sharing: int = 1,
) -> float:
    """The most the connector may draw at ``at`` (W): its own maximum, the transaction's profile (or else the
    default), and its share of the station's maximum among the ``sharing`` connectors charging."""
    profiles = list(profiles)
    limit = electrical.max_w
    tx = prevailing_limit_w(profiles, TX, connector_id, at, session, electrical) if session else None
    if tx is None:
        tx = prevailing_limit_w(profiles, TX_DEFAULT, connector_id, at, session, electrical)
    if tx is not None:
        limit = min(limit, tx)
    station = prevailing_limit_w(profiles, STATION_MAX, 0, at, session, electrical)
    if station is not None:
        limit = min(limit, station / max(1, sharing))
    return max(0.0, limit)


def _boundaries(profile: Profile, start: datetime, end: datetime, session: Session | None) -> set[datetime]:
    moments = {m for m in (profile.valid_from, profile.valid_to) if m is not None}
    for origin in _origins(profile, start, end, session):
        moments.update(origin + timedelta(seconds=p.start) for p in profile.periods)
        if profile.duration is not None:
            moments.add(origin + timedelta(seconds=profile.duration))
    return moments


def composite_schedule(
    profiles: Iterable[Profile],
    connector_id: int,
    start: datetime,
    duration: int,
    session: Session | None,
    electrical: Electrical,
    *,
    unit: str = "W",
    sharing: int = 1,
) -> list[Period]:
    """The connector's limit over ``duration`` seconds from ``start`` as schedule periods in ``unit`` (each
    where the limit changes, at whole seconds), from the profiles it holds now."""
    profiles = list(profiles)
    end = start + timedelta(seconds=duration)
    offsets = {0}
    for profile in profiles:
        for moment in _boundaries(profile, start, end, session):
            offset = math.ceil((moment - start).total_seconds())
            if 0 < offset < duration:
                offsets.add(offset)
    periods: list[Period] = []
    for offset in sorted(offsets):
        watts = connector_limit_w(
            profiles, connector_id, start + timedelta(seconds=offset), session, electrical, sharing=sharing
        )
        limit = round(electrical.in_unit(watts, unit), 1)
        if not periods or periods[-1].limit != limit:
            phases = None if unit == "W" or electrical.phases == DEFAULT_PHASES else electrical.phases
            periods.append(Period(offset, limit, phases))
    return periods


def replaces(new: Profile, old: Profile) -> bool:
    """Whether installing ``new`` removes ``old``: the same id, or the same purpose and stack level on the same
    connector (1.6 §5.16; the simulator's 2.0.1 stations do the same)."""
    return new.id == old.id or (new.connector_id, new.purpose, new.stack_level) == (
        old.connector_id,
        old.purpose,
        old.stack_level,
    )


def _moment(value: str | None) -> datetime | None:
    return None if not value else datetime.fromisoformat(value.replace("Z", "+00:00"))


def from_wire(wire: dict, connector_id: int, received_at: datetime) -> Profile:
    """A profile as the `ocpp` library hands it over (snake_case keys, limits as Decimal): a 1.6
    csChargingProfiles (chargingProfileId, one chargingSchedule) or a 2.0.1 chargingProfile (id, a list of
    chargingSchedules, of which a station without ISO 15118 uses the first)."""
    schedule = wire["charging_schedule"]
    if isinstance(schedule, list):
        schedule = schedule[0]
    return Profile(
        id=wire["charging_profile_id"] if "charging_profile_id" in wire else wire["id"],
        connector_id=connector_id,
        purpose=PURPOSES[wire["charging_profile_purpose"]],
        stack_level=wire["stack_level"],
        kind=wire["charging_profile_kind"],
        unit=schedule["charging_rate_unit"],
        periods=tuple(
            Period(p["start_period"], float(p["limit"]), p.get("number_phases"))
            for p in schedule["charging_schedule_period"]
        ),
        received_at=received_at,
        start_schedule=_moment(schedule.get("start_schedule")),
        duration=schedule.get("duration"),
        recurrency=wire.get("recurrency_kind"),
        valid_from=_moment(wire.get("valid_from")),
        valid_to=_moment(wire.get("valid_to")),
        transaction_id=wire.get("transaction_id"),
        wire=wire,
    )

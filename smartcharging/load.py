"""Site load management: share each site's grid connection among the sessions charging there.

``site_rebalance`` reads a site's limits (``LoadGroup`` tree, time-of-day periods, the building's own load), its
active sessions, what their connectors can take and the phases their cars load (``supply_lines``), lets
``smartcharging.allocation`` share the current on each phase, records each connector's share (``ConnectorAllocation``)
and sends the stations the shares that changed: a TxProfile for the session (1.6 and 2.0.1 alike, through
``stations.protocol.outbound``), decreases before increases, so the site is never above its limit in between. A 1.6
station that refuses a TxProfile (many implement TxDefaultProfile only) is sent the share as its connector's
TxDefaultProfile instead, above the fail-safe default, and its sessions' shares go that way until it boots again
(``StationLoadState.tx_profile_refused_at``); the connector's default is cleared when its session ends, else the next
session there would start at the old share. Each profile covers the current limit period and the next one, then the
lowest limit of any period for good, so a period that begins lowers the cars on time even before the CSMS recomputes,
and a station that holds it while the CSMS is away stays under every period's limit.

Fail-safe: every station of a managed site gets a TxDefaultProfile (connector / EVSE 0) when it connects, with a
share that keeps every phase under its lowest limit with every connector of every station charging at its default
and the building at its recent peak (``failsafe_current_a``); a station the CSMS loses keeps its last TxProfile, so
it is counted at that until it is back. A station that rejects a profile is counted at its connectors' maximum and the
operator is alerted, until it accepts one (or leaves load management); a 1.6 station only when it refuses its
connector's default too. A station that leaves load management has these profiles cleared (``stations_release``).

Triggers (``site_rebalance_soon``, after the commit, off the OCPP hot path): a session starting or stopping
(``smartcharging.signals``), a limit change (``load_group_save``), and ``sites_watch`` (Celery beat), which shares
again only the sites where something changed or may have (``sites_due``): a station (re)connecting, lost or
refusing, a car drawing much less than offered, the building's load changing, a limit period beginning, a profile
not delivered, and at least every ``SAMPLE_EVERY`` for the operator's graph.
"""

import asyncio
import functools
import gc
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

from asgiref.sync import async_to_sync, sync_to_async
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, F, FloatField, Func, OuterRef, Q, TextField
from django.utils import timezone

from monitoring.alerts import Condition, alert_close, alert_open
from monitoring.models import Alert
from sessions.models import MeterSample, Transaction
from smartcharging import allocation, needs, site_meter
from smartcharging.arrays import AnyOf, array_literal
from smartcharging.models import (
    ConnectorAllocation,
    DriverChargingNeeds,
    LimitPeriod,
    LoadGroup,
    LoadGroupStation,
    StationLoadState,
    schedule_fingerprint,
)
from smartcharging.selectors import (
    DEFAULT_MAX_A,
    DEFAULT_MIN_A,
    DEFAULT_PHASES,
    connector_caps,
    connector_rotations,
    driver_needs_current,
    drivers_stated,
    ev_charging_needs_current,
    managed_site_ids,
    tx_refused,
)
from stations.models import Connector, Site, Station, StationCommand
from stations.protocol import outbound
from stations.protocol.commands import station_call

logger = logging.getLogger(__name__)

State = ConnectorAllocation.State
Delivery = ConnectorAllocation.Delivery
# Profile ids and stack levels of load management: the session's TxProfile above the connection's default.
FAILSAFE_PROFILE_ID = 900_000
TX_PROFILE_ID_BASE = 910_000  # + the connector (EVSE) id: one TxProfile per connector, replaced in place
# A station refusing TxProfiles (1.6): the session's share as its connector's default, above the station's fail-safe
# (another purpose than a TxProfile's: the same stack level does not clash).
TX_DEFAULT_PROFILE_ID_BASE = 920_000  # + the connector id: replaced in place, cleared by id
FAILSAFE_STACK_LEVEL = 0
TX_STACK_LEVEL = 1
TX_DEFAULT_STACK_LEVEL = 1
# A current reading older than this is not what the car draws now.
DRAW_WINDOW = timedelta(minutes=2)
# A building load moving by more than this (A per phase) is worth a new allocation.
BUILDING_CHANGE_A = 1.0
# The building's peak is kept over this window at least (two at most): the fail-safe defaults' worst case.
BUILDING_PEAK_WINDOW = timedelta(hours=24)
# A station connected this long without a BootNotification (a reconnect) gets its fail-safe profile anyway.
RECONNECT_SETTLE = timedelta(seconds=3)
# One allocation of a site at a time; a trigger meanwhile asks the running one to go again.
LOCK_SECONDS = 120
# The operator's graph: a sample at each allocation, and at least this often while the site is watched.
SAMPLE_EVERY = timedelta(seconds=30)
# Rounds of one rebalance: a rejected profile takes its station out of the pool and the others are shared again.
MAX_ROUNDS = 3


# The site's limits


def group_limit_a(group: LoadGroup, *, periods: Sequence[LimitPeriod], at: datetime, tz: ZoneInfo) -> float:
    """The group's limit at ``at`` in amps per phase, the building's load now taken off (``building_now_a``)."""
    limit = group.limit
    local = at.astimezone(tz).time()
    for period in periods:
        if _within(local, period.starts, period.ends):
            limit = period.limit
            break
    return _available_a(group, limit)


def group_lowest_limit_a(group: LoadGroup, *, periods: Sequence[LimitPeriod]) -> float:
    """The group's lowest limit of any period (its default included) in amps per phase, the building's load now taken
    off."""
    return _available_a(group, min([group.limit, *(period.limit for period in periods)]))


def _available_a(group: LoadGroup, limit) -> float:
    return max(0.0, group.limit_a(limit) - (building_now_a(group) or 0.0))


def building_now_a(group: LoadGroup) -> float | None:
    """The building's load now (A per phase) as the allocation counts it: its meter's last reading, else the
    operator's reserve when it has one (None: neither)."""
    if group.meter_source and group.building_load_w is not None:
        return _amps(group.building_load_w, group)
    return float(group.building_reserve_a) or None


def _amps(watts: float, group: LoadGroup) -> float:
    return watts / (group.voltage * group.phases)


def _within(moment: time, starts: time, ends: time) -> bool:
    if starts < ends:
        return starts <= moment < ends
    return moment >= starts or moment < ends  # across midnight (or all day when they are equal)


def next_period_change(periods: Iterable[LimitPeriod], *, after: datetime, tz: ZoneInfo) -> datetime | None:
    """The first moment after ``after`` at which any of ``periods`` begins or ends (within the next day)."""
    local = after.astimezone(tz)
    moments = []
    for period in periods:
        for boundary in (period.starts, period.ends):
            for day in (0, 1):
                candidate = datetime.combine(local.date() + timedelta(days=day), boundary, tzinfo=tz)
                if candidate > local:
                    moments.append(candidate)
                    break
    return min(moments).astimezone(after.tzinfo) if moments else None


@contextmanager
def gc_paused():
    """Reading, allocating and storing a thousand sites makes a few hundred thousand small objects, none of them in
    a cycle: the cycle collector's passes over everything alive would cost a third of the work. Reference counting
    still frees them; the collector resumes after (if it ran before: another thread may pause it too), and its next
    young pass walks what was made meanwhile and still lives: pause around a call that drops what it made."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# Reading a site

# A connector's (min A, max A, phases, priority) when nobody said (as ``selectors.caps_of``), as floats.
DEFAULT_CAPS = (float(DEFAULT_MIN_A), float(DEFAULT_MAX_A), DEFAULT_PHASES, 0)


class StationInfo(NamedTuple):
    """What the allocation reads of a station (plain values: a burst re-reads thousands)."""

    pk: int
    site_id: int
    ocpp_version: str
    is_online: bool
    rejected: bool
    failsafe_current_a: float | None
    # None: it never refused a TxProfile; True: it did since its last boot (its shares go as its connectors'
    # defaults); False: before it (new firmware or settings may take TxProfiles: they are tried again).
    tx_refused: bool | None


class SessionInfo(NamedTuple):
    """What the allocation and the TxProfile need of a session (``outbound.station_transaction_id`` reads it)."""

    pk: int
    station_id: int
    connector_id: int
    arrival: float  # started_at in seconds since the epoch: its queue position
    ocpp_transaction_id: str | None


class Share(NamedTuple):
    """A connector's stored share, as the previous allocation left it: what decides whether it changed (the stored
    schedule itself is only read as its fingerprint, ``sent_key``)."""

    site_id: int
    transaction_id: int | None
    state: str
    current_a: float
    drawn_a: float | None
    delivery: str
    sent_key: str | None  # the schedule it holds (``schedule_fingerprint``) when delivered, else None


@dataclass(slots=True)
class Slot:
    """One connector of a managed site with its session: the input of the allocation and its outcome."""

    key: tuple  # (station, connector): the allocation's key of its demand
    station: StationInfo
    connector_id: int
    session: SessionInfo
    node: int
    min_a: float
    max_a: float
    phases: int
    lines: tuple  # the site's phases the car draws on
    priority: int
    arrival: float
    required_a: float | None = None
    offered_a: float | None = None
    drawn_a: float | None = None
    fixed_a: float | None = None
    state: str = State.CHARGING
    schedule: list = field(default_factory=list)  # [(seconds from starts_at, amps)]
    starts_at: datetime | None = None


@dataclass
class SitePlan:
    site: Site
    at: datetime
    groups: list
    slots: list
    limit_a: float
    building_a: float | None
    next_change_at: datetime | None
    previous: dict = field(default_factory=dict)  # the site's stored shares, as read
    changed: bool = False  # set when recorded: some share must be sent


def _root(groups: Sequence[LoadGroup]) -> LoadGroup | None:
    return next((group for group in groups if group.parent_id is None), None)


def _drawn_amps(
    site_ids: Sequence[int], *, now: datetime, voltages: dict[int, int]
) -> tuple[dict[tuple[int, int], float], dict[tuple[int, int], dict[int, float]]]:
    """What each connector draws now: its latest Current.Import (the most loaded phase), else its power over the
    site's voltage (``voltages`` by station); and, where its latest reading names phases, the current on each of its
    own phases (1 to 3), for ``supply_lines``."""
    rows = (
        Connector.objects.filter(
            AnyOf("station__site_id", site_ids),
            connector_id__gt=0,
            power_w__isnull=False,
            measured_at__gte=now - DRAW_WINDOW,
        )
        .values_list("station_id", "connector_id", "power_w")
        .order_by()
    )
    from_power = {(station_id, connector_id): watts / voltages[station_id] for station_id, connector_id, watts in rows}
    drawn: dict[tuple[int, int], tuple[datetime, float]] = {}
    by_phase: dict[tuple[int, int], tuple[datetime, dict[int, float]]] = {}
    samples = (
        MeterSample.objects.filter(
            AnyOf("station__site_id", site_ids),
            measurand="Current.Import",
            timestamp__gte=now - DRAW_WINDOW,
            value__isnull=False,
        )
        .values_list("station_id", "connector_id", "timestamp", "value", "phase")
        .order_by()
    )
    for station_id, connector_id, at, value, phase in samples:
        key = (station_id, connector_id)
        seen = drawn.get(key)
        if seen is None or at > seen[0]:
            drawn[key] = (at, value)
        elif at == seen[0]:
            drawn[key] = (at, max(value, seen[1]))
        line = PHASE_LINES.get(phase or "")
        if line is not None:
            latest = by_phase.get(key)
            if latest is None or at > latest[0]:
                by_phase[key] = latest = (at, {})
            if at == latest[0]:
                latest[1][line] = value
    return from_power | {key: value for key, (_, value) in drawn.items()}, {k: v for k, (_, v) in by_phase.items()}


# A meter's phase names (to neutral or alone) and the connector's phase each is; a rotation's letters, the site's phase.
PHASE_LINES = {"L1": 1, "L2": 2, "L3": 3, "L1-N": 1, "L2-N": 2, "L3-N": 3}
ROTATION_LINES = {"R": 1, "S": 2, "T": 3}
# A phase carrying at least this is in use; the others must read under IDLE_PHASE_A for a car to be one-phase.
LOADED_PHASE_A, IDLE_PHASE_A = 1.0, 0.5


def supply_lines(
    *, phases: int, rotation: str | None = None, drawing: dict[int, float] | None = None, site_phases: int = 3
) -> tuple[int, tuple[int, ...]]:
    """How many phases a connector's car draws on and which of the site's phases (1-3) they are.

    The phase count is the connector's (the operator's setting, else the station's device model, else 3), unless the
    car's latest reading says otherwise: current on two phases or more is a three-phase car (whatever the setting),
    current on one phase with the other two read idle a one-phase car on that phase (a meter naming one phase only
    proves nothing). The connector's phases are the site's by its ``rotation`` (the connector's L1 on the site phase
    of its first letter...; unknown or NotApplicable: the same). At a one-phase site every car is on its one phase."""
    if drawing:
        loaded = [line for line, amps in drawing.items() if amps >= LOADED_PHASE_A]
        idle = [line for line, amps in drawing.items() if amps < IDLE_PHASE_A]
        if len(loaded) >= 2:
            phases, own = 3, (1, 2, 3)
        elif len(loaded) == 1 and len(idle) == 2:
            phases, own = 1, (loaded[0],)
        else:
            own = (1, 2, 3)[:phases]
    else:
        own = (1, 2, 3)[:phases]
    if site_phases == 1:
        return phases, (1,)
    letters = (rotation or "").strip().upper()
    if sorted(letters) != ["R", "S", "T"]:
        letters = "RST"
    return phases, tuple(sorted(ROTATION_LINES[letters[line - 1]] for line in own))


@functools.lru_cache(maxsize=256)
def _unmetered_lines(phases: int, rotation: str | None, site_phases: int) -> tuple[int, tuple[int, ...]]:
    """``supply_lines`` of a connector whose meter says nothing of its phases (the same few answers for all)."""
    return supply_lines(phases=phases, rotation=rotation, site_phases=site_phases)


@dataclass(frozen=True)
class SiteInputs:
    """What ``sites_read`` read for all the sites at once: by site, and by station (and connector)."""

    now: datetime
    roots: dict
    groups_of: dict
    sessions_of: dict
    stations: dict
    placements: dict
    caps: dict
    previous: dict
    previous_by_site: dict
    drawn: dict
    needs: dict  # the car's latest EVChargingNeeds by (station, EVSE)
    driver_needs: dict  # by session: (the driver's ``needs.Stated``, Wh delivered so far)
    periods: dict
    drawing: dict  # the current on each of a connector's phases, when its meter says
    rotations: dict


def sites_plan(*, site_ids: Sequence[int], now: datetime | None = None, lock: bool = False) -> dict[int, SitePlan]:
    """Each active session's share at each of ``site_ids`` (those under load management) now and from the next
    limit period on: a few queries for all the sites. With ``lock`` (inside a transaction) the stored shares are
    locked until ``sites_allocation_record`` replaces them. The schedules start at ``now`` in whole seconds, so that a
    limit period's change (at a whole second) falls exactly where its schedule period starts."""
    return plans_from(sites_read(site_ids=site_ids, now=now, lock=lock))


@gc_paused()
def plans_from(inputs: SiteInputs) -> dict[int, SitePlan]:
    """The allocation of each site ``inputs`` holds (no query)."""
    return {
        site_id: _plan(root, inputs.groups_of[site_id], inputs.sessions_of[site_id], inputs, now=inputs.now)
        for site_id, root in inputs.roots.items()
    }


# What the allocation reads of a group and its site (a thousand sites' groups are read at each watch).
PLAN_GROUP_FIELDS = (
    "site_id",
    "parent_id",
    "limit",
    "limit_unit",
    "voltage",
    "phases",
    "building_load_w",
    "building_reserve_a",
    "meter_source",
    "site__timezone",
)


@gc_paused()
def sites_read(*, site_ids: Sequence[int], now: datetime | None = None, lock: bool = False) -> SiteInputs:
    """What the allocation of ``site_ids`` needs, read for all of them at once (see ``sites_plan``)."""
    now = (now or timezone.now()).replace(microsecond=0)  # whole seconds: see sites_plan
    groups_of: dict[int, list[LoadGroup]] = defaultdict(list)
    groups = LoadGroup.objects.filter(AnyOf("site_id", site_ids)).select_related("site").only(*PLAN_GROUP_FIELDS)
    for group in groups:
        groups_of[group.site_id].append(group)
    periods = defaultdict(list)
    for period in LimitPeriod.objects.filter(AnyOf("group__site_id", site_ids)):
        periods[period.group_id].append(period)
    roots = {site_id: _root(groups) for site_id, groups in groups_of.items() if _root(groups) is not None}
    station_rows = (
        Station.objects.filter(AnyOf("site_id", roots))
        .annotate(tx_refused=tx_refused())
        .values_list(
            "pk",
            "site_id",
            "ocpp_version",
            "is_online",
            "load_state__rejected_at",
            "load_state__failsafe_current_a",
            "tx_refused",
        )
        .order_by()
    )
    stations = {
        pk: StationInfo(pk, site_id, version, online, rejected_at is not None, failsafe, tx_refused)
        for pk, site_id, version, online, rejected_at, failsafe, tx_refused in station_rows
    }
    placements = dict(
        LoadGroupStation.objects.filter(AnyOf("station__site_id", roots))
        .values_list("station_id", "group_id")
        .order_by()
    )
    sessions = defaultdict(list)
    active = (
        Transaction.objects.filter(
            AnyOf("station__site_id", roots), status=Transaction.Status.ACTIVE, connector_id__gt=0
        )
        .annotate(arrival=_epoch("started_at"))
        .values_list("pk", "station_id", "connector_id", "arrival", "ocpp_transaction_id")
    )
    for row in active.order_by("started_at", "pk"):
        session = SessionInfo(*row)
        sessions[stations[session.station_id].site_id].append(session)
    caps = {key: (float(low), float(high), *rest) for key, (low, high, *rest) in connector_caps(site_ids=roots).items()}
    previous = _shares(site_ids=list(roots), lock=lock)
    voltages = {pk: roots[station.site_id].voltage for pk, station in stations.items()}
    drawn, drawing = _drawn_amps(list(roots), now=now, voltages=voltages)
    car_needs = {
        (row.station_id, row.evse_id): row
        for row in ev_charging_needs_current(now=now).filter(AnyOf("station__site_id", roots))
    }
    driver_needs = drivers_stated(driver_needs_current(now=now).filter(AnyOf("transaction__station__site_id", roots)))
    previous_by_site = defaultdict(dict)
    for key, share in previous.items():
        previous_by_site[share.site_id][key] = share
    rotations = connector_rotations(site_ids=list(roots))
    return SiteInputs(
        now,
        roots,
        groups_of,
        sessions,
        stations,
        placements,
        caps,
        previous,
        previous_by_site,
        drawn,
        car_needs,
        driver_needs,
        periods,
        drawing,
        rotations,
    )


def _epoch(field: str) -> Func:
    """A timestamp as seconds since the epoch (a float decodes much faster than a datetime)."""
    return Func(F(field), template="EXTRACT(EPOCH FROM %(expressions)s)::float8", output_field=FloatField())


# A share's schedule as it holds it (``schedule_fingerprint``, stored with the schedule), once delivered.
SENT_KEY_SQL = "CASE WHEN delivery = 'sent' THEN NULLIF(schedule_key, '') END"


def _shares(*, site_ids: Sequence[int], lock: bool = False) -> dict[tuple[int, int], Share]:
    rows = ConnectorAllocation.objects.filter(AnyOf("site_id", site_ids)).order_by("pk")
    if lock:
        rows = rows.select_for_update()
    rows = rows.annotate(sent_key=Func(template=SENT_KEY_SQL, output_field=TextField()))
    fields = ("station_id", "connector_id", *Share._fields)
    return {(row[0], row[1]): Share(*row[2:]) for row in rows.values_list(*fields)}


def _plan(root: LoadGroup, groups: list[LoadGroup], sessions: list, inputs: SiteInputs, *, now: datetime) -> SitePlan:
    tz = ZoneInfo(root.site.timezone or "UTC")
    group_ids = {group.id for group in groups}
    slots = []
    default_node, drawn, car_needs, previous = root.id, inputs.drawn, inputs.needs, inputs.previous
    driver_needs, rotations, metered = inputs.driver_needs, inputs.rotations, inputs.drawing
    stations, caps, placements = inputs.stations, inputs.caps, inputs.placements
    for session in sessions:
        station = stations[session.station_id]
        key = (session.station_id, session.connector_id)
        min_a, max_a, phases, priority = caps.get(key, DEFAULT_CAPS)
        rotation, drawing = rotations.get(key), metered.get(key)
        if drawing:
            phases, lines = supply_lines(phases=phases, rotation=rotation, drawing=drawing, site_phases=root.phases)
        else:
            phases, lines = _unmetered_lines(phases, rotation, root.phases)
        before = previous.get(key)
        placed = placements.get(session.station_id)
        car, driver = car_needs.get(key), driver_needs.get(session.pk)
        required_a = None
        if car is not None or driver is not None:  # most sessions say nothing
            need = needs.session_needs(started_at=session.arrival, car=car, driver=driver, now=now)
            required_a = needs.required_amps(need, now=now, voltage=root.voltage, phases=phases)
        slot = Slot(
            key=key,
            station=station,
            connector_id=session.connector_id,
            session=session,
            node=placed if placed in group_ids else default_node,
            min_a=min_a,
            max_a=max_a,
            phases=phases,
            lines=lines,
            priority=priority,
            arrival=session.arrival,
            required_a=required_a,
            offered_a=before.current_a if before is not None and before.transaction_id == session.pk else None,
            drawn_a=drawn.get(key),
        )
        if station.rejected or not station.is_online:
            _fix_if_unmanaged(slot, before, now=now)
        slots.append(slot)
    periods = inputs.periods
    change_at = next_period_change([p for group in groups for p in periods[group.id]], after=now, tz=tz)
    steps, last_limits = [], None
    for moment, limits in _limits_ahead(groups, periods, now=now, change_at=change_at, tz=tz):
        if limits != last_limits:  # else the next period does not change this site's limits
            steps.append((moment, limits))
            last_limits = limits
    trees = [[allocation.Node(group.id, group.parent_id, limits[group.id]) for group in groups] for _, limits in steps]
    each = allocation.allocate_each(trees, slots)  # a slot has what the allocation reads of a demand
    offsets = [round((moment - now).total_seconds()) for moment, _ in steps]
    periods_shares = list(zip(offsets, each, strict=True))
    for slot in slots:
        key = slot.key
        slot.schedule = [(offset, shares[key]) for offset, shares in periods_shares]
        if slot.fixed_a is None and slot.schedule[0][1] == 0:
            slot.state = State.QUEUED
    building = building_now_a(root)
    limit_a = group_limit_a(root, periods=periods[root.pk], at=now, tz=tz) + (building or 0.0)
    previous = inputs.previous_by_site.get(root.site_id, {})
    return SitePlan(root.site, now, groups, slots, limit_a, building, change_at, previous=previous)


def _limits_ahead(groups, periods, *, now: datetime, change_at: datetime | None, tz: ZoneInfo) -> list[tuple]:
    """(moment, each group's limit) of the schedule sent: now, the next limit period's change, and from the change
    after it the lowest limit of any period, for good: a station that holds its profile while the CSMS is away (the
    CSMS or the connection down across several changes) stays under every period's limit."""
    steps = [(now, {group.id: group_limit_a(group, periods=periods[group.id], at=now, tz=tz) for group in groups})]
    if change_at is None:
        return steps
    steps.append(
        (
            change_at,
            {group.id: group_limit_a(group, periods=periods[group.id], at=change_at, tz=tz) for group in groups},
        )
    )
    then = next_period_change([p for group in groups for p in periods[group.id]], after=change_at, tz=tz)
    if then is not None:
        steps.append((then, {group.id: group_lowest_limit_a(group, periods=periods[group.id]) for group in groups}))
    return steps


def _fix_if_unmanaged(slot: Slot, before: Share | None, *, now: datetime) -> None:
    """A station that rejects profiles is counted at its maximum. One the CSMS has lost at the most what it holds
    lets it draw from now on: the rest of its session's last delivered schedule (a later period may be higher); its
    default profile when none was sent for its session; its maximum when the last one may not have arrived (it may
    hold an earlier one, which the CSMS no longer knows)."""
    if slot.station.rejected:
        slot.fixed_a, slot.state = slot.max_a, State.REJECTED
    elif not slot.station.is_online:
        if before is None or before.transaction_id != slot.session.pk:
            held = slot.station.failsafe_current_a
        elif before.sent_key is not None:  # delivered
            held = _highest_ahead(before.sent_key, now=now)
        else:
            held = None
        slot.fixed_a, slot.state = (slot.max_a if held is None else held), State.LOST


def _highest_ahead(sent_key: str, *, now: datetime) -> float:
    """The highest limit of a delivered schedule (its fingerprint: the first period, then each later one's start
    in seconds since the epoch) from the period running at ``now`` on."""
    periods = [(float(start), float(amps)) for start, amps in (period.split(":") for period in sent_key.split())]
    elapsed = now.timestamp()
    running = max((index for index, (start, _) in enumerate(periods) if index == 0 or start <= elapsed), default=0)
    return max(amps for _, amps in periods[running:])


# Allocating and sending


@dataclass
class Rebalance:
    """What one rebalance of a site did."""

    site_id: int
    allocated: int = 0
    queued: int = 0
    sent: int = 0
    rejected: list[int] = field(default_factory=list)


def site_rebalance(*, site_id: int, now: datetime | None = None) -> Rebalance | None:
    """Share the site's current among its sessions now and send the shares that changed. One at a time per site: a
    call while another runs asks it to go once more (and returns None); a station rejecting a profile is taken out
    of the pool and the others shared again at once."""
    return sites_rebalance(site_ids=[site_id], now=now).get(site_id)


def sites_rebalance(*, site_ids: Sequence[int], now: datetime | None = None) -> dict[int, Rebalance]:
    """``site_rebalance`` of many sites at once (read, allocated, recorded and sent together); a site another
    rebalance holds is left to it."""
    held = []
    for site_id in dict.fromkeys(site_ids):
        if cache.add(_lock_key(site_id), 1, LOCK_SECONDS):
            held.append(site_id)
        else:
            cache.set(_again_key(site_id), 1, LOCK_SECONDS)
    results: dict[int, Rebalance] = {}
    try:
        pending = held
        for _ in range(MAX_ROUNDS):
            cache.delete_many([_again_key(site_id) for site_id in pending])
            rounds = _rebalance_once(pending, now=now)
            results.update(rounds)
            asked_again = cache.get_many([_again_key(site_id) for site_id in pending])
            pending = [s for s, result in rounds.items() if result.rejected or _again_key(s) in asked_again]
            if not pending:
                break
            now = None
    finally:
        cache.delete_many([_lock_key(site_id) for site_id in held])
    return results


def _lock_key(site_id: int) -> str:
    return f"smartcharging:site-rebalance:{site_id}"


def _again_key(site_id: int) -> str:
    return f"smartcharging:site-rebalance:{site_id}:again"


def _rebalance_once(site_ids: Sequence[int], *, now: datetime | None) -> dict[int, Rebalance]:
    to_send, ended, results = _recorded(site_ids, now=now)
    outcomes = async_to_sync(_send_all)(to_send, clear=ended) if to_send or ended else {}
    rejected = defaultdict(set)
    for slot in to_send:
        outcome = outcomes.get(slot.key)
        results[slot.station.site_id].sent += bool(outcome)
        if outcome is False:
            rejected[slot.station.site_id].add(slot.station.pk)
    for site_id, stations in rejected.items():
        results[site_id].rejected = sorted(stations)
    return results


@gc_paused()
def _recorded(
    site_ids: Sequence[int], *, now: datetime | None
) -> tuple[list[Slot], list[tuple[int, int]], dict[int, Rebalance]]:
    """The sites' shares planned and stored: the slots to send, the connector defaults to clear, each site's counts.
    What was read and planned is freed as this returns, before the collector resumes (it would walk it all)."""
    with transaction.atomic():
        plans = sites_plan(site_ids=site_ids, now=now, lock=True)
        to_send = sites_allocation_record(plans=list(plans.values()))
    ended = _connector_defaults_ended(plans.values())
    results = {
        site_id: Rebalance(
            site_id=site_id,
            allocated=len(plan.slots),
            queued=sum(1 for slot in plan.slots if slot.state == State.QUEUED),
        )
        for site_id, plan in plans.items()
    }
    return to_send, ended, results


# Rows written per statement when many sites' shares are stored at once.
RECORD_BATCH = 5000


@gc_paused()
def sites_allocation_record(*, plans: Sequence[SitePlan]) -> list[Slot]:
    """Store each connector's share (the rows that changed, in one upsert); returns the slots whose share changed
    (or was never delivered) and must be sent: decreases first, new sessions last. Call it in the transaction
    that read ``plans`` with ``sites_plan(lock=True)``."""
    if not plans:
        return []
    changed, rows, samples = [], [], []
    sites = [plan.site.pk for plan in plans]
    with transaction.atomic():
        keep = set()
        for plan in plans:
            previous, start, sent_keys = plan.previous, plan.at.timestamp(), {}
            for slot in plan.slots:
                before = previous.get(slot.key)
                keep.add(slot.key)
                row, send = _share(plan, slot, before, start=start, sent_keys=sent_keys)
                if row is not None:
                    rows.append(row)
                if send:
                    plan.changed = True
                    changed.append((before is None, slot.schedule[0][1] - (before.current_a if before else 0.0), slot))
        gone = [(key, plan.site.pk) for plan in plans for key in plan.previous if key not in keep]
        _shares_delete([key for key, _ in gone])
        _shares_upsert(rows)
        latest = _last_sampled(site_ids=sites)
        gone_sites = {site_id for _, site_id in gone}
        for plan in plans:
            last = latest.get(plan.site.pk)
            if plan.changed or plan.site.pk in gone_sites or last is None or plan.at - last >= SAMPLE_EVERY:
                samples.append(_sample(plan))
        _samples_insert(samples)
    return [slot for *_, slot in sorted(changed, key=lambda item: item[:2])]


def _share(
    plan: SitePlan, slot: Slot, before: Share | None, *, start: float, sent_keys: dict
) -> tuple[tuple | None, bool]:
    """The slot's row to store (None when the stored one is still right), and whether its profile must be sent (a
    managed slot whose schedule changed, or was never delivered). A row holds the schedule only when it is sent;
    otherwise the stored schedule, its fingerprint and its delivery stay as they are. ``sent_keys``: the plan's
    schedules' fingerprints so far (a site's cars mostly share one schedule)."""
    current_a, session_id = slot.schedule[0][1], slot.session.pk
    send, key = slot.fixed_a is None, None
    if send:
        schedule = tuple(slot.schedule)
        key = sent_keys.get(schedule)
        if key is None:
            key = sent_keys[schedule] = schedule_fingerprint(schedule, start)
        delivered = before is not None and before.transaction_id == session_id and before.sent_key is not None
        send = not delivered or before.sent_key != key
    site_id = plan.site.id
    if send:
        slot.starts_at = plan.at
    elif before is not None and before[:5] == (site_id, session_id, slot.state, current_a, slot.drawn_a):
        return None, False
    schedule, key = ([list(period) for period in slot.schedule], key) if send else (None, None)
    return (*slot.key, site_id, session_id, slot.state, current_a, slot.drawn_a, key, plan.at, schedule), send


def _last_sampled(*, site_ids: Sequence[int]) -> dict[int, datetime]:
    """Each site's latest load sample time (one index probe per site, however long the history)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.id, (SELECT at FROM smartcharging_siteloadsample WHERE site_id = s.id ORDER BY at DESC LIMIT 1)"
            " FROM unnest(%s::bigint[]) AS s(id)",
            [list(site_ids)],
        )
        return {site_id: at for site_id, at in cursor.fetchall() if at is not None}


def _shares_delete(keys: Sequence[tuple[int, int]]) -> None:
    if not keys:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM smartcharging_connectorallocation a USING unnest(%s::bigint[], %s::int[]) AS k(s, c)"
            " WHERE a.station_id = k.s AND a.connector_id = k.c",
            [[station for station, _ in keys], [connector for _, connector in keys]],
        )


def _shares_upsert(rows: Sequence[tuple]) -> None:
    """Insert or update the shares (rows of ``_share``), one statement per batch. The columns travel as array
    literals: cheap to build here and to parse there (a JSON document of 20,000 rows takes the server longer to
    decode than the update itself)."""
    now = timezone.now()
    for start in range(0, len(rows), RECORD_BATCH):
        columns = list(zip(*rows[start : start + RECORD_BATCH], strict=True))
        moments = {at: at.isoformat() for at in set(columns[-2])}  # one per plan
        columns[-2] = [moments[at] for at in columns[-2]]
        columns[-1] = [None if schedule is None else json.dumps(schedule) for schedule in columns[-1]]
        with connection.cursor() as cursor:
            cursor.execute(UPSERT, [*map(array_literal, columns), now])


# A share sent is stored with its schedule, from its plan's moment, to be delivered; one not sent (schedule NULL)
# keeps the schedule and the delivery stored. Queued since the first allocation that queued it.
UPSERT = """
INSERT INTO smartcharging_connectorallocation AS a (station_id, connector_id, site_id, transaction_id, state, current_a,
    drawn_a, queued_since, schedule, schedule_start, schedule_key, delivery, delivery_detail, updated_at)
SELECT k.station_id, k.connector_id, k.site_id, k.transaction_id, k.state, k.current_a, k.drawn_a,
    CASE WHEN k.state = 'queued' THEN k.at END, COALESCE(k.schedule, '[]'),
    CASE WHEN k.schedule IS NOT NULL THEN k.at END, COALESCE(k.schedule_key, ''), 'pending', '', t.now
FROM unnest(%s::bigint[], %s::int[], %s::bigint[], %s::bigint[], %s::text[], %s::float8[], %s::float8[], %s::text[],
    %s::timestamptz[], %s::jsonb[]) AS k(station_id, connector_id, site_id, transaction_id, state, current_a, drawn_a,
    schedule_key, at, schedule)
CROSS JOIN (SELECT %s::timestamptz) AS t(now)
ON CONFLICT (station_id, connector_id) DO UPDATE SET site_id = EXCLUDED.site_id,
    transaction_id = EXCLUDED.transaction_id, state = EXCLUDED.state, current_a = EXCLUDED.current_a,
    drawn_a = EXCLUDED.drawn_a,
    queued_since = CASE WHEN EXCLUDED.state = 'queued' THEN COALESCE(a.queued_since, EXCLUDED.queued_since) END,
    schedule = CASE WHEN EXCLUDED.schedule_start IS NULL THEN a.schedule ELSE EXCLUDED.schedule END,
    schedule_start = COALESCE(EXCLUDED.schedule_start, a.schedule_start),
    schedule_key = CASE WHEN EXCLUDED.schedule_start IS NULL THEN a.schedule_key ELSE EXCLUDED.schedule_key END,
    delivery = CASE WHEN EXCLUDED.schedule_start IS NULL THEN a.delivery ELSE 'pending' END,
    delivery_detail = CASE WHEN EXCLUDED.schedule_start IS NULL THEN a.delivery_detail ELSE '' END,
    updated_at = EXCLUDED.updated_at
"""


class LoadSample(NamedTuple):
    """A SiteLoadSample's row (a thousand sites' are written at once, without a model instance each)."""

    site_id: int
    at: datetime
    limit_a: float
    allocated_a: float
    drawn_a: float | None
    building_a: float | None
    sessions: int
    queued: int


SAMPLES_INSERT = """INSERT INTO smartcharging_siteloadsample
    (site_id, at, limit_a, allocated_a, drawn_a, building_a, sessions, queued)
SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::float8[], %s::float8[], %s::float8[], %s::float8[],
    %s::int[], %s::int[])"""


def _samples_insert(samples: Sequence[LoadSample]) -> None:
    for start in range(0, len(samples), RECORD_BATCH):
        columns = list(zip(*samples[start : start + RECORD_BATCH], strict=True))
        columns[1] = [at.isoformat() for at in columns[1]]
        with connection.cursor() as cursor:
            cursor.execute(SAMPLES_INSERT, [array_literal(column) for column in columns])


def _sample(plan: SitePlan) -> LoadSample:
    """The site's load on its most loaded phase (a one-phase car counts on its phase only)."""
    drawing = [slot for slot in plan.slots if slot.drawn_a is not None]
    return LoadSample(
        site_id=plan.site.id,
        at=plan.at,
        limit_a=plan.limit_a,
        allocated_a=_most_loaded_phase(plan.slots, lambda slot: slot.schedule[0][1]),
        drawn_a=_most_loaded_phase(drawing, lambda slot: slot.drawn_a) if drawing else None,
        building_a=plan.building_a,
        sessions=len(plan.slots),
        queued=sum(1 for slot in plan.slots if slot.state == State.QUEUED),
    )


def _most_loaded_phase(slots: Sequence[Slot], amps) -> float:
    totals = dict.fromkeys(allocation.LINES, 0)
    for slot in slots:
        value = amps(slot)
        for line in slot.lines:
            totals[line] += value
    return max(totals.values())


def tx_profile(slot: Slot, *, starts_at: datetime, connector_default: bool = False) -> outbound.OutboundCall:
    """The SetChargingProfile call holding the slot's session at its share (per period): its TxProfile, or with
    ``connector_default`` (a station refusing TxProfiles) its connector's TxDefaultProfile, above the station's
    fail-safe default; that one holds whatever session charges there, until it is cleared."""
    version = slot.station.ocpp_version
    if connector_default:
        profile_id, purpose, stack_level, transaction_id = (
            TX_DEFAULT_PROFILE_ID_BASE + slot.connector_id,
            "TxDefaultProfile",
            TX_DEFAULT_STACK_LEVEL,
            None,
        )
    else:
        profile_id, purpose, stack_level, transaction_id = (
            TX_PROFILE_ID_BASE + slot.connector_id,
            "TxProfile",
            TX_STACK_LEVEL,
            outbound.station_transaction_id(version, slot.session),
        )
    profile = outbound.current_limit_profile(
        version,
        profile_id=profile_id,
        purpose=purpose,
        stack_level=stack_level,
        starts_at=starts_at,
        periods=[(offset, amps, slot.phases) for offset, amps in slot.schedule],
        transaction_id=transaction_id,
    )
    return outbound.charging_profile_set(version, connector_id=slot.connector_id, profile=profile)


async def _send_all(
    slots: Sequence[Slot], *, clear: Sequence[tuple[int, int]] = ()
) -> dict[tuple[int, int], bool | None]:
    """Clear the connector defaults of ``clear`` (station, connector: their sessions ended), send the decreases, then
    the increases and new sessions (each batch at once): True accepted, False rejected, None not delivered (the
    station is lost: it keeps what it held, and the next watch sends again)."""
    station_ids = {s.station.pk for s in slots} | {station_id for station_id, _ in clear}
    stations = {station.pk: station async for station in Station.objects.filter(pk__in=station_ids)}
    await _connector_defaults_clear([(stations[station_id], connector) for station_id, connector in clear])
    lower = [slot for slot in slots if slot.offered_a is not None and slot.schedule[0][1] <= slot.offered_a]
    higher = [slot for slot in slots if slot not in lower]
    outcomes = {}
    for batch in (lower, higher):
        answers = await asyncio.gather(*(_send_one(slot, stations[slot.station.pk]) for slot in batch))
        outcomes.update(zip((slot.key for slot in batch), answers, strict=True))
    return outcomes


async def _send_one(slot: Slot, station: Station) -> bool | None:
    """Send the slot's TxProfile; to a station that refused one since its last boot, or refuses it now where its
    version allows (``outbound.tx_default_fallback``), its connector's default instead. A station taking a TxProfile
    after refusing one before its boot has its connectors' defaults cleared."""
    connector_default = bool(slot.station.tx_refused)
    command = await _profile_send(slot, station, connector_default=connector_default)
    if not connector_default and await sync_to_async(_tx_profile_refused)(slot, station, command):
        connector_default = True
        command = await _profile_send(slot, station, connector_default=True)
    accepted = await sync_to_async(_delivered)(slot, station, command)
    if accepted and not connector_default and slot.station.tx_refused is False:
        await _tx_profile_taken(station)
    return accepted


async def _profile_send(slot: Slot, station: Station, *, connector_default: bool) -> StationCommand:
    action, payload = tx_profile(slot, starts_at=slot.starts_at, connector_default=connector_default)
    return await station_call(station=station, action=action, payload=payload)


def _tx_profile_refused(slot: Slot, station: Station, command: StationCommand) -> bool:
    """Whether the station refused the session's TxProfile where its connector's default may stand in: then it is
    recorded, and its sessions' shares go as their connectors' defaults until it boots again. A session that ended
    meanwhile proves nothing."""
    if not outbound.tx_default_fallback(station.ocpp_version) or _accepted(station, command) is not False:
        return False
    if not Transaction.objects.filter(pk=slot.session.pk, status=Transaction.Status.ACTIVE).exists():
        return False
    StationLoadState.objects.update_or_create(station=station, defaults={"tx_profile_refused_at": timezone.now()})
    logger.info(
        "station refused a TxProfile: shares go as connector defaults",
        extra={"station_id": station.ocpp_id, "detail": _reason(command)},
    )
    return True


async def _tx_profile_taken(station: Station) -> None:
    """The station took a TxProfile after refusing one before its last boot: the refusal is forgotten and the
    defaults its connectors were sent are cleared (once: another session's TxProfile taken meanwhile finds it done)."""
    refusal = StationLoadState.objects.filter(station=station, tx_profile_refused_at__isnull=False)
    if await refusal.aupdate(tx_profile_refused_at=None):
        connectors = await sync_to_async(_station_connectors)(station)
        await _connector_defaults_clear([(station, connector) for connector in connectors])


def _connector_defaults_ended(plans: Iterable[SitePlan]) -> list[tuple[int, int]]:
    """The connectors (station, connector) whose session's share went as the connector's default and is gone (the
    session ended): the default would hold the next session there at the old share."""
    ended = [key for plan in plans for key in plan.previous.keys() - {slot.key for slot in plan.slots}]
    if not ended:
        return []
    refusing = set(
        StationLoadState.objects.filter(
            station__in={station_id for station_id, _ in ended},
            station__is_online=True,
            tx_profile_refused_at__isnull=False,
        ).values_list("station_id", flat=True)
    )
    return [key for key in ended if key[0] in refusing]


async def _connector_defaults_clear(connectors: Sequence[tuple[Station, int]]) -> list[StationCommand]:
    """Clear the connector defaults load management sent (by id; one the station does not hold is answered
    Unknown), all at once; a station that does not answer keeps its default until the next session there replaces
    it or load management releases the station."""
    calls = [
        outbound.charging_profile_clear(station.ocpp_version, profile_id=TX_DEFAULT_PROFILE_ID_BASE + connector)
        for station, connector in connectors
    ]
    return await asyncio.gather(
        *(
            station_call(station=station, action=action, payload=payload)
            for (station, _), (action, payload) in zip(connectors, calls, strict=True)
        )
    )


def _delivered(slot: Slot, station: Station, command: StationCommand) -> bool | None:
    accepted = _accepted(station, command)
    if (
        accepted is False
        and not Transaction.objects.filter(pk=slot.session.pk, status=Transaction.Status.ACTIVE).exists()
    ):
        accepted = None  # the session ended meanwhile: the profile had nothing left to hold, it was not a refusal
    delivery = {True: Delivery.SENT, False: Delivery.REJECTED, None: Delivery.FAILED}[accepted]
    detail = "" if accepted else _reason(command)
    ConnectorAllocation.objects.filter(station=station, connector_id=slot.connector_id).update(
        delivery=delivery, delivery_detail=detail[:255]
    )
    if accepted is False:
        station_rejected(station=station, detail=detail)
    elif accepted:
        station_accepted(station=station, sent_at=command.created_at)
    return accepted


def _accepted(station: Station, command: StationCommand) -> bool | None:
    if command.status == StationCommand.Status.ANSWERED:
        return outbound.answer_of(station.ocpp_version, command).accepted
    if command.status == StationCommand.Status.CALL_ERROR:
        return False  # NotSupported, NotImplemented...: it will not take profiles
    return None


def _reason(command: StationCommand) -> str:
    if command.status == StationCommand.Status.ANSWERED:
        return f"{command.action}: {(command.response or {}).get('status', 'refused')}"
    return f"{command.action}: {command.error_description or command.error_code or command.status}"


def station_rejected(*, station: Station, detail: str) -> Alert | None:
    """The station refused a profile: out of the pool at its maximum until it accepts one (at its next connection, or
    a limit change, it is asked again), and the operator told: once (None while the alert is open)."""
    now = timezone.now()
    StationLoadState.objects.update_or_create(
        station=station, defaults={"rejected_at": now, "rejected_detail": detail[:255]}
    )
    logger.warning("station rejected a load-management profile", extra={"station_id": station.ocpp_id})
    condition = Condition(
        station_id=station.pk,
        kind=Alert.Kind.PROFILE_REJECTED,
        severity=Alert.Severity.WARNING,
        subject="load-management",
        summary=f"Charging profile rejected ({detail}): counted at its maximum current until it accepts one",
        details={"detail": detail},
    )
    return alert_open(condition=condition, now=now)


def station_accepted(*, station: Station, sent_at: datetime) -> bool:
    """The station took a profile sent at ``sent_at``: a refusal recorded before that is over (it is back in the
    pool) and, with no refusal since, the operator's alert closes. A refusal of another profile sent at the same
    time stands. True when an alert was closed."""
    StationLoadState.objects.filter(station=station, rejected_at__lt=sent_at).update(
        rejected_at=None, rejected_detail=""
    )
    if StationLoadState.objects.filter(station=station, rejected_at__isnull=False).exists():
        return False
    return _rejection_alerts_close(
        Alert.objects.filter(station=station), reason="The station accepted a load-management profile"
    )


def rejection_alerts_settle() -> bool:
    """Close the refusal alerts of stations no longer under load management (their site's grid connection removed,
    or the station moved to an unmanaged site), and forget their refusal. True when one was closed."""
    unmanaged = Alert.objects.exclude(station__site__in=managed_site_ids())
    StationLoadState.objects.filter(rejected_at__isnull=False).exclude(station__site__in=managed_site_ids()).update(
        rejected_at=None, rejected_detail=""
    )
    return _rejection_alerts_close(unmanaged, reason="The station is no longer under load management")


def _rejection_alerts_close(alerts, *, reason: str) -> bool:
    closed = False
    for alert in alerts.filter(kind=Alert.Kind.PROFILE_REJECTED, closed_at__isnull=True):
        closed |= alert_close(alert=alert, reason=reason)
    return closed


# Fail-safe


def failsafe_current_a(*, station: Station, groups: Sequence[LoadGroup] | None = None) -> float:
    """The current (A per phase) each connector of ``station`` may take without the CSMS: its TxDefaultProfile.

    The rule, for the worst case, when every station of the site has fallen back to its default at once and every
    connector of each draws it: below each node, on each phase, the node's lowest limit of any period less the
    building's worst case is shared equally by all the connectors of the site's stations that load that phase (a
    one-phase connector loads its one phase, per its settings and rotation; the others all three). The station's
    share is the least of those along its path. The building's worst case: its peak over the last
    ``BUILDING_PEAK_WINDOW`` or more by the group's meter, and at least the group's ``building_reserve_a`` (which
    alone counts without a meter). A share below the largest minimum of the station's connectors is 0 A: its cars
    wait (``allocation.failsafe_shares``)."""
    if groups is None:
        groups = list(LoadGroup.objects.filter(site_id=station.site_id))
    periods = defaultdict(list)
    for period in LimitPeriod.objects.filter(group__in=groups):
        periods[period.group_id].append(period)
    by_pk = {group.pk: group for group in groups}
    root = _root(groups)
    nodes = [
        allocation.Node(group.pk, group.parent_id, _worst_case_limit_a(group, periods[group.pk])) for group in groups
    ]
    site_ids = [station.site_id]
    placements = dict(LoadGroupStation.objects.filter(station__site_id=station.site_id).values_list("station", "group"))
    caps, rotations = connector_caps(site_ids=site_ids), connector_rotations(site_ids=site_ids)
    connectors = defaultdict(list)
    rows = Connector.objects.filter(station__site_id=station.site_id, connector_id__gt=0)
    for station_id, connector_id in rows.values_list("station_id", "connector_id"):
        connectors[station_id].append(connector_id)
    fallbacks = []
    for pk in Station.objects.filter(site_id=station.site_id).values_list("pk", flat=True):
        lines, minimums = [], []
        for connector_id in connectors[pk] or [1]:  # a station whose connectors are not known yet: one at least
            min_a, _, phases, _ = caps.get((pk, connector_id), DEFAULT_CAPS)
            lines.append(
                supply_lines(phases=phases, rotation=rotations.get((pk, connector_id)), site_phases=root.phases)[1]
            )
            minimums.append(float(min_a))
        node = placements.get(pk) if placements.get(pk) in by_pk else root.pk
        fallbacks.append(allocation.Fallback(pk, node, tuple(lines), max(minimums)))
    return allocation.failsafe_shares(nodes, fallbacks)[station.pk]


def _worst_case_limit_a(group: LoadGroup, periods: Sequence[LimitPeriod]) -> float:
    """The group's lowest limit of any period less the building's worst case, in A per phase."""
    lowest = min([group.limit, *(period.limit for period in periods)])
    return max(0.0, group.limit_a(lowest) - building_worst_case_a(group))


def building_worst_case_a(group: LoadGroup) -> float:
    """The most the building may take (A per phase) as far as the CSMS knows: its metered peak of the last window
    or more (and its last reading), at least the operator's reserve."""
    readings = (group.building_load_w, group.building_peak_w, group.building_peak_before_w)
    measured = [watts for watts in readings if watts is not None]
    peak = _amps(max(measured), group) if group.meter_source and measured else 0.0
    return max(float(group.building_reserve_a), peak)


def station_failsafe_send(*, station: Station, reconnected: bool = True) -> bool | None:
    """Send ``station`` its default profile. After a (re)connection (``reconnected``) it may have lost everything:
    its sessions' profiles are made due again and a refusal recorded before is forgotten (it is asked again). True
    accepted, False rejected (alerted), None not delivered."""
    station = Station.objects.get(pk=station.pk)
    groups = list(LoadGroup.objects.filter(site_id=station.site_id))
    current = failsafe_current_a(station=station, groups=groups)
    profile = outbound.current_limit_profile(
        station.ocpp_version,
        profile_id=FAILSAFE_PROFILE_ID,
        purpose="TxDefaultProfile",
        stack_level=FAILSAFE_STACK_LEVEL,
        starts_at=station.connected_at or timezone.now(),
        periods=[(0, current, _root(groups).phases)],
    )
    action, payload = outbound.charging_profile_set(station.ocpp_version, connector_id=0, profile=profile)
    held = StationLoadState.objects.filter(station=station).values_list("failsafe_current_a", flat=True).first()
    state = {"failsafe_current_a": current if held is None else max(held, current)}  # either, until it answers
    if reconnected:
        state.update(failsafe_connected_at=station.connected_at, rejected_at=None, rejected_detail="")
        ConnectorAllocation.objects.filter(station=station).update(delivery=Delivery.PENDING)
    StationLoadState.objects.update_or_create(station=station, defaults=state)
    command = async_to_sync(station_call)(station=station, action=action, payload=payload)
    accepted = _accepted(station, command)
    if accepted is False:
        station_rejected(station=station, detail=_reason(command))
    elif accepted:
        StationLoadState.objects.filter(station=station).update(failsafe_current_a=current)
        station_accepted(station=station, sent_at=command.created_at)
    return accepted


def stations_to_protect(*, now: datetime) -> list[Station]:
    """Online stations of managed sites whose present connection has not had its default profile yet (booted since
    it connected, or connected a while: a reconnect without a boot)."""
    return list(
        Station.objects.filter(
            site__in=managed_site_ids(),
            is_online=True,
            connected_at__isnull=False,
            registration_status=Station.RegistrationStatus.ACCEPTED,
        )
        .filter(Q(last_boot_at__gte=F("connected_at")) | Q(connected_at__lte=now - RECONNECT_SETTLE))
        .exclude(load_state__failsafe_connected_at=F("connected_at"))
    )


def stations_release() -> list[int]:
    """Clear the profiles load management left on the online stations no longer under it (their site's grid
    connection removed, or the station moved to a site without one): else its fail-safe default, which does not end
    with a session, would hold every later session at the old share, and a car waiting at 0 A would wait until it
    leaves. A station is released once it answered (``StationLoadState`` is then forgotten: under load management
    again, it is protected anew); one that did not is asked again at the next watch. Returns the stations released."""
    leaving = Station.objects.filter(is_online=True, load_state__isnull=False).exclude(site__in=managed_site_ids())
    return [station.pk for station in leaving if station_release(station=station)]


def station_release(*, station: Station) -> bool:
    """Clear load management's profiles on ``station`` by their ids: its default and a TxProfile on each connector
    it has or charges on, and the connector's default where its version may have been sent one instead (a profile
    it does not hold is answered Unknown). False when a request went unanswered."""
    bases = [TX_PROFILE_ID_BASE]
    if outbound.tx_default_fallback(station.ocpp_version):
        bases.append(TX_DEFAULT_PROFILE_ID_BASE)
    ids = [FAILSAFE_PROFILE_ID, *(base + connector for base in bases for connector in _station_connectors(station))]
    for profile_id in ids:
        action, payload = outbound.charging_profile_clear(station.ocpp_version, profile_id=profile_id)
        command = async_to_sync(station_call)(station=station, action=action, payload=payload)
        if command.status not in (StationCommand.Status.ANSWERED, StationCommand.Status.CALL_ERROR):
            return False  # not delivered: the next watch asks again (a CALL_ERROR would answer the same again)
    StationLoadState.objects.filter(station=station).delete()
    return True


def _station_connectors(station: Station) -> list[int]:
    """The connectors the station has or charges on (a connector the CSMS has no row of yet may have a session)."""
    connectors = {*Connector.objects.filter(station=station, connector_id__gt=0).values_list("connector_id", flat=True)}
    connectors |= {
        *Transaction.objects.filter(station=station, status=Transaction.Status.ACTIVE, connector_id__gt=0).values_list(
            "connector_id", flat=True
        )
    }
    return sorted(connectors)


# The building's own load


def site_meter_power_kw(group: LoadGroup) -> float | None:
    """The seam to the site meter reader (``smartcharging.site_meter``, Modbus TCP): the building's power in kW,
    None when it cannot be read."""
    try:
        power = site_meter.read_site_power_kw(
            group.meter_host, group.meter_port, group.meter_unit, group.meter_register
        )
    except site_meter.SiteMeterUnavailable as unavailable:  # the last reading stays in force
        logger.warning("site meter not read: %s", unavailable, extra={"group_id": group.pk, "host": group.meter_host})
        return None
    return float(power)


def building_load_refresh(*, group: LoadGroup, now: datetime) -> bool:
    """Read the group's building-load source; True when the load moved enough to share the current again. A new
    peak that raises the building's worst case (``building_worst_case_a``) lowers the stations' fail-safe defaults at
    once."""
    if group.meter_source == LoadGroup.MeterSource.MODBUS:
        kilowatts = site_meter_power_kw(group)
        watts = None if kilowatts is None else round(kilowatts * 1000)
    elif group.meter_source == LoadGroup.MeterSource.STATION and group.meter_station_id:
        watts = (
            Connector.objects.filter(station_id=group.meter_station_id, connector_id=0)
            .values_list("power_w", flat=True)
            .first()
        )
    else:
        return False
    if watts is None:
        return False
    before, worst_before = group.building_load_w, building_worst_case_a(group)
    group.building_load_w, group.building_load_at = watts, now
    if group.building_peak_since is None or now - group.building_peak_since >= BUILDING_PEAK_WINDOW:
        group.building_peak_before_w, group.building_peak_w, group.building_peak_since = (
            group.building_peak_w,
            watts,
            now,
        )
    else:
        group.building_peak_w = max(watts, group.building_peak_w if group.building_peak_w is not None else watts)
    LoadGroup.objects.filter(pk=group.pk).update(
        building_load_w=watts,
        building_load_at=now,
        building_peak_w=group.building_peak_w,
        building_peak_before_w=group.building_peak_before_w,
        building_peak_since=group.building_peak_since,
    )
    if building_worst_case_a(group) - worst_before >= BUILDING_CHANGE_A:
        site_failsafe_resend(site_id=group.site_id)
    return before is None or abs(_amps(watts - before, group)) >= BUILDING_CHANGE_A


def sites_watch(*, now: datetime | None = None) -> set[int]:
    """The periodic look at every managed site: read the building meters, protect stations that (re)connected,
    release those no longer under load management (``stations_release``), and share again the sites whose inputs
    changed or may have (``sites_due``: only those, the others' shares stand). Returns the sites shared again."""
    now = now or timezone.now()
    due = set()
    for group in LoadGroup.objects.exclude(meter_source=LoadGroup.MeterSource.NONE):
        if building_load_refresh(group=group, now=now):
            due.add(group.site_id)
    for station in stations_to_protect(now=now):
        station_failsafe_send(station=station)
        due.add(station.site_id)
    rejection_alerts_settle()
    stations_release()
    due |= sites_due(now=now)
    sites_rebalance(site_ids=sorted(due))
    return due


def sites_due(*, now: datetime) -> set[int]:
    """The managed sites with sessions or shares whose allocation may no longer be right: a session started or
    stopped that no rebalance took in yet, a profile not delivered, a station lost, back or refusing, a car drawing
    much less than offered (or no longer), a limit period begun or ended since the site's last load sample, or no
    sample for ``SAMPLE_EVERY`` (the operator's graph; it also catches what no rule names, such as an EV's
    departure coming nearer)."""
    shares = ConnectorAllocation.objects.filter(site__in=managed_site_ids()).order_by()
    active = Transaction.objects.filter(
        status=Transaction.Status.ACTIVE, connector_id__gt=0, station__site__in=managed_site_ids()
    ).order_by()
    watched = {*shares.values_list("site_id", flat=True).distinct()}
    watched |= {*active.values_list("station__site_id", flat=True).distinct()}
    if not watched:
        return set()
    due = set(_sessions_not_shared(active, shares))
    due |= set(
        shares.filter(state__in=(State.CHARGING, State.QUEUED))
        .exclude(delivery=Delivery.SENT)
        .values_list("site_id", flat=True)
    )
    due |= set(_stations_changed(shares).values_list("site_id", flat=True))
    due |= _draws_changed(shares, site_ids=watched, now=now)
    due |= _periods_or_samples_due(watched, now=now)
    return due


def _sessions_not_shared(active, shares) -> Iterable[int]:
    """Sites where an active session has no share yet, or a share outlived its session."""
    unshared = active.exclude(
        Exists(ConnectorAllocation.objects.filter(transaction_id=OuterRef("pk"), connector_id=OuterRef("connector_id")))
    )
    ended = shares.exclude(transaction__status=Transaction.Status.ACTIVE)
    return [*unshared.values_list("station__site_id", flat=True), *ended.values_list("site_id", flat=True)]


def _stations_changed(shares):
    """Shares whose station's state no longer matches them: refusing (counted at its maximum), else lost (counted
    at what it holds), else online and taking profiles."""
    refusing = Q(station__load_state__rejected_at__isnull=False)
    lost = ~refusing & Q(station__is_online=False)
    return shares.filter(
        (refusing & ~Q(state=State.REJECTED))
        | (lost & ~Q(state=State.LOST))
        | (~refusing & ~lost & Q(state__in=(State.REJECTED, State.LOST)))
    )


def _draws_changed(shares, *, site_ids: Iterable[int], now: datetime) -> set[int]:
    """Sites where a charging car's draw would change what it is offered: it draws much less than its share (the
    allocation takes the rest back), or its share was cut to its draw and it now takes more."""
    site_ids = list(site_ids)
    roots = LoadGroup.objects.filter(site_id__in=site_ids, parent__isnull=True)
    voltages = dict(roots.values_list("site_id", "voltage"))
    stations = dict(Station.objects.filter(site_id__in=site_ids).values_list("pk", "site_id"))
    drawn, _ = _drawn_amps(site_ids, now=now, voltages={pk: voltages[site] for pk, site in stations.items()})
    caps = connector_caps(site_ids=site_ids)
    rows = shares.filter(state=State.CHARGING).values_list(
        "site_id", "station_id", "connector_id", "current_a", "drawn_a"
    )
    due = set()
    for site_id, station_id, connector_id, current_a, drawn_before in rows:
        key = (station_id, connector_id)
        if drawn_before is None and key not in drawn:
            continue  # never measured: offered what any car is
        min_a, max_a, *_ = caps.get(key, DEFAULT_CAPS)
        offered = allocation.units(current_a)
        cap_now = _cap_units(min_a, max_a, offered_a=current_a, drawn_a=drawn.get(key))
        cut_to_draw = drawn_before is not None and offered == _cap_units(
            min_a, max_a, offered_a=current_a, drawn_a=drawn_before
        ) < allocation.units(max_a)
        if cap_now < offered or (cut_to_draw and cap_now > offered):
            due.add(site_id)
    return due


def _cap_units(min_a, max_a, *, offered_a: float, drawn_a: float | None) -> int:
    """The most the allocation would offer a car drawing ``drawn_a`` of ``offered_a``, in its units."""
    demand = allocation.Demand(None, None, float(min_a), float(max_a), offered_a=offered_a, drawn_a=drawn_a)
    return allocation.units(allocation.cap_a(demand))


class PeriodBounds(NamedTuple):
    """When a limit period begins and ends (what ``next_period_change`` reads of it)."""

    starts: time
    ends: time


def _periods_or_samples_due(site_ids: set[int], *, now: datetime) -> set[int]:
    """Sites whose last load sample is older than ``SAMPLE_EVERY``, or than a limit period's start or end."""
    last = _last_sampled(site_ids=list(site_ids))
    periods, zones = defaultdict(list), {}
    rows = LimitPeriod.objects.filter(group__site_id__in=site_ids).order_by()
    for site_id, zone, starts, ends in rows.values_list("group__site_id", "group__site__timezone", "starts", "ends"):
        periods[site_id].append(PeriodBounds(starts, ends))
        zones[site_id] = zone
    due = set()
    for site_id in site_ids:
        since = last.get(site_id)
        if since is None or now - since >= SAMPLE_EVERY:
            due.add(site_id)
        elif periods[site_id]:
            change = next_period_change(periods[site_id], after=since, tz=ZoneInfo(zones[site_id] or "UTC"))
            if change is not None and change <= now:
                due.add(site_id)
    return due


# Limits set by the operator


def load_group_save(
    *, group: LoadGroup, periods: Sequence[dict] | None = None, stations: Sequence[Station] | None = None
) -> LoadGroup:
    """Create or change a group; when given, replace its limit periods (dicts of starts, ends, limit) and the
    stations placed in it (stations of its site; a station leaves any other feeder). Then share the site again at
    once: every online station's default profile first (a lower limit must hold without the CSMS too), then the
    sessions' profiles. Raises ValidationError for a bad group, period or station."""
    group.full_clean()
    period_rows = [LimitPeriod(group=group, **period) for period in periods or ()]
    for row in period_rows:
        row.full_clean(exclude=["group"])
    strangers = [station.ocpp_id for station in stations or () if station.site_id != group.site_id]
    if strangers:
        raise ValidationError({"stations": f"Not at the group's site: {', '.join(strangers)}."})
    with transaction.atomic():
        group.save()
        if periods is not None:
            group.periods.all().delete()
            for row in period_rows:
                row.group = group
            LimitPeriod.objects.bulk_create(period_rows)
        if stations is not None:
            group.placements.exclude(station__in=stations).delete()
            for station in stations:
                LoadGroupStation.objects.update_or_create(station=station, defaults={"group": group})
    site_protect_and_rebalance(site_id=group.site_id)
    return group


def load_group_delete(*, group: LoadGroup) -> None:
    """Remove a group (a feeder's stations fall back below its parent; the grid connection ends load management
    at the site: its online stations have the profiles the CSMS sent cleared at once, the others when they are back,
    ``stations_release``)."""
    site_id, root = group.site_id, group.parent_id is None
    group.delete()
    if root:
        ConnectorAllocation.objects.filter(site_id=site_id).delete()
        rejection_alerts_settle()
        stations_release()
    else:
        site_protect_and_rebalance(site_id=site_id)


# Needs stated by the driver

# A driver says when they leave within this (a later departure is a typo, or no plan at all).
DRIVER_DEPARTURE_HORIZON = timedelta(hours=48)
SESSION_ENDED = "This session has ended: its charging needs can no longer be changed."


def driver_needs_set(
    *, session: Transaction, departure_at: datetime, energy_kwh: Decimal | None = None, now: datetime | None = None
) -> DriverChargingNeeds:
    """State (or change) a session's needs as its driver said them, and share its site again after the commit.
    Raises ValidationError: the session has ended, the departure is not in the next 48 hours, the energy is out of
    range. The caller checks the session is the driver's."""
    now = now or timezone.now()
    errors = {}
    if timezone.is_naive(departure_at):
        errors["departure_at"] = "Give the departure with its time zone."
    elif departure_at <= now:
        errors["departure_at"] = "The departure must be in the future."
    elif departure_at > now + DRIVER_DEPARTURE_HORIZON:
        errors["departure_at"] = "The departure must be within the next 48 hours."
    with transaction.atomic():
        session = Transaction.objects.select_for_update().get(pk=session.pk)  # a stop meanwhile waits, or is seen
        if session.status != Transaction.Status.ACTIVE:
            raise ValidationError(SESSION_ENDED)
        row = DriverChargingNeeds.objects.filter(transaction=session).first() or DriverChargingNeeds(
            transaction=session
        )
        row.departure_at, row.energy_kwh = departure_at, energy_kwh
        try:
            row.full_clean(exclude=["transaction", "departure_at"])
        except ValidationError as error:
            errors.update(error.message_dict)
        if errors:
            raise ValidationError(errors)
        row.save()
    station_site_rebalance_soon(station_id=session.station_id)
    return row


def driver_needs_clear(*, session: Transaction) -> bool:
    """Forget what the driver said of the session (the car's own needs, if any, still plan it); whether there was
    anything to forget."""
    deleted, _ = DriverChargingNeeds.objects.filter(transaction=session).delete()
    if deleted:
        station_site_rebalance_soon(station_id=session.station_id)
    return bool(deleted)


def station_site_rebalance_soon(*, station_id: int) -> None:
    """Share the station's site again after the commit, if it is under load management."""
    site_id = managed_site_of(station_id=station_id)
    if site_id is not None:
        site_rebalance_soon(site_id=site_id)


def site_protect_and_rebalance(*, site_id: int) -> Rebalance | None:
    """Send every online station of the site its (new) default profile, then share the site's current now."""
    site_failsafe_resend(site_id=site_id)
    return site_rebalance(site_id=site_id)


def site_failsafe_resend(*, site_id: int) -> None:
    """Send every online station of the site its default profile again (a limit or the building's worst case
    changed)."""
    for station in Station.objects.filter(site_id=site_id, is_online=True).select_related("load_state"):
        state = getattr(station, "load_state", None)
        first = state is None or state.failsafe_connected_at != station.connected_at  # not protected on this connection
        station_failsafe_send(station=station, reconnected=first)


# Triggers


_in_process = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-management")


def site_rebalance_soon(*, site_id: int) -> None:
    """Rebalance the site after the current transaction commits, as a Celery task. In-process (the embedded
    default) it runs on a thread of its own: the caller may be an OCPP handler whose own station must answer."""
    from smartcharging import tasks

    def queue() -> None:
        if tasks.site_rebalance.app.conf.task_always_eager:
            _in_process.submit(_run_logged, site_id)
        else:
            tasks.site_rebalance.delay(site_id)

    transaction.on_commit(queue)


def _run_logged(site_id: int) -> None:
    try:
        site_rebalance(site_id=site_id)
    except Exception:
        logger.exception("site rebalance failed", extra={"site_id": site_id})
    finally:
        connection.close()  # this thread's own connection: nothing holds it between triggers


def managed_site_of(*, station_id: int) -> int | None:
    """The site of the station when it has load management."""
    return Station.objects.filter(pk=station_id, site__in=managed_site_ids()).values_list("site_id", flat=True).first()

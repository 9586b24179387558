"""Site load management: share each site's grid connection among the sessions charging there.

``site_rebalance`` reads a site's limits (``LoadGroup`` tree, time-of-day periods, the building's own load), its
active sessions and what their connectors can take, lets ``smartcharging.allocation`` share the current, records
each connector's share (``ConnectorAllocation``) and sends the stations the shares that changed: a TxProfile for
the session (1.6 and 2.0.1 alike, through ``stations.protocol.outbound``), decreases before increases, so the
site is never above its limit in between. Each profile covers the current limit period and the next one, so a
period that begins lowers the cars on time even before the CSMS recomputes.

Fail-safe: every station of a managed site gets a TxDefaultProfile (connector / EVSE 0) when it connects, with a
share that keeps the site under its lowest limit with every connector charging; a station the CSMS loses keeps its
last TxProfile, so it is counted at that until it is back. A station that rejects a profile is counted at its
connectors' maximum and the operator is alerted, until it reconnects.

Triggers (``site_rebalance_soon``, after the commit, off the OCPP hot path): a session starting or stopping
(``smartcharging.signals``), a limit change (``load_group_update``), and ``sites_watch`` (Celery beat): a station
(re)connecting, a car drawing much less than offered, the building's load changing, a limit period beginning.
"""

import asyncio
import logging
import math
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from asgiref.sync import async_to_sync, sync_to_async
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from monitoring.alerts import Condition, alert_open
from monitoring.models import Alert
from sessions.models import MeterSample, Transaction
from smartcharging import allocation
from smartcharging.models import (
    ConnectorAllocation,
    EVChargingNeeds,
    LimitPeriod,
    LoadGroup,
    LoadGroupStation,
    SiteLoadSample,
    StationLoadState,
)
from smartcharging.selectors import caps_of, connector_caps
from stations.models import Connector, Site, Station, StationCommand
from stations.protocol import outbound
from stations.protocol.commands import station_call

logger = logging.getLogger(__name__)

State = ConnectorAllocation.State
Delivery = ConnectorAllocation.Delivery
# Profile ids and stack levels of load management: the session's TxProfile above the connection's default.
FAILSAFE_PROFILE_ID = 900_000
TX_PROFILE_ID_BASE = 910_000  # + the connector (EVSE) id: one TxProfile per connector, replaced in place
FAILSAFE_STACK_LEVEL = 0
TX_STACK_LEVEL = 1
# A current reading older than this is not what the car draws now.
DRAW_WINDOW = timedelta(minutes=2)
# A building load moving by more than this (A per phase) is worth a new allocation.
BUILDING_CHANGE_A = 1.0
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
    """The group's limit at ``at`` in amps per phase, the building's last measured load taken off."""
    limit = group.limit
    local = at.astimezone(tz).time()
    for period in periods:
        if _within(local, period.starts, period.ends):
            limit = period.limit
            break
    amps = float(limit) if group.limit_unit == LoadGroup.Unit.AMPS else _amps(float(limit) * 1000, group)
    if group.building_load_w is not None:
        amps -= _amps(group.building_load_w, group)
    return max(0.0, amps)


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


# Reading a site


@dataclass
class Slot:
    """One connector of a managed site with its session: the input of the allocation and its outcome."""

    station: Station
    connector_id: int
    session: Transaction | None
    node: int
    min_a: float
    max_a: float
    phases: int
    priority: int
    arrival: float
    required_a: float | None = None
    offered_a: float | None = None
    drawn_a: float | None = None
    fixed_a: float | None = None
    state: str = State.CHARGING
    schedule: list = field(default_factory=list)  # [(seconds from the start, amps)]

    @property
    def key(self) -> tuple:
        return (self.station.pk, self.connector_id)


@dataclass
class SitePlan:
    site: Site
    at: datetime
    groups: list
    slots: list
    limit_a: float
    building_a: float | None
    next_change_at: datetime | None


def _site_groups(site_id: int) -> tuple[list[LoadGroup], dict[int, list[LimitPeriod]]]:
    groups = list(LoadGroup.objects.filter(site_id=site_id).select_related("site"))
    periods = defaultdict(list)
    for period in LimitPeriod.objects.filter(group__site_id=site_id):
        periods[period.group_id].append(period)
    return groups, periods


def _root(groups: Sequence[LoadGroup]) -> LoadGroup | None:
    return next((group for group in groups if group.parent_id is None), None)


def _drawn_amps(stations: Sequence[Station], *, now: datetime) -> dict[tuple[int, int], float]:
    """What each connector draws now: its latest Current.Import (the most loaded phase), else its power."""
    drawn: dict[tuple[int, int], tuple[datetime, float]] = {}
    samples = MeterSample.objects.filter(
        station__in=stations, measurand="Current.Import", timestamp__gte=now - DRAW_WINDOW, value__isnull=False
    ).values_list("station_id", "connector_id", "timestamp", "value")
    for station_id, connector_id, at, value in samples:
        key = (station_id, connector_id)
        seen = drawn.get(key)
        if seen is None or at > seen[0]:
            drawn[key] = (at, value)
        elif at == seen[0]:
            drawn[key] = (at, max(value, seen[1]))
    return {key: value for key, (_, value) in drawn.items()}


def _power_amps(stations: Sequence[Station], *, now: datetime, voltage: int) -> dict[tuple[int, int], float]:
    rows = Connector.objects.filter(
        station__in=stations, connector_id__gt=0, power_w__isnull=False, measured_at__gte=now - DRAW_WINDOW
    ).values_list("station_id", "connector_id", "power_w")
    return {(station_id, connector_id): watts / voltage for station_id, connector_id, watts in rows}


def _required_amps(session: Transaction, needs: EVChargingNeeds | None, *, now: datetime, voltage: int, phases: int):
    """The current that gets the EV its energy by its departure, when it said both (2.0.1 NotifyEVChargingNeeds)."""
    if needs is None or needs.departure_time is None or needs.received_at < session.started_at:
        return None
    parameters = needs.charging_needs.get("acChargingParameters") or needs.charging_needs.get("dcChargingParameters")
    energy_wh = (parameters or {}).get("energyAmount")
    hours = (needs.departure_time - now).total_seconds() / 3600
    if energy_wh is None or hours <= 0:
        return None
    return float(energy_wh) / (hours * voltage * phases)


def site_plan(*, site_id: int, now: datetime | None = None) -> SitePlan | None:
    """Each active session's share at ``site_id`` now and from the next limit period on; None for a site without
    load management."""
    now = now or timezone.now()
    groups, periods = _site_groups(site_id)
    root = _root(groups)
    if root is None:
        return None
    site, tz = root.site, ZoneInfo(root.site.timezone or "UTC")
    stations = list(Station.objects.filter(site_id=site_id).select_related("load_state"))
    placements = dict(LoadGroupStation.objects.filter(station__in=stations).values_list("station_id", "group_id"))
    group_ids = {group.pk for group in groups}
    sessions = (
        Transaction.objects.filter(station__in=stations, status=Transaction.Status.ACTIVE, connector_id__gt=0)
        .order_by("started_at", "pk")
        .only("pk", "station_id", "connector_id", "started_at", "ocpp_transaction_id")
    )
    caps = connector_caps(stations)
    previous = {
        (row.station_id, row.connector_id): row for row in ConnectorAllocation.objects.filter(station__in=stations)
    }
    drawn = {**_power_amps(stations, now=now, voltage=root.voltage), **_drawn_amps(stations, now=now)}
    needs = {
        (row.station_id, row.evse_id): row
        for row in EVChargingNeeds.objects.filter(station__in=stations, departure_time__gt=now).order_by("received_at")
    }
    by_pk = {station.pk: station for station in stations}
    slots = []
    for session in sessions:
        station = by_pk[session.station_id]
        key = (station.pk, session.connector_id)
        min_a, max_a, phases, priority = caps_of(caps, *key)
        before = previous.get(key)
        offered = before.current_a if before is not None and before.transaction_id == session.pk else None
        slot = Slot(
            station=station,
            connector_id=session.connector_id,
            session=session,
            node=placements.get(station.pk) if placements.get(station.pk) in group_ids else root.pk,
            min_a=float(min_a),
            max_a=float(max_a),
            phases=phases,
            priority=priority,
            arrival=session.started_at.timestamp(),
            required_a=_required_amps(session, needs.get(key), now=now, voltage=root.voltage, phases=phases),
            offered_a=offered,
            drawn_a=drawn.get(key),
        )
        _fix_if_unmanaged(slot, before)
        slots.append(slot)
    change_at = next_period_change([p for group in groups for p in periods[group.pk]], after=now, tz=tz)
    moments = [now] if change_at is None else [now, change_at]
    for moment in moments:
        limits = {group.pk: group_limit_a(group, periods=periods[group.pk], at=moment, tz=tz) for group in groups}
        nodes = [allocation.Node(group.pk, group.parent_id, limits[group.pk]) for group in groups]
        shares = allocation.allocate(nodes, [_demand(slot) for slot in slots])
        offset = round((moment - now).total_seconds())
        for slot in slots:
            slot.schedule.append((offset, shares[slot.key]))
    for slot in slots:
        if slot.fixed_a is None and slot.schedule[0][1] == 0:
            slot.state = State.QUEUED
    building = _amps(root.building_load_w, root) if root.building_load_w is not None else None
    limit_a = group_limit_a(root, periods=periods[root.pk], at=now, tz=tz) + (building or 0.0)
    return SitePlan(site, now, groups, slots, limit_a, building, change_at)


def _fix_if_unmanaged(slot: Slot, before: ConnectorAllocation | None) -> None:
    """A station that rejects profiles is counted at its maximum; one the CSMS has lost at what it last held."""
    state: StationLoadState | None = getattr(slot.station, "load_state", None)
    if state is not None and state.rejected_at is not None:
        slot.fixed_a, slot.state = slot.max_a, State.REJECTED
    elif not slot.station.is_online:
        held = before.current_a if before is not None and before.delivery == Delivery.SENT else None
        if held is None and state is not None:
            held = state.failsafe_current_a
        slot.fixed_a, slot.state = (slot.max_a if held is None else held), State.LOST


def _demand(slot: Slot) -> allocation.Demand:
    return allocation.Demand(
        key=slot.key,
        node=slot.node,
        min_a=slot.min_a,
        max_a=slot.max_a,
        priority=slot.priority,
        arrival=slot.arrival,
        required_a=slot.required_a,
        offered_a=slot.offered_a,
        drawn_a=slot.drawn_a,
        fixed_a=slot.fixed_a,
    )


# Allocating and sending


@dataclass
class Rebalance:
    """What one rebalance of a site did."""

    site_id: int
    allocated: int = 0
    queued: int = 0
    sent: int = 0
    rejected: list[int] = field(default_factory=list)


def _lock_key(site_id: int) -> str:
    return f"smartcharging:site-rebalance:{site_id}"


def site_rebalance(*, site_id: int, now: datetime | None = None) -> Rebalance | None:
    """Share the site's current among its sessions now and send the shares that changed. One at a time per site: a
    call while another runs asks it to go once more (and returns None)."""
    lock, again = _lock_key(site_id), _lock_key(site_id) + ":again"
    if not cache.add(lock, 1, LOCK_SECONDS):
        cache.set(again, 1, LOCK_SECONDS)
        return None
    try:
        result = None
        for _ in range(MAX_ROUNDS):
            cache.delete(again)
            result = _rebalance_once(site_id, now=now)
            if result is None or not (result.rejected or cache.get(again)):
                break
            now = None
        return result
    finally:
        cache.delete(lock)


def _rebalance_once(site_id: int, *, now: datetime | None) -> Rebalance | None:
    plan = site_plan(site_id=site_id, now=now)
    if plan is None:
        return None
    to_send = site_allocation_record(plan=plan)
    result = Rebalance(site_id=site_id, allocated=len(plan.slots))
    result.queued = sum(1 for slot in plan.slots if slot.state == State.QUEUED)
    if to_send:
        outcomes = async_to_sync(_send_all)(plan, to_send)
        result.sent = sum(1 for ok in outcomes.values() if ok)
        result.rejected = sorted({station_id for (station_id, _), ok in outcomes.items() if ok is False})
    return result


def _absolute(schedule: Sequence, start: datetime) -> list:
    """A schedule as sent, in absolute seconds (so that the same plan made a second later compares equal)."""
    base = math.floor(start.timestamp())
    return [[base + offset if index else 0, amps] for index, (offset, amps) in enumerate(schedule)]


def site_allocation_record(*, plan: SitePlan) -> list[Slot]:
    """Store each connector's share; returns the slots whose share changed (or was never delivered) and must be
    sent: decreases first."""
    changed = []
    with transaction.atomic():
        previous = {
            (row.station_id, row.connector_id): row
            for row in ConnectorAllocation.objects.select_for_update().filter(site=plan.site)
        }
        keep = set()
        for slot in plan.slots:
            before = previous.get(slot.key)
            keep.add(slot.key)
            current = slot.schedule[0][1]
            fields = {
                "site": plan.site,
                "transaction": slot.session,
                "state": slot.state,
                "current_a": current,
                "drawn_a": slot.drawn_a,
                "queued_since": (before.queued_since if before and before.queued_since else plan.at)
                if slot.state == State.QUEUED
                else None,
            }
            managed = slot.fixed_a is None
            same = (
                before is not None
                and before.transaction_id == slot.session.pk
                and before.delivery == Delivery.SENT
                and _absolute(before.schedule, before.schedule_start) == _absolute(slot.schedule, plan.at)
            )
            if managed and not same:
                fields.update(schedule=slot.schedule, schedule_start=plan.at, delivery=Delivery.PENDING)
                changed.append((current - (before.current_a if before else 0.0), slot))
            if before is None:
                ConnectorAllocation.objects.create(station=slot.station, connector_id=slot.connector_id, **fields)
            else:
                for name, value in fields.items():
                    setattr(before, name, value)
                before.save()
        gone = [row.pk for key, row in previous.items() if key not in keep]
        ConnectorAllocation.objects.filter(pk__in=gone).delete()
        last = SiteLoadSample.objects.filter(site=plan.site).order_by("-at").values_list("at", flat=True).first()
        if changed or gone or last is None or plan.at - last >= SAMPLE_EVERY:
            _sample(plan)
    return [slot for _, slot in sorted(changed, key=lambda pair: pair[0])]


def _sample(plan: SitePlan) -> None:
    drawn = [slot.drawn_a for slot in plan.slots if slot.drawn_a is not None]
    SiteLoadSample.objects.create(
        site=plan.site,
        at=plan.at,
        limit_a=plan.limit_a,
        allocated_a=sum(slot.schedule[0][1] for slot in plan.slots),
        drawn_a=sum(drawn) if drawn else None,
        building_a=plan.building_a,
        sessions=len(plan.slots),
        queued=sum(1 for slot in plan.slots if slot.state == State.QUEUED),
    )


def tx_profile(slot: Slot, *, starts_at: datetime) -> outbound.OutboundCall:
    """The SetChargingProfile call holding the slot's session at its share (per period)."""
    version = slot.station.ocpp_version
    profile = outbound.current_limit_profile(
        version,
        profile_id=TX_PROFILE_ID_BASE + slot.connector_id,
        purpose="TxProfile",
        stack_level=TX_STACK_LEVEL,
        starts_at=starts_at,
        periods=[(offset, amps, slot.phases) for offset, amps in slot.schedule],
        transaction_id=outbound.station_transaction_id(version, slot.session),
    )
    return outbound.charging_profile_set(version, connector_id=slot.connector_id, profile=profile)


async def _send_all(plan: SitePlan, slots: Sequence[Slot]) -> dict[tuple[int, int], bool | None]:
    """Send the decreases, then the increases (each batch at once): True accepted, False rejected, None not
    delivered (the station is lost: it keeps what it held, and the next watch sends again)."""
    decreases = [slot for slot in slots if slot.offered_a is None or slot.schedule[0][1] <= slot.offered_a]
    increases = [slot for slot in slots if slot not in decreases]
    outcomes = {}
    for batch in (decreases, increases):
        answers = await asyncio.gather(*(_send_one(plan, slot) for slot in batch))
        outcomes.update(zip((slot.key for slot in batch), answers, strict=True))
    return outcomes


async def _send_one(plan: SitePlan, slot: Slot) -> bool | None:
    action, payload = tx_profile(slot, starts_at=plan.at)
    command = await station_call(station=slot.station, action=action, payload=payload)
    return await sync_to_async(_delivered)(slot, command)


def _delivered(slot: Slot, command: StationCommand) -> bool | None:
    accepted = _accepted(slot.station, command)
    if accepted is False and not Transaction.objects.filter(pk=slot.session.pk, status=Transaction.Status.ACTIVE):
        accepted = None  # the session ended meanwhile: the profile had nothing left to hold, it was not a refusal
    delivery = {True: Delivery.SENT, False: Delivery.REJECTED, None: Delivery.FAILED}[accepted]
    detail = "" if accepted else _reason(command)
    ConnectorAllocation.objects.filter(station=slot.station, connector_id=slot.connector_id).update(
        delivery=delivery, delivery_detail=detail[:255]
    )
    if accepted is False:
        station_rejected(station=slot.station, detail=detail)
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
    """The station refused a profile: out of the pool at its maximum until it reconnects, and the operator told."""
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
        summary=f"Charging profile rejected ({detail}): counted at its maximum current until it reconnects",
        details={"detail": detail},
    )
    return alert_open(condition=condition, now=now)


# Fail-safe


def failsafe_current_a(*, station: Station, groups: Sequence[LoadGroup] | None = None) -> float:
    """The current every connector of ``station`` may take without the CSMS: below each node it hangs under, that
    node's lowest limit (any period) shared by all the connectors below it."""
    if groups is None:
        groups = list(LoadGroup.objects.filter(site_id=station.site_id))
    periods = defaultdict(list)
    for period in LimitPeriod.objects.filter(group__in=groups):
        periods[period.group_id].append(period)
    by_pk = {group.pk: group for group in groups}
    placements = dict(LoadGroupStation.objects.filter(station__site_id=station.site_id).values_list("station", "group"))
    root = _root(groups)
    connectors = Connector.objects.filter(station__site_id=station.site_id, connector_id__gt=0).values_list(
        "station_id", flat=True
    )
    below = defaultdict(int)
    for station_id in connectors:
        group = by_pk.get(placements.get(station_id)) or root
        while group is not None:
            below[group.pk] += 1
            group = by_pk.get(group.parent_id)
    share = math.inf
    group = by_pk.get(placements.get(station.pk)) or root
    while group is not None:
        lowest = min([group.limit, *(period.limit for period in periods[group.pk])])
        amps = float(lowest) if group.limit_unit == LoadGroup.Unit.AMPS else _amps(float(lowest) * 1000, group)
        if group.building_load_w is not None:
            amps -= _amps(group.building_load_w, group)
        share = min(share, max(0.0, amps) / max(1, below[group.pk]))
        group = by_pk.get(group.parent_id)
    return allocation.units(share) / allocation.UNITS_PER_AMP


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
    state = {"failsafe_current_a": current}
    if reconnected:
        state.update(failsafe_connected_at=station.connected_at, rejected_at=None, rejected_detail="")
        ConnectorAllocation.objects.filter(station=station).update(delivery=Delivery.PENDING)
    StationLoadState.objects.update_or_create(station=station, defaults=state)
    command = async_to_sync(station_call)(station=station, action=action, payload=payload)
    accepted = _accepted(station, command)
    if accepted is False:
        station_rejected(station=station, detail=_reason(command))
    return accepted


def stations_to_protect(*, now: datetime) -> list[Station]:
    """Online stations of managed sites whose present connection has not had its default profile yet (booted since
    it connected, or connected a while: a reconnect without a boot)."""
    return list(
        Station.objects.filter(
            site__load_groups__parent__isnull=True,
            is_online=True,
            connected_at__isnull=False,
            registration_status=Station.RegistrationStatus.ACCEPTED,
        )
        .filter(Q(last_boot_at__gte=F("connected_at")) | Q(connected_at__lte=now - RECONNECT_SETTLE))
        .exclude(load_state__failsafe_connected_at=F("connected_at"))
    )


# The building's own load


def site_meter_power_kw(group: LoadGroup) -> float | None:
    """The seam to the site meter reader (``smartcharging.site_meter``, Modbus TCP): the building's power in kW,
    None when it cannot be read."""
    try:
        from smartcharging import site_meter

        return site_meter.read_site_power_kw(group)
    except Exception:  # an unreachable meter leaves the last reading in force
        logger.warning("site meter not read", extra={"group_id": group.pk, "host": group.meter_host}, exc_info=True)
        return None


def building_load_refresh(*, group: LoadGroup, now: datetime) -> bool:
    """Read the group's building-load source; True when the load moved enough to share the current again."""
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
    before = group.building_load_w
    LoadGroup.objects.filter(pk=group.pk).update(building_load_w=watts, building_load_at=now)
    group.building_load_w, group.building_load_at = watts, now
    return before is None or abs(_amps(watts - before, group)) >= BUILDING_CHANGE_A


def sites_watch(*, now: datetime | None = None) -> set[int]:
    """The periodic look at every managed site: read the building meters, protect stations that (re)connected,
    and share each site with sessions again (a car drawing less than offered, a limit period begun, a profile not
    yet delivered: the new shares are sent only where they changed). Returns the sites queued."""
    now = now or timezone.now()
    due = set()
    for group in LoadGroup.objects.exclude(meter_source=LoadGroup.MeterSource.NONE):
        if building_load_refresh(group=group, now=now):
            due.add(group.site_id)
    for station in stations_to_protect(now=now):
        station_failsafe_send(station=station)
        due.add(station.site_id)
    due |= set(
        ConnectorAllocation.objects.filter(site__load_groups__parent__isnull=True).values_list("site_id", flat=True)
    )
    due |= set(
        Transaction.objects.filter(
            status=Transaction.Status.ACTIVE, connector_id__gt=0, station__site__load_groups__parent__isnull=True
        ).values_list("station__site_id", flat=True)
    )
    for site_id in sorted(due):
        site_rebalance_soon(site_id=site_id)
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
    at the site, and the profiles the CSMS sent are left to expire with their sessions)."""
    site_id, root = group.site_id, group.parent_id is None
    group.delete()
    if root:
        ConnectorAllocation.objects.filter(site_id=site_id).delete()
    else:
        site_protect_and_rebalance(site_id=site_id)


def site_protect_and_rebalance(*, site_id: int) -> Rebalance | None:
    """Send every online station of the site its (new) default profile, then share the site's current now."""
    for station in Station.objects.filter(site_id=site_id, is_online=True).select_related("load_state"):
        state = getattr(station, "load_state", None)
        first = state is None or state.failsafe_connected_at != station.connected_at  # not protected on this connection
        station_failsafe_send(station=station, reconnected=first)
    return site_rebalance(site_id=site_id)


# Triggers


_in_process = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-management")
_in_process_lock = threading.Lock()


def site_rebalance_soon(*, site_id: int) -> None:
    """Rebalance the site after the current transaction commits, as a Celery task. In-process (the embedded
    default) it runs on a thread of its own: the caller may be an OCPP handler whose own station must answer."""
    from smartcharging import tasks

    def queue() -> None:
        if tasks.site_rebalance.app.conf.task_always_eager:
            with _in_process_lock:
                _in_process.submit(_run_logged, site_id)
        else:
            tasks.site_rebalance.delay(site_id)

    transaction.on_commit(queue)


def _run_logged(site_id: int) -> None:
    from django.db import close_old_connections

    try:
        site_rebalance(site_id=site_id)
    except Exception:
        logger.exception("site rebalance failed", extra={"site_id": site_id})
    finally:
        close_old_connections()


def managed_site_of(*, station_id: int) -> int | None:
    """The site of the station when it has load management."""
    return (
        Station.objects.filter(pk=station_id, site__load_groups__parent__isnull=True)
        .values_list("site_id", flat=True)
        .first()
    )

"""Reads of what stations reported of smart charging, for load management and the portal."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import BooleanField, Case, F, OuterRef, Prefetch, Q, QuerySet, Subquery, When
from django.utils import timezone

from sessions.models import Transaction
from smartcharging import needs
from smartcharging.arrays import AnyOf
from smartcharging.models import (
    ChargingProfileReport,
    ConnectorAllocation,
    ConnectorLoadSettings,
    DriverChargingNeeds,
    EVChargingNeeds,
    EVChargingSchedule,
    LoadGroup,
    LoadGroupStation,
    ReportedChargingProfile,
    SiteLoadSample,
)
from smartcharging.needs import Needs
from stations.models import ConfigurationKey, Connector, DeviceModelVariable, Site, Station

Status = ChargingProfileReport.Status
State = ConnectorAllocation.State
# What a connector takes when neither the operator nor the station said (IEC 61851: 6 A is the least a car takes).
DEFAULT_MIN_A, DEFAULT_MAX_A, DEFAULT_PHASES = Decimal(6), Decimal(32), 3


def latest_charging_profile_report(*, station: Station) -> ChargingProfileReport | None:
    """The station's most recent complete report the CSMS asked for (an empty one when it answered NoProfiles), else
    None. Parts nobody asked for are kept but not taken for the station's state: they may be from long ago."""
    return (
        ChargingProfileReport.objects.filter(
            station=station, requested=True, status__in=(Status.COMPLETE, Status.NO_PROFILES)
        )
        .order_by("-completed_at")
        .first()
    )


def station_charging_profiles(*, station: Station, evse_id: int | None = None) -> QuerySet[ReportedChargingProfile]:
    """The profiles the station held as of its latest complete report (on ``evse_id`` only when given; 0 is the
    station's own), by EVSE, purpose and stack level highest first."""
    report = latest_charging_profile_report(station=station)
    profiles = (
        ReportedChargingProfile.objects.filter(report=report) if report else ReportedChargingProfile.objects.none()
    )
    return profiles if evse_id is None else profiles.filter(evse_id=evse_id)


def ev_charging_needs_latest(*, station: Station, evse_id: int) -> EVChargingNeeds | None:
    """What the EV at ``evse_id`` last said it needs."""
    return EVChargingNeeds.objects.filter(station=station, evse_id=evse_id).order_by("-received_at", "-pk").first()


def ev_charging_schedule_latest(*, station: Station, evse_id: int) -> EVChargingSchedule | None:
    """The schedule the EV at ``evse_id`` last chose."""
    return EVChargingSchedule.objects.filter(station=station, evse_id=evse_id).order_by("-received_at", "-pk").first()


def ev_charging_needs_current(*, now: datetime) -> QuerySet[EVChargingNeeds]:
    """The EV needs that may still plan a session (a departure ahead, or none said), oldest first: the last of a
    connector's is its car's latest."""
    departure = Q(departure_time__gt=now) | Q(departure_time__isnull=True)
    return EVChargingNeeds.objects.filter(departure).order_by("received_at", "pk")


def driver_needs_current(*, now: datetime) -> QuerySet[DriverChargingNeeds]:
    """Drivers' needs of sessions in progress with a departure ahead, with ``register_wh``: their connector's
    energy register (for what was delivered so far)."""
    register = Connector.objects.filter(
        station_id=OuterRef("transaction__station_id"), connector_id=OuterRef("transaction__connector_id")
    ).values("energy_register_wh")[:1]
    return DriverChargingNeeds.objects.filter(
        transaction__status=Transaction.Status.ACTIVE, departure_at__gt=now
    ).annotate(register_wh=Subquery(register))


def drivers_stated(rows: QuerySet[DriverChargingNeeds]) -> dict[int, tuple[needs.Stated, int]]:
    """Of ``driver_needs_current`` rows: by session, what its driver said and the Wh it delivered so far."""
    return {
        transaction_id: (
            needs.driver_stated(departure_at, energy_kwh),
            needs.delivered_wh(meter_start=start, register_wh=register),
        )
        for transaction_id, departure_at, energy_kwh, start, register in rows.values_list(
            "transaction_id", "departure_at", "energy_kwh", "transaction__meter_start", "register_wh"
        )
    }


def sessions_needs(*, transactions: Sequence[Transaction], now: datetime | None = None) -> dict[int, Needs]:
    """The needs each of ``transactions`` (in progress) is planned by, as the allocation reads them (one read for
    all): the sessions without any are left out."""
    now = now or timezone.now()
    ids = [session.pk for session in transactions]
    drivers = drivers_stated(driver_needs_current(now=now).filter(transaction_id__in=ids))
    stations = {session.station_id for session in transactions}
    cars = {
        (row.station_id, row.evse_id): row for row in ev_charging_needs_current(now=now).filter(station_id__in=stations)
    }
    found = {}
    for session in transactions:
        merged = needs.session_needs(
            started_at=session.started_at.timestamp(),
            car=cars.get((session.station_id, session.connector_id)),
            driver=drivers.get(session.pk),
            now=now,
        )
        if merged is not None:
            found[session.pk] = merged
    return found


@dataclass(frozen=True)
class SessionLoad:
    """What load management knows of one session, for its driver: the needs they stated, the needs it is planned
    by (theirs merged with the car's), whether its site shares a limit, and the share it was given there."""

    stated: DriverChargingNeeds | None
    planned: Needs | None
    managed: bool
    allocation: ConnectorAllocation | None


def session_load(*, session: Transaction) -> SessionLoad:
    stated = DriverChargingNeeds.objects.filter(transaction=session).first()
    active = session.status == Transaction.Status.ACTIVE
    managed = (
        session.station.site_id is not None
        and LoadGroup.objects.filter(site_id=session.station.site_id, parent__isnull=True).exists()
    )
    return SessionLoad(
        stated=stated,
        planned=sessions_needs(transactions=[session]).get(session.pk) if active else None,
        managed=managed,
        allocation=ConnectorAllocation.objects.filter(transaction=session).first() if active and managed else None,
    )


# Load management


def connector_caps(*, site_ids: Sequence[int]) -> dict[tuple[int, int], tuple[Decimal, Decimal, int, int]]:
    """(min A, max A, phases, priority) of each connector at ``site_ids`` the operator set, else with the phase
    count a 2.0.1 station's device model gives (EVSE SupplyPhases); the rest take the defaults (``caps_of``)."""
    caps = {
        (row.station_id, row.connector_id): (row.min_current_a, row.max_current_a, row.phases, row.priority)
        for row in ConnectorLoadSettings.objects.filter(AnyOf("station__site_id", site_ids))
    }
    reported = DeviceModelVariable.objects.filter(
        AnyOf("station__site_id", site_ids),
        component_name="EVSE",
        variable_name="SupplyPhases",
        attribute_type="Actual",
    ).values_list("station_id", "evse_id", "value")
    for station_id, evse_id, value in reported:
        if (station_id, evse_id) not in caps and value in ("1", "3"):
            caps[(station_id, evse_id)] = (DEFAULT_MIN_A, DEFAULT_MAX_A, int(value), 0)
    return caps


def connector_rotations(*, site_ids: Sequence[int]) -> dict[tuple[int, int], str]:
    """The phase rotation of each connector at ``site_ids`` its station reported ("RST": its L1 on the site's L1, ...;
    "STR": its L1 on the site's L2): a 1.6 station's ConnectorPhaseRotation ("0.RST, 1.RST, 2.STR"), a 2.0.1 station's
    EVSE PhaseRotation, else its connector's."""
    rotations = {}
    keys = ConfigurationKey.objects.filter(AnyOf("station__site_id", site_ids), key="ConnectorPhaseRotation")
    for station_id, value in keys.values_list("station_id", "value"):
        for entry in (value or "").split(","):
            connector, _, rotation = entry.strip().partition(".")
            if connector.isdigit() and rotation:
                rotations[(station_id, int(connector))] = rotation.strip()
    reported = DeviceModelVariable.objects.filter(
        AnyOf("station__site_id", site_ids),
        component_name__in=("EVSE", "Connector"),
        variable_name="PhaseRotation",
        attribute_type="Actual",
        evse_id__isnull=False,
        value__isnull=False,
    ).order_by("-component_name", "connector_id")  # the EVSE's own first, then its first connector's
    for station_id, evse_id, value in reported.values_list("station_id", "evse_id", "value"):
        rotations.setdefault((station_id, evse_id), value)
    return rotations


def caps_of(caps: dict, station_id: int, connector_id: int) -> tuple[Decimal, Decimal, int, int]:
    return caps.get((station_id, connector_id), (DEFAULT_MIN_A, DEFAULT_MAX_A, DEFAULT_PHASES, 0))


def tx_refused(station: str = "") -> Case:
    """Whether a station refuses TxProfiles, as load management acts on it: None when it never refused one; True
    when it did since its last boot (its sessions' shares go as their connectors' TxDefaultProfile); False when before
    it (new firmware or settings may take TxProfiles: the next share tries one again). ``station`` is the path to the
    station from the model queried ("station__"), empty for a Station; read as a boolean (a thousand sites' stations:
    no datetimes to decode)."""
    refused_at, boot = f"{station}load_state__tx_profile_refused_at", f"{station}last_boot_at"
    return Case(
        When(**{f"{refused_at}__isnull": True}, then=None),
        When(Q(**{f"{boot}__isnull": True}) | Q(**{f"{refused_at}__gte": F(boot)}), then=True),
        default=False,
        output_field=BooleanField(null=True),
    )


def _with_load_mode(rows: QuerySet, station: str = "") -> QuerySet:
    """``rows`` with what the operator is shown of their station's load-management mode: ``tx_refused`` (above),
    ``tx_profile_refused_at``, and ``rejected_at`` / ``rejected_detail`` (it refuses every profile: counted at its
    maximum and alerted)."""
    return rows.annotate(
        tx_refused=tx_refused(station),
        tx_profile_refused_at=F(f"{station}load_state__tx_profile_refused_at"),
        rejected_at=F(f"{station}load_state__rejected_at"),
        rejected_detail=F(f"{station}load_state__rejected_detail"),
    )


def site_allocations(*, site_id: int) -> list[ConnectorAllocation]:
    """Each connector's share at the site, with its station's load-management mode (``_with_load_mode``): charging
    ones, then the queue in the order it is served (priority, then arrival), then those out of the pool."""
    allocations = ConnectorAllocation.objects.filter(site_id=site_id).select_related("station", "transaction")
    rows = list(_with_load_mode(allocations, "station__"))
    caps = connector_caps(site_ids=[site_id])
    rank = {State.CHARGING: 0, State.QUEUED: 1, State.REJECTED: 2, State.LOST: 3}

    def order(row: ConnectorAllocation) -> tuple:
        priority = caps_of(caps, row.station_id, row.connector_id)[3]
        started = row.transaction.started_at.timestamp() if row.transaction else 0.0
        return (rank.get(row.state, 9), -priority, started, row.station.ocpp_id, row.connector_id)

    return sorted(rows, key=order)


def site_stations_load_modes(*, site_id: int) -> QuerySet[Station]:
    """The site's stations load management does not reach as it should (``_with_load_mode``): refusing TxProfiles
    (their shares go as connector defaults) or rejecting every profile, by OCPP id."""
    stations = Station.objects.filter(site_id=site_id).filter(
        Q(load_state__tx_profile_refused_at__isnull=False) | Q(load_state__rejected_at__isnull=False)
    )
    return _with_load_mode(stations).order_by("ocpp_id")


def station_load_mode(*, station: Station) -> Station | None:
    """The station with its load-management mode (``_with_load_mode``) and ``failsafe_current_a``, None when load
    management never dealt with it."""
    stations = Station.objects.filter(pk=station.pk, load_state__isnull=False)
    return _with_load_mode(stations).annotate(failsafe_current_a=F("load_state__failsafe_current_a")).first()


def site_load_history(*, site_id: int, since: datetime) -> QuerySet[SiteLoadSample]:
    """The site's load samples from ``since`` on, oldest first."""
    return SiteLoadSample.objects.filter(site_id=site_id, at__gte=since).order_by("at")


def managed_site_ids() -> QuerySet:
    """The ids of the sites under load management (those with a grid connection), as a subquery: ``site__in=``.
    (``site__load_groups__parent__isnull=True`` would also match a site without any group, through the outer join.)"""
    return LoadGroup.objects.filter(parent__isnull=True).values("site_id")


def managed_sites() -> QuerySet[LoadGroup]:
    """The grid connection of every site under load management, with its site."""
    return LoadGroup.objects.filter(parent__isnull=True).select_related("site").order_by("site__name")


def unmanaged_sites() -> QuerySet[Site]:
    """The sites without a grid connection limit (not under load management), by name."""
    return Site.objects.exclude(pk__in=managed_site_ids()).order_by("name")


def site_load_groups(*, site_id: int) -> list[LoadGroup]:
    """The site's groups, its grid connection first and then each feeder below its parent (depth first, by name),
    with ``depth`` set, their periods and their placed stations (by id: rows come back in no set order)."""
    groups = list(
        LoadGroup.objects.filter(site_id=site_id)
        .prefetch_related(
            "periods",
            Prefetch(
                "placements", queryset=LoadGroupStation.objects.select_related("station").order_by("station__ocpp_id")
            ),
        )
        .order_by("name", "pk")
    )
    children: dict[int | None, list[LoadGroup]] = {}
    for group in groups:
        children.setdefault(group.parent_id, []).append(group)
    ordered: list[LoadGroup] = []

    def visit(parent_id: int | None, depth: int) -> None:
        for group in children.get(parent_id, ()):
            group.depth = depth
            ordered.append(group)
            visit(group.pk, depth + 1)

    visit(None, 0)
    return ordered


def site_connector_settings(*, site_id: int) -> QuerySet[ConnectorLoadSettings]:
    """The connector ranges the operator set at the site, by station and connector."""
    return ConnectorLoadSettings.objects.filter(station__site_id=site_id).select_related("station")

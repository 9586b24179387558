"""Reads for the operator portal: the live network board, a station's page, its message log."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from django.db import connection
from django.db.models import Count, Exists, F, Max, OuterRef, Prefetch, Q, QuerySet, TextField
from django.db.models.functions import Cast

from monitoring.models import Alert
from sessions.metering import DELIVERY_LOCATIONS, ENERGY_REGISTER, POWER, SOC
from sessions.models import MeterSample, Transaction
from stations.models import ConfigurationKey, Connector, DeviceModelVariable, OcppMessage, Site, Station, StationCommand

# What a connector's reported status means on the board. A disconnected station's connectors are
# "offline" whatever they last reported; a status not listed here is "unknown".
BOARD_STATES = {
    "available": "Available",
    "occupied": "Occupied",
    "charging": "Charging",
    "faulted": "Faulted",
    "unavailable": "Unavailable",
    "offline": "Offline",
    "unknown": "Unknown",
}
STATUS_STATES = {
    # OCPP 1.6
    "Available": "available",
    "Preparing": "occupied",
    "Finishing": "occupied",
    "Reserved": "occupied",
    "Charging": "charging",
    "SuspendedEV": "charging",
    "SuspendedEVSE": "charging",
    "Faulted": "faulted",
    "Unavailable": "unavailable",
    # OCPP 2.0.1 (Occupied with a session in progress is charging)
    "Occupied": "occupied",
}


def connector_state(*, online: bool, status: str, charging: bool = False) -> str:
    if not online:
        return "offline"
    state = STATUS_STATES.get(status, "unknown")
    return "charging" if state == "occupied" and charging else state


@dataclass
class BoardRow:
    station: Station
    connector: Connector | None
    session: Transaction | None
    state: str

    @property
    def energy_wh(self) -> int | None:
        """Energy of the session in progress so far, from the connector's register."""
        if self.session is None or self.connector is None:
            return None
        register, start = self.connector.energy_register_wh, self.session.meter_start
        return register - start if register is not None and start is not None and register >= start else None


def board_stations(*, site: Site | None = None, search: str = "") -> QuerySet:
    stations = (
        Station.objects.select_related("site")
        .annotate(open_alerts=Count("alerts", filter=Q(alerts__closed_at__isnull=True)))
        .prefetch_related(
            Prefetch("connectors", queryset=Connector.objects.filter(connector_id__gt=0).order_by("connector_id"))
        )
    )
    if site is not None:
        stations = stations.filter(site=site)
    if search:
        stations = stations.filter(Q(ocpp_id__icontains=search) | Q(name__icontains=search))
    return stations.order_by("site__name", "ocpp_id")


def board_rows(*, site: Site | None = None, state: str = "", search: str = "", station: Station | None = None):
    """One row per connector (a station without known connectors gets one row), with its state and session."""
    stations = board_stations(site=site, search=search)
    if station is not None:
        stations = stations.filter(pk=station.pk)
    stations = list(stations)
    sessions = {
        (session.station_id, session.connector_id): session
        for session in Transaction.objects.filter(
            station__in=[s.pk for s in stations], status=Transaction.Status.ACTIVE
        ).order_by("started_at")
    }
    rows = []
    for each in stations:
        connectors = list(each.connectors.all()) or [None]
        for connector in connectors:
            number = connector.connector_id if connector else None
            session = sessions.get((each.pk, number))
            status = connector.status if connector else "Unknown"
            row = BoardRow(
                station=each,
                connector=connector,
                session=session,
                state=connector_state(online=each.is_online, status=status, charging=session is not None),
            )
            if not state or row.state == state:
                rows.append(row)
    return rows


def board_counts(rows: list[BoardRow]) -> dict[str, int]:
    counts = dict.fromkeys(BOARD_STATES, 0)
    for row in rows:
        counts[row.state] += 1
    return counts


@dataclass
class PowerSeries:
    times: list[datetime]
    power_w: list[float]
    energy_wh: list[float]
    soc: list[tuple[datetime, float]]


def session_power_series(*, session: Transaction) -> PowerSeries:
    """The power curve of a session: measured power (the sum of the phases when no total is sent), else the
    power derived from the energy register; with the energy delivered and the car's state of charge."""
    samples = (
        MeterSample.objects.filter(
            transaction=session,
            measurand__in=[POWER, ENERGY_REGISTER, SOC],
            value__isnull=False,
            location__in=[*DELIVERY_LOCATIONS, ""],
        )
        .order_by("timestamp")
        .values_list("timestamp", "measurand", "phase", "value")
    )
    power: dict[datetime, dict[str, float]] = {}
    energy: dict[datetime, float] = {}
    soc: dict[datetime, float] = {}
    for moment, measurand, phase, value in samples:
        if measurand == POWER:
            power.setdefault(moment, {})[phase] = value
        elif measurand == ENERGY_REGISTER and not phase:
            energy[moment] = value
        elif measurand == SOC:
            soc[moment] = value
    start = session.meter_start
    if power:
        times = sorted(power)
        watts = [_total(power[moment]) for moment in times]
    else:
        times, watts = [], []
        ordered = sorted(energy.items())
        for (t0, e0), (t1, e1) in pairwise(ordered):
            hours = (t1 - t0).total_seconds() / 3600
            if hours > 0:
                times.append(t1)
                watts.append(max(0.0, (e1 - e0) / hours))
    delivered = [energy[t] - start if start is not None and t in energy else None for t in times]
    return PowerSeries(times=times, power_w=watts, energy_wh=delivered, soc=sorted(soc.items()))


def _total(by_phase: dict[str, float]) -> float:
    """The reading without a phase, else the sum of the line phases."""
    if "" in by_phase:
        return by_phase[""]
    return sum(value for phase, value in by_phase.items() if phase in ("L1", "L2", "L3"))


def station_messages(*, station: Station, search: str = "", direction: str = "", action: str = "") -> QuerySet:
    """The station's OCPP frames, newest first; ``search`` looks in the action, message id, error and payload."""
    messages = OcppMessage.objects.filter(station=station)
    if direction in OcppMessage.Direction.values:
        messages = messages.filter(direction=direction)
    if action:
        messages = messages.filter(action=action)
    if search:
        messages = messages.annotate(payload_text=Cast("payload", TextField())).filter(
            Q(action__icontains=search)
            | Q(unique_id=search)
            | Q(error_code__icontains=search)
            | Q(payload_text__icontains=search)
            | Q(raw__icontains=search)
        )
    return messages.order_by("-created_at", "-pk")


def station_message_actions(*, station: Station) -> list[str]:
    return list(
        OcppMessage.objects.filter(station=station)
        .exclude(action="")
        .order_by("action")
        .values_list("action", flat=True)
        .distinct()
    )


def stations_select(
    *,
    ocpp_ids: list[str] | None = None,
    site: Site | None = None,
    vendor: str = "",
    model: str = "",
    online_only: bool = False,
) -> QuerySet:
    """The stations a bulk job is for: named ones, and/or all of a site, a vendor, a model."""
    stations = Station.objects.all()
    if ocpp_ids:
        stations = stations.filter(ocpp_id__in=ocpp_ids)
    if site is not None:
        stations = stations.filter(site=site)
    if vendor:
        stations = stations.filter(vendor__iexact=vendor)
    if model:
        stations = stations.filter(model__iexact=model)
    if online_only:
        stations = stations.filter(is_online=True)
    return stations.order_by("ocpp_id")


def station_models() -> list[tuple[str, str, int]]:
    """(vendor, model, stations) of the network, for choosing a roll-out."""
    return list(
        Station.objects.exclude(model="")
        .values_list("vendor", "model")
        .annotate(n=Count("pk"))
        .order_by("vendor", "model")
    )


def station_configuration(*, station_ids: Iterable[int], keys: Iterable[str]) -> dict[int, dict[str, ConfigurationKey]]:
    """The last known value of each of ``keys`` by station (as GetConfiguration read it or ChangeConfiguration set
    it); a key the station never reported is absent."""
    rows = ConfigurationKey.objects.filter(station_id__in=list(station_ids), key__in=list(keys))
    known: dict[int, dict[str, ConfigurationKey]] = {}
    for row in rows:
        known.setdefault(row.station_id, {})[row.key] = row
    return known


def stations_described(stations: Sequence[Station]) -> list[bool]:
    """For each OCPP 2.0.1 station, whether it has described its device model (NotifyReport) at least once; one
    query for all (every accepted boot asks, and a reconnect storm boots thousands)."""
    described = set(
        DeviceModelVariable.objects.filter(station__in=[station.pk for station in stations])
        .values_list("station_id", flat=True)
        .distinct()
    )
    return [station.pk in described for station in stations]


def station_connector_bounds(*, station_ids: Iterable[int]) -> dict[int, tuple[int | None, str | None]]:
    """For each station, the highest EVSE id its device model names and the NumberOfConnectors it reported (each
    None when unknown). One statement, written out: every meter reading and status runs it, and at a few messages
    a station a minute building it through the ORM cost more than the rest of storing the reading."""
    ids = [int(pk) for pk in station_ids]
    if not ids:
        return {}
    sql = f"""
        SELECT s.id,
            (SELECT max(d.evse_id) FROM {DeviceModelVariable._meta.db_table} d WHERE d.station_id = s.id),
            (SELECT c.value FROM {ConfigurationKey._meta.db_table} c WHERE c.station_id = s.id AND c.key = %s)
        FROM {Station._meta.db_table} s WHERE s.id IN ({", ".join(["%s"] * len(ids))})
    """  # noqa: S608 - table names from the models' metadata only; every value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, ["NumberOfConnectors", *ids])
        return {pk: (highest, configured) for pk, highest, configured in cursor.fetchall()}


@dataclass(frozen=True)
class NetworkStatus:
    """The network right now, for the operator's overview."""

    stations: int
    online: int
    faulted: int  # online stations with at least one connector reporting Faulted
    open_alerts: int
    critical_alerts: int

    @property
    def offline(self) -> int:
        return self.stations - self.online


def network_status() -> NetworkStatus:
    stations = Station.objects.aggregate(total=Count("pk"), online=Count("pk", filter=Q(is_online=True)))
    faulted = (
        Station.objects.filter(is_online=True, connectors__connector_id__gt=0, connectors__status="Faulted")
        .distinct()
        .count()
    )
    alerts = Alert.objects.filter(closed_at__isnull=True).aggregate(
        open=Count("pk"), critical=Count("pk", filter=Q(severity=Alert.Severity.CRITICAL))
    )
    return NetworkStatus(
        stations=stations["total"],
        online=stations["online"],
        faulted=faulted,
        open_alerts=alerts["open"],
        critical_alerts=alerts["critical"],
    )


def device_model_attributes(*, station: Station, search: str = "", component: str = "") -> QuerySet:
    """A station's stored device model, by component, optionally narrowed to one component name and to
    attributes whose component or variable name contains ``search``."""
    rows = DeviceModelVariable.objects.filter(station=station)
    if component:
        rows = rows.filter(component_name=component)
    if search:
        rows = rows.filter(Q(component_name__icontains=search) | Q(variable_name__icontains=search))
    return rows.order_by(
        "component_name", "component_instance", "evse_id", "connector_id", "variable_name", "variable_instance"
    )


def device_model_components(*, station: Station) -> list[str]:
    """The names of the components a station's device model has."""
    rows = DeviceModelVariable.objects.filter(station=station).values_list("component_name", flat=True)
    return list(rows.distinct().order_by("component_name"))


# The operator's station and site lists

STATION_STATUSES = {"online": "Online", "offline": "Offline", "faulted": "Faulted"}
STATION_ORDERS = {
    "id": ("ocpp_id",),
    "-id": ("-ocpp_id",),
    "last_seen": (F("last_seen_at").asc(nulls_first=True), "ocpp_id"),
    "-last_seen": (F("last_seen_at").desc(nulls_last=True), "ocpp_id"),
}


def stations_list(
    *,
    search: str = "",
    site: Site | None = None,
    status: str = "",
    ocpp_version: str = "",
    registration_status: str = "",
    order: str = "id",
) -> QuerySet:
    """The stations of the operator's list: ``search`` in the id, name and serial numbers; ``status`` online,
    offline or faulted (online with a connector reporting Faulted, as on the overview)."""
    faulted = Connector.objects.filter(station=OuterRef("pk"), connector_id__gt=0, status="Faulted")
    stations = Station.objects.select_related("site").annotate(has_fault=Exists(faulted))
    if search:
        stations = stations.filter(
            Q(ocpp_id__icontains=search)
            | Q(name__icontains=search)
            | Q(serial_number__icontains=search)
            | Q(charge_box_serial_number__icontains=search)
        )
    if site is not None:
        stations = stations.filter(site=site)
    if status == "online":
        stations = stations.filter(is_online=True)
    elif status == "offline":
        stations = stations.filter(is_online=False)
    elif status == "faulted":
        stations = stations.filter(is_online=True, has_fault=True)
    if ocpp_version:
        stations = stations.filter(ocpp_version=ocpp_version)
    if registration_status:
        stations = stations.filter(registration_status=registration_status)
    return stations.order_by(*STATION_ORDERS.get(order, STATION_ORDERS["id"]))


def sites_overview() -> QuerySet:
    """Every site with how many stations it has and how many of them are connected now."""
    return Site.objects.annotate(
        station_count=Count("stations"), online_count=Count("stations", filter=Q(stations__is_online=True))
    ).order_by("name")


# How many of a station's latest answered GetConfiguration calls the station page looks through.
CONFIGURATION_READS_SHOWN = 10


def station_configuration_known(*, station: Station) -> list[ConfigurationKey]:
    """A 1.6 station's configuration keys as last known, by key: the stored ones (maintenance jobs, the
    local-list check, accepted changes) and those of any other answered GetConfiguration (a call through the
    API stores nothing), the newer report of a key winning. An answered read never shows as "not read yet"."""
    from stations.protocol.redaction import stored_value

    known = {row.key: row for row in ConfigurationKey.objects.filter(station=station)}
    reads = station.commands.filter(
        action="GetConfiguration", status=StationCommand.Status.ANSWERED, answered_at__isnull=False
    ).order_by("-answered_at")[:CONFIGURATION_READS_SHOWN]
    for read in reversed(reads):
        entries = (read.response or {}).get("configurationKey") or []
        for entry in entries:
            key = entry.get("key") if isinstance(entry, dict) else None
            if not key or (key[:50] in known and known[key[:50]].reported_at >= read.answered_at):
                continue
            known[key[:50]] = ConfigurationKey(
                station=station,
                key=key[:50],
                value=stored_value(key, entry.get("value")),
                readonly=bool(entry.get("readonly")),
                reported_at=read.answered_at,
            )
    return sorted(known.values(), key=lambda row: row.key)


@dataclass(frozen=True)
class DeviceModelSummary:
    """What a 2.0.1 station's page says of its device model (its configuration) before linking to it."""

    attributes: int
    components: int
    reported_at: datetime | None


def station_device_model_summary(*, station: Station) -> DeviceModelSummary:
    variables = DeviceModelVariable.objects.filter(station=station)
    totals = variables.aggregate(attributes=Count("pk"), reported_at=Max("reported_at"))
    components = variables.values("component_name", "component_instance", "evse_id").distinct().count()
    return DeviceModelSummary(components=components, **totals)

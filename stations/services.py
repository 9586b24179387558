"""Business rules for stations: identity, registration, boot, liveness, connector status and the message log."""

import copy
import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from cms.bulk_rows import rows_parameter, rows_select
from cms.partitions import partitioned_table, partitions_drop_before
from stations.app_settings import app_settings
from stations.authorization_key import password_forms
from stations.hashers import VerifiedCredentials
from stations.live_outbox import live_event_on_commit
from stations.models import Connector, ConnectorStatusEvent, DeviceModelVariable, OcppMessage, Site, Station
from stations.plausibility import time_is_plausible
from stations.protocol.redaction import stored_value

# How much of a frame the message log keeps as text when its payload cannot be stored as JSON.
RAW_KEEP = 8192
# How precisely the message log keeps a station's last_seen_at.
LAST_SEEN_RESOLUTION = timedelta(seconds=1)

logger = logging.getLogger(__name__)


def station_create(*, ocpp_id: str, password: str | None, **fields) -> Station:
    station = Station(ocpp_id=ocpp_id, **fields)
    station.set_password(password)
    station.full_clean()
    station.save()
    return station


def station_update(*, station: Station, password: str | None = None, **fields) -> Station:
    """Change what the operator sets of a station (name, site, registration status) and, given one, its password.

    Only the fields named are written: the OCPP consumer updates the connection fields of the same row meanwhile.
    """
    for name, value in fields.items():
        setattr(station, name, value)
    changed = list(fields)
    if password is not None:
        station.set_password(password)
        changed.append("password_hash")
    if changed:
        station.full_clean(exclude=[f.name for f in Station._meta.fields if f.name not in changed])
        station.save(update_fields=[*changed, "updated_at"])
    return station


@dataclass(frozen=True)
class BulkOutcome:
    """What a bulk change did to one station: ``changed`` False when it already was so."""

    station: Station
    changed: bool
    detail: str


def stations_bulk_update(*, stations: Sequence[Station], **fields) -> list[BulkOutcome]:
    """Set ``fields`` (registration_status, site) on each station, saying per station whether it changed."""
    outcomes = []
    for station in stations:
        differs = {name: value for name, value in fields.items() if getattr(station, name) != value}
        if differs:
            station_update(station=station, **differs)
        detail = ", ".join(f"{name.replace('_', ' ')} {value or 'none'}" for name, value in fields.items())
        outcomes.append(BulkOutcome(station=station, changed=bool(differs), detail=detail))
    logger.info(
        "stations changed in bulk",
        extra={"stations": len(outcomes), "changed": sum(o.changed for o in outcomes), "fields": sorted(fields)},
    )
    return outcomes


def station_authenticate(*, ocpp_id: str, password: str | bytes | None) -> Station | None:
    """The station for a WebSocket handshake, or None when it must be refused.

    A registered station with a password must present it (security profile 1). Unknown ids are
    refused, unless auto-registration is on: then they are created as Pending, without a password,
    for the operator to review.
    """
    station = _stations_by_ocpp_id([ocpp_id]).get(ocpp_id)
    if station is None:
        if not app_settings.AUTO_REGISTER:
            logger.warning("unknown station refused", extra={"station_id": ocpp_id})
            return None
        station, _ = Station.objects.get_or_create(
            ocpp_id=ocpp_id, defaults={"registration_status": Station.RegistrationStatus.PENDING}
        )
        logger.info("unknown station auto-registered as pending", extra={"station_id": ocpp_id})
        return station
    if station.password_hash and not (
        password
        and any(
            verified_credentials.matches(station_pk=station.pk, password_hash=station.password_hash, password=form)
            for form in password_forms(password)
        )
    ):
        logger.warning("station refused: wrong or missing password", extra={"station_id": ocpp_id})
        return None
    return station


def stations_recognised(attempts: Sequence[tuple[str, str | bytes | None]]) -> list[Station | None]:
    """For each handshake, (station id, password): its station when that is authenticated without a key
    derivation (a password verified before, or a station without one), else None: then ``station_authenticate``
    decides. One query for all the stations and one cache round trip for their passwords (a reconnect storm).
    Each handshake gets its own Station, also when one id comes twice."""
    rows = _stations_by_ocpp_id(sorted({ocpp_id for ocpp_id, _ in attempts}))
    stations, seen = [], set()
    for ocpp_id, _ in attempts:
        stations.append(copy.copy(rows.get(ocpp_id)) if ocpp_id in seen else rows.get(ocpp_id))
        seen.add(ocpp_id)
    checked = [
        (index, station, password_forms(password))
        for index, (station, (_, password)) in enumerate(zip(stations, attempts, strict=True))
        if station is not None and station.password_hash and password
    ]
    known = verified_credentials.known([(station.pk, station.password_hash, forms) for _, station, forms in checked])
    verified = {index for (index, _, _), is_known in zip(checked, known, strict=True) if is_known}
    return [
        station if station is not None and (index in verified or not station.password_hash) else None
        for index, station in enumerate(stations)
    ]


verified_credentials = VerifiedCredentials(size=100_000)


def _stations_by_ocpp_id(ocpp_ids: list[str]) -> dict[str, Station]:
    """The stations of these ids that exist, by id: one indexed read without the ORM's query compilation, which
    cost half of a handshake's login (0.3 ms of CPU each, in a storm of thousands)."""
    return {station.ocpp_id: station for station in Station.objects.raw(_stations_by_ocpp_id_sql(), [ocpp_ids])}


@functools.cache
def _stations_by_ocpp_id_sql() -> str:
    column = Station._meta.get_field("ocpp_id").column
    return f"SELECT * FROM {Station._meta.db_table} WHERE {column} = ANY(%s::varchar[])"  # noqa: S608


def station_connected(*, station: Station, ocpp_version: str, channel_name: str, node=None) -> str:
    """The connection ``channel_name`` is the station's now, held by the daphne ``node`` (see stations.nodes); the
    channel of the connection it takes over ("" when none was recorded), which is to be told to close."""
    held = StationConnection(station, ocpp_version, channel_name, node)
    return stations_connected(connections=[held])[0]


@dataclass(frozen=True, slots=True)
class StationConnection:
    station: Station
    ocpp_version: str
    channel_name: str
    node: object = None  # the daphne Node holding it


def stations_connected(*, connections: Sequence[StationConnection]) -> list[str]:
    """Many stations' new connections (a reconnect storm is thousands): two statements for all; for each, the
    channel of the connection it takes over ("" when none), in order.

    The stations' rows are locked first (in one order, so that two nodes recording at once cannot deadlock):
    of two connections of one station recorded at once, anywhere, the later one takes over from the earlier.
    """
    if not connections:
        return []
    now = timezone.now()
    pks = sorted({held.station.pk for held in connections})
    recorded = dict(
        Station.objects.select_for_update().filter(pk__in=pks).order_by("pk").values_list("pk", "channel_name")
    )
    previous_channels = []
    for held in connections:
        previous = recorded.get(held.station.pk, "")
        previous_channels.append("" if previous == held.channel_name else previous)
        recorded[held.station.pk] = held.channel_name
    latest = list({held.station.pk: held for held in connections}.values())
    with connection.cursor() as cursor:
        cursor.execute(
            _connected_sql(),
            [
                now,
                [held.station.pk for held in latest],
                [held.ocpp_version for held in latest],
                [held.channel_name for held in latest],
                [getattr(held.node, "pk", None) for held in latest],
            ],
        )
    for held in latest:
        ocpp_id = held.station.ocpp_id
        live_event_on_commit({"kind": "station", "station": ocpp_id, "online": True, "last_seen_at": now.isoformat()})
        logger.info("station connected", extra={"station_id": ocpp_id, "ocpp_version": held.ocpp_version})
    return previous_channels


@functools.cache
def _connected_sql() -> str:
    """UPDATE ... FROM unnest(one array per column): one statement text whatever the number of stations."""
    table, field = Station._meta.db_table, Station._meta.get_field
    id_type, node_type = field("id").db_type(connection), field("node").target_field.db_type(connection)
    # Identifiers from the model's metadata only; every value is a parameter.
    return f"""
        WITH moment AS (SELECT %s::timestamptz AS at)
        UPDATE {table} AS s SET is_online = true, ocpp_version = v.ocpp_version, channel_name = v.channel_name,
            {field("node").column} = v.node_id, connected_at = moment.at, last_seen_at = moment.at
        FROM moment, unnest(%s::{id_type}[], %s::varchar[], %s::varchar[], %s::{node_type}[])
            AS v(id, ocpp_version, channel_name, node_id)
        WHERE s.id = v.id
    """  # noqa: S608


def station_disconnected(*, station: Station, channel_name: str) -> bool:
    """The connection ``channel_name`` ended; False when the station has a newer one (or none was recorded)."""
    # A replaced connection must not mark the station offline under its successor.
    updated = Station.objects.filter(pk=station.pk, channel_name=channel_name).update(is_online=False, channel_name="")
    if updated:
        live_event_on_commit({"kind": "station", "station": station.ocpp_id, "online": False})
        logger.info("station disconnected", extra={"station_id": station.ocpp_id})
    return bool(updated)


def stations_disconnected_at_node(*, node) -> int:
    """Every station recorded online at ``node`` (a dead node) offline, in one statement; how many.

    A node restarted under 10,000 stations finds them all recorded online at its predecessor; one UPDATE per
    station there held up every handshake of the reconnect storm. A station that has meanwhile connected to
    another node is recorded at that node, and left alone. Should be called in a transaction.
    """
    held = Station.objects.select_for_update().filter(node=node, is_online=True)
    gone = list(held.values_list("pk", "ocpp_id"))
    Station.objects.filter(pk__in=[pk for pk, _ in gone]).update(is_online=False, channel_name="")
    for _, ocpp_id in gone:
        live_event_on_commit({"kind": "station", "station": ocpp_id, "online": False})
    return len(gone)


def station_boot(*, station: Station, boot_fields: dict, booted_at: datetime | None = None) -> str:
    """Store what the station says of itself; answer with its registration status."""
    return stations_booted(boots=[dict(station=station, boot_fields=boot_fields, booted_at=booted_at)])[0]


def stations_booted(*, boots: Sequence[dict]) -> list[str]:
    """BootNotifications of many stations (each holds ``station_boot``'s arguments; the OCPP layer batches them):
    each station's registration status, in order. One UPDATE ... RETURNING per station, in one transaction."""
    statuses = []
    with transaction.atomic(savepoint=False):
        for boot in boots:
            station, now = boot["station"], boot.get("booted_at") or timezone.now()
            fields = {
                name: (value or "")[: Station._meta.get_field(name).max_length]
                for name, value in boot["boot_fields"].items()
            }
            status = _station_boot_update(station.pk, now, fields)
            statuses.append(status)
            live_event_on_commit(
                {
                    "kind": "station",
                    "station": station.ocpp_id,
                    "online": True,
                    "registration_status": status,
                    "last_seen_at": now.isoformat(),
                }
            )
            logger.info("boot notification", extra={"station_id": station.ocpp_id, "status": status, **fields})
    return statuses


def _station_boot_update(pk: int, now: datetime, fields: dict) -> str:
    """The boot's fields stored and the registration status read in one statement."""
    columns = ", ".join(f"{Station._meta.get_field(name).column} = %s" for name in fields)
    sql = f"""
        UPDATE {Station._meta.db_table} SET last_boot_at = %s, last_seen_at = %s{", " if fields else ""}{columns}
        WHERE id = %s RETURNING registration_status
    """  # noqa: S608 - column names from the model's metadata only; every value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, now, *fields.values(), pk])
        row = cursor.fetchone()
    if row is None:
        raise Station.DoesNotExist(f"station {pk} is gone")
    return row[0]


def station_heartbeats_record(*, stations: Sequence[Station]) -> None:
    """Heartbeats of many stations at once (the OCPP layer batches them): one UPDATE."""
    now = timezone.now()
    Station.objects.filter(pk__in=[station.pk for station in stations]).update(last_heartbeat_at=now, last_seen_at=now)


def station_firmware_status(*, station: Station, status: str) -> None:
    """FirmwareStatusNotification: where a firmware update ordered by UpdateFirmware stands."""
    Station.objects.filter(pk=station.pk).update(firmware_status=status[:32], firmware_status_at=timezone.now())
    logger.info("firmware status", extra={"station_id": station.ocpp_id, "status": status})


def station_diagnostics_status(*, station: Station, status: str) -> None:
    """DiagnosticsStatusNotification: where an upload ordered by GetDiagnostics stands."""
    Station.objects.filter(pk=station.pk).update(diagnostics_status=status[:32], diagnostics_status_at=timezone.now())
    logger.info("diagnostics status", extra={"station_id": station.ocpp_id, "status": status})


def station_data_transfer(*, station: Station, vendor_id: str, message_id: str = "", data: str | None = None):
    """A vendor-specific message; answered by the handler configured for its vendor id, if any.

    ``CMS_OCPP_DATA_TRANSFER_HANDLERS`` maps a vendorId to the dotted path of a callable
    ``(station=, message_id=, data=) -> (status, data)``. Without one the answer is UnknownVendorId.
    """
    path = app_settings.DATA_TRANSFER_HANDLERS.get(vendor_id)
    logger.info(
        "data transfer from station",
        extra={"station_id": station.ocpp_id, "vendor_id": vendor_id, "message_id": message_id, "handled": bool(path)},
    )
    if not path:
        return "UnknownVendorId", None
    return import_string(path)(station=station, message_id=message_id, data=data)


DEVICE_MODEL_KEY = (
    "station",
    "component_name",
    "component_instance",
    "evse_id",
    "connector_id",
    "variable_name",
    "variable_instance",
    "attribute_type",
)
DEVICE_MODEL_FIELDS = (
    "value",
    "mutability",
    "persistent",
    "constant",
    "data_type",
    "unit",
    "min_limit",
    "max_limit",
    "values_list",
    "supports_monitoring",
    "report_request_id",
    "reported_at",
)


def device_model_report_store(
    *, station: Station, request_id: int, report_data: Sequence[dict], reported_at: datetime | None = None
) -> int:
    """One part of a NotifyReport (OCPP 2.0.1): each variable attribute it describes, created or updated.

    ``report_data`` is the message's reportData with snake_case keys. Parts of one report may come in any
    order (each carries whole variables); an attribute described again replaces what was known of it.
    Returns how many attributes were stored.
    """
    now = reported_at or timezone.now()
    rows: dict[tuple, DeviceModelVariable] = {}  # by key: one statement may not update a row twice
    for item in report_data:
        component, variable = item["component"], item["variable"]
        evse = component.get("evse") or {}
        characteristics = item.get("variable_characteristics") or {}
        for attribute in item["variable_attribute"]:
            row = DeviceModelVariable(
                station=station,
                component_name=component["name"],
                component_instance=component.get("instance", ""),
                evse_id=evse.get("id"),
                connector_id=evse.get("connector_id"),
                variable_name=variable["name"],
                variable_instance=variable.get("instance", ""),
                attribute_type=attribute.get("type", DeviceModelVariable.AttributeType.ACTUAL),
                value=stored_value(variable["name"], attribute.get("value")),
                mutability=attribute.get("mutability", ""),
                persistent=attribute.get("persistent"),
                constant=attribute.get("constant"),
                data_type=characteristics.get("data_type", ""),
                unit=characteristics.get("unit", ""),
                min_limit=characteristics.get("min_limit"),
                max_limit=characteristics.get("max_limit"),
                values_list=characteristics.get("values_list", ""),
                supports_monitoring=characteristics.get("supports_monitoring", False),
                report_request_id=request_id,
                reported_at=now,
            )
            rows[tuple(getattr(row, name) for name in DEVICE_MODEL_KEY)] = row
    DeviceModelVariable.objects.bulk_create(
        list(rows.values()), update_conflicts=True, update_fields=DEVICE_MODEL_FIELDS, unique_fields=DEVICE_MODEL_KEY
    )
    logger.info(
        "device model reported",
        extra={"station_id": station.ocpp_id, "request_id": request_id, "attributes": len(rows)},
    )
    return len(rows)


def device_model_events_record(*, station: Station, events: Sequence[dict]) -> int:
    """NotifyEvent (OCPP 2.0.1): each event's actualValue becomes the Actual value of its variable, when the
    device model has it (a report adds variables; events only update them). Returns how many were updated."""
    updated = 0
    for event in events:
        component, variable = event["component"], event["variable"]
        evse = component.get("evse") or {}
        updated += DeviceModelVariable.objects.filter(
            station=station,
            component_name=component["name"],
            component_instance=component.get("instance", ""),
            evse_id=evse.get("id"),
            connector_id=evse.get("connector_id"),
            variable_name=variable["name"],
            variable_instance=variable.get("instance", ""),
            attribute_type=DeviceModelVariable.AttributeType.ACTUAL,
        ).update(value=event["actual_value"], reported_at=timezone.now())
    logger.info("device model events", extra={"station_id": station.ocpp_id, "events": len(events), "updated": updated})
    return updated


def connector_ensure(*, station: Station, connector_id: int) -> Connector:
    """The connector row, created the first time the station mentions it (safe when two frames race)."""
    connector, _ = Connector.objects.get_or_create(station=station, connector_id=connector_id)
    return connector


def connector_status_report(
    *,
    station: Station,
    connector_id: int,
    status: str,
    error_code: str = "",
    info: str = "",
    vendor_id: str = "",
    vendor_error_code: str = "",
    timestamp: datetime | None = None,
) -> ConnectorStatusEvent:
    """StatusNotification: the connector's current status, and a row of its history.

    A notification older than the status already known (a station emptying its offline queue) goes
    into the history but does not overwrite the newer status; a replayed one changes nothing. An
    implausible timestamp (a station without clock sync, a year 9999 that would hide every later
    status) is replaced by the receipt time; the message log keeps the one sent.
    """
    report = dict(
        station=station,
        connector_id=connector_id,
        status=status,
        error_code=error_code,
        info=info,
        vendor_id=vendor_id,
        vendor_error_code=vendor_error_code,
        timestamp=timestamp,
    )
    return connector_statuses_store(reports=[report])[0]


STATUS_FIELDS = ("status", "error_code", "info", "vendor_id", "vendor_error_code")


def connector_statuses_store(*, reports: Sequence[dict]) -> list[ConnectorStatusEvent]:
    """Many StatusNotifications (each report holds ``connector_status_report``'s arguments), as that stores one:
    a statement or two for the connectors' statuses and one for their history, whatever their number."""
    now = timezone.now()
    events = []
    for report in reports:
        timestamp = report.get("timestamp")
        if timestamp is None or not time_is_plausible(timestamp, received_at=now):
            timestamp = now
        events.append(
            ConnectorStatusEvent(
                station=report["station"],
                connector_id=report["connector_id"],
                timestamp=timestamp,
                status=report["status"][:32],
                error_code=report.get("error_code", "")[:50],
                info=report.get("info", "")[:50],
                vendor_id=report.get("vendor_id", "")[:255],
                vendor_error_code=report.get("vendor_error_code", "")[:50],
            )
        )
    # No savepoint when the caller's transaction holds many of these (the OCPP group commit): it fails whole.
    with transaction.atomic(savepoint=False):
        # Round n holds the n-th status of each connector, so that no statement updates a row twice.
        rounds: list[list[ConnectorStatusEvent]] = []
        seen: dict[tuple[int, int], int] = {}
        for event in events:
            key = (event.station.pk, event.connector_id)
            seen[key] = seen.get(key, -1) + 1
            if seen[key] == len(rounds):
                rounds.append([])
            rounds[seen[key]].append(event)
        for statuses_round in rounds:
            for event in _statuses_apply(statuses_round):
                live_event_on_commit(
                    {
                        "kind": "connector",
                        "station": event.station.ocpp_id,
                        "connector_id": event.connector_id,
                        "status": event.status,
                        "error_code": event.error_code,
                    }
                )
        ConnectorStatusEvent.objects.bulk_create(events, ignore_conflicts=True)
    for event in events:
        logger.info(
            "connector status",
            extra={
                "station_id": event.station.ocpp_id,
                "connector_id": event.connector_id,
                **{name: getattr(event, name) for name in STATUS_FIELDS},
            },
        )
    return events


def _statuses_apply(events: list[ConnectorStatusEvent]) -> list[ConnectorStatusEvent]:
    """One UPDATE for all (a connector holding a newer status keeps it). The events applied."""
    return _connectors_update(events, at="timestamp", column="status_at", fields=STATUS_FIELDS, keep_known=False)


MEASURED = ("power_w", "soc_percent", "energy_register_wh")


@dataclass(frozen=True, slots=True)
class Measurement:
    """What a connector measures at a moment (MeterValues, a stop); a value not measured is None."""

    station: Station
    connector_id: int
    measured_at: datetime
    power_w: int | None = None
    soc_percent: float | None = None
    energy_register_wh: int | None = None

    @property
    def values(self) -> dict:
        return {name: value for name in MEASURED if (value := getattr(self, name)) is not None}


def connector_measurements_update(
    *,
    station: Station,
    connector_id: int,
    measured_at: datetime,
    power_w: int | None = None,
    soc_percent: float | None = None,
    energy_register_wh: int | None = None,
) -> bool:
    """Keep the connector's live values; an older measurement than the one known is ignored."""
    measurement = Measurement(station, connector_id, measured_at, power_w, soc_percent, energy_register_wh)
    return bool(connectors_measurements_update(measurements=[measurement]))


def connectors_measurements_update(*, measurements: Sequence[Measurement]) -> list[Measurement]:
    """The live values of many connectors (the OCPP layer batches MeterValues); returns those applied.

    A measurement older than the values a connector holds is ignored; several for one connector are
    applied in turn. One statement updates them all (two more for a new connector).
    """
    # Round n holds the n-th measurement of each connector, so that no statement updates a row twice.
    rounds: list[list[Measurement]] = []
    seen: dict[tuple[int, int], int] = {}
    for measurement in measurements:
        if measurement.values:
            key = (measurement.station.pk, measurement.connector_id)
            seen[key] = seen.get(key, -1) + 1
            if seen[key] == len(rounds):
                rounds.append([])
            rounds[seen[key]].append(measurement)
    applied = []
    for measurements_round in rounds:
        applied += _measurements_apply(measurements_round)
    for measurement in applied:
        live_event_on_commit(
            {
                "kind": "connector",
                "station": measurement.station.ocpp_id,
                "connector_id": measurement.connector_id,
                **measurement.values,
            }
        )
    return applied


def _measurements_apply(measurements: list[Measurement]) -> list[Measurement]:
    """One UPDATE for all (a connector holding a newer measurement keeps it; a value not measured keeps the one
    before). The measurements applied."""
    return _connectors_update(measurements, at="measured_at", column="measured_at", fields=MEASURED, keep_known=True)


def _connectors_update(items: list, *, at: str, column: str, fields: tuple[str, ...], keep_known: bool) -> list:
    """Write ``fields`` of each item (with its ``station``, ``connector_id`` and its time ``at``) on its connector in
    one UPDATE, unless the connector's ``column`` holds a later time; connectors seen for the first time are created,
    then updated. With ``keep_known`` an empty value keeps the connector's. The items applied."""
    if not items:
        return []
    applied = _connectors_update_statement(items, at, column, fields, keep_known)
    missed = [item for item in items if (item.station.pk, item.connector_id) not in applied]
    if missed:
        Connector.objects.bulk_create(
            [Connector(station=item.station, connector_id=item.connector_id) for item in missed], ignore_conflicts=True
        )
        applied |= _connectors_update_statement(missed, at, column, fields, keep_known)
    return [item for item in items if (item.station.pk, item.connector_id) in applied]


def _connectors_update_statement(items: list, at: str, column: str, fields: tuple, keep_known: bool) -> set:
    rows = [
        [item.station.pk, item.connector_id, getattr(item, at), *(getattr(item, name) for name in fields)]
        for item in items
    ]
    with connection.cursor() as cursor:
        cursor.execute(_connectors_sql(column, fields, keep_known), [rows_parameter(rows)])
        return {tuple(row) for row in cursor.fetchall()}


@functools.cache
def _connectors_sql(column: str, fields: tuple, keep_known: bool) -> str:
    """UPDATE ... FROM the rows of one parameter (``cms.bulk_rows``): one statement text whatever the number of
    connectors."""
    columns = [Connector._meta.get_field(name) for name in ("station", "connector_id", column, *fields)]
    values = [f"COALESCE(v.{name}, c.{name})" if keep_known else f"v.{name}" for name in fields]
    # Identifiers from the model's metadata only; every value is a parameter.
    return f"""
        UPDATE {Connector._meta.db_table} AS c SET {column} = v.{column},
            {", ".join(f"{name} = {value}" for name, value in zip(fields, values, strict=True))}
        FROM ({rows_select(columns)}) AS v(station_id, connector_id, {column}, {", ".join(fields)})
        WHERE c.station_id = v.station_id AND c.connector_id = v.connector_id
            AND (c.{column} IS NULL OR c.{column} <= v.{column})
        RETURNING c.station_id, c.connector_id
    """  # noqa: S608


def _connector_update(station: Station, connector_id: int, moment_field: str, moment: datetime, values: dict) -> bool:
    """Update the connector unless it holds newer values; create it on first sight. One query usually."""
    newer_or_unknown = Q(**{f"{moment_field}__isnull": True}) | Q(**{f"{moment_field}__lte": moment})
    rows = Connector.objects.filter(station=station, connector_id=connector_id)
    if rows.filter(newer_or_unknown).update(**{moment_field: moment}, **values):
        return True
    # No row matched: the connector is new (perhaps created by a concurrent frame), or knows newer values.
    Connector.objects.get_or_create(station=station, connector_id=connector_id)
    return bool(rows.filter(newer_or_unknown).update(**{moment_field: moment}, **values))


@transaction.atomic
def ocpp_messages_store(*, records: Sequence) -> None:
    """Write a batch of frames (``stations.protocol.framing.log.FrameRecord``) to the message log.

    One COPY for the batch and one UPDATE of the stations' ``last_seen_at``, in one transaction. A row the
    database refuses (a station deleted meanwhile, a NUL character in a payload) is dropped alone, not the batch.
    """
    if not records:
        return
    try:
        with transaction.atomic():
            _copy_messages(records)
    except (IntegrityError, DataError, ValueError):
        _store_one_by_one([OcppMessage(**record._asdict()) for record in records])
    incoming = [record for record in records if record.direction == OcppMessage.Direction.IN]
    if incoming:
        # The batch's last moment for each of its stations (a batch spans milliseconds), and only where
        # the time known is older than LAST_SEEN_RESOLUTION: a busy station's row is not rewritten per frame.
        # A row locked meanwhile (by the hot path's writer: a heartbeat, a boot) is skipped, not waited for: the
        # log's thread would wait on the writer's transaction, and two threads locking rows in different orders
        # can deadlock. The next batch brings it up to date.
        seen_at = max(record.created_at for record in incoming)
        unlocked = (
            Station.objects.filter(
                Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=seen_at - LAST_SEEN_RESOLUTION),
                pk__in={record.station_id for record in incoming},
            )
            .select_for_update(skip_locked=True)
            .values("pk")
        )
        Station.objects.filter(pk__in=unlocked).update(last_seen_at=seen_at)


def _copy_messages(records: Sequence) -> None:
    """COPY costs a fifth of the ORM's bulk INSERT per row, and the log gets two rows per message."""
    fields = [OcppMessage._meta.get_field(name) for name in records[0]._fields]
    payload = fields.index(OcppMessage._meta.get_field("payload"))
    sql = f"COPY {OcppMessage._meta.db_table} ({', '.join(field.column for field in fields)}) FROM STDIN"
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
        for record in records:
            row = list(record)
            if row[payload] is not None:
                row[payload] = json.dumps(row[payload])
            copy.write_row(row)


def _store_one_by_one(rows: list[OcppMessage]) -> None:
    existing = set(Station.objects.filter(pk__in={row.station_id for row in rows}).values_list("pk", flat=True))
    for row in rows:
        if row.station_id not in existing:
            continue
        row.pk = None  # may hold an id from the rolled-back bulk insert
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except (DataError, ValueError):
            # Keep the frame as text: PostgreSQL refuses NUL characters, in jsonb and in text alike.
            text = row.raw if row.payload is None else json.dumps(row.payload)
            row.raw = text.replace("\x00", "").replace("\\u0000", "")[:RAW_KEEP]
            row.payload = None
            try:
                with transaction.atomic():
                    row.save(force_insert=True)
            except (IntegrityError, DataError, ValueError):
                logger.exception("OCPP frame dropped from the message log", extra={"message_id": row.unique_id})
        except IntegrityError:
            logger.warning("OCPP frame dropped from the message log", extra={"message_id": row.unique_id})


def ocpp_messages_purge(*, older_than: timedelta, batch_size: int = 10_000) -> int:
    """Delete message-log rows older than ``older_than``: whole days of the log at once (its partitions, see
    cms/partitions.py), the rest a batch at a time so no lock is held for long."""
    cutoff = timezone.now() - older_than
    deleted = partitions_drop_before(partitioned_table(OcppMessage._meta.db_table), cutoff)
    while True:
        batch = list(OcppMessage.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:batch_size])
        if not batch:
            break
        deleted += OcppMessage.objects.filter(pk__in=batch).delete()[0]
    if deleted:
        logger.info("OCPP message log purged", extra={"deleted": deleted, "cutoff": cutoff.isoformat()})
    return deleted


def site_create(*, name: str, address: str = "", timezone: str = "UTC") -> Site:
    site = Site(name=name, address=address, timezone=timezone)
    site.full_clean()
    site.save()
    logger.info("site created", extra={"site_id": site.pk})
    return site


def site_update(*, site: Site, **fields) -> Site:
    for name, value in fields.items():
        setattr(site, name, value)
    site.full_clean()
    site.save(update_fields=list(fields))
    return site

"""Business rules for stations: identity, registration, boot, liveness, connector status and the message log."""

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Case, Q, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.module_loading import import_string

from stations.app_settings import app_settings
from stations.models import Connector, ConnectorStatusEvent, OcppMessage, Station

# How much of a frame the message log keeps as text when its payload cannot be stored as JSON.
RAW_KEEP = 8192

logger = logging.getLogger(__name__)


def station_create(*, ocpp_id: str, password: str | None, **fields) -> Station:
    station = Station(ocpp_id=ocpp_id, **fields)
    station.set_password(password)
    station.full_clean()
    station.save()
    return station


def station_authenticate(*, ocpp_id: str, password: str | None) -> Station | None:
    """The station for a WebSocket handshake, or None when it must be refused.

    A registered station with a password must present it (security profile 1). Unknown ids are
    refused, unless auto-registration is on: then they are created as Pending, without a password,
    for the operator to review.
    """
    station = Station.objects.filter(ocpp_id=ocpp_id).first()
    if station is None:
        if not app_settings.AUTO_REGISTER:
            logger.warning("unknown station refused", extra={"station_id": ocpp_id})
            return None
        station, _ = Station.objects.get_or_create(
            ocpp_id=ocpp_id, defaults={"registration_status": Station.RegistrationStatus.PENDING}
        )
        logger.info("unknown station auto-registered as pending", extra={"station_id": ocpp_id})
        return station
    if station.password_hash and not (password and station.check_password(password)):
        logger.warning("station refused: wrong or missing password", extra={"station_id": ocpp_id})
        return None
    return station


def station_connected(*, station: Station, ocpp_version: str, channel_name: str) -> None:
    now = timezone.now()
    Station.objects.filter(pk=station.pk).update(
        is_online=True, ocpp_version=ocpp_version, channel_name=channel_name, connected_at=now, last_seen_at=now
    )
    logger.info("station connected", extra={"station_id": station.ocpp_id, "ocpp_version": ocpp_version})


def station_disconnected(*, station: Station, channel_name: str) -> None:
    # A replaced connection must not mark the station offline under its successor.
    updated = Station.objects.filter(pk=station.pk, channel_name=channel_name).update(
        is_online=False, channel_name=""
    )
    if updated:
        logger.info("station disconnected", extra={"station_id": station.ocpp_id})


@transaction.atomic
def station_boot(*, station: Station, boot_fields: dict, booted_at: datetime | None = None) -> str:
    """Store what the station says of itself; answer with its registration status."""
    fields = {name: (value or "")[: Station._meta.get_field(name).max_length] for name, value in boot_fields.items()}
    now = booted_at or timezone.now()
    Station.objects.filter(pk=station.pk).update(last_boot_at=now, last_seen_at=now, **fields)
    status = Station.objects.values_list("registration_status", flat=True).get(pk=station.pk)
    logger.info("boot notification", extra={"station_id": station.ocpp_id, "status": status, **fields})
    return status


def station_heartbeat(*, station: Station) -> datetime:
    now = timezone.now()
    Station.objects.filter(pk=station.pk).update(last_heartbeat_at=now, last_seen_at=now)
    return now


def station_firmware_status(*, station: Station, status: str) -> None:
    """FirmwareStatusNotification: where a firmware update ordered by UpdateFirmware stands."""
    Station.objects.filter(pk=station.pk).update(firmware_status=status[:32], firmware_status_at=timezone.now())
    logger.info("firmware status", extra={"station_id": station.ocpp_id, "status": status})


def station_diagnostics_status(*, station: Station, status: str) -> None:
    """DiagnosticsStatusNotification: where an upload ordered by GetDiagnostics stands."""
    Station.objects.filter(pk=station.pk).update(
        diagnostics_status=status[:32], diagnostics_status_at=timezone.now()
    )
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
    into the history but does not overwrite the newer status; a replayed one changes nothing.
    """
    timestamp = timestamp or timezone.now()
    fields = {
        "status": status[:32], "error_code": error_code[:50], "info": info[:50],
        "vendor_id": vendor_id[:255], "vendor_error_code": vendor_error_code[:50],
    }
    with transaction.atomic():
        _connector_update(station, connector_id, "status_at", timestamp, fields)
        event = ConnectorStatusEvent(station=station, connector_id=connector_id, timestamp=timestamp, **fields)
        ConnectorStatusEvent.objects.bulk_create([event], ignore_conflicts=True)
    logger.info(
        "connector status",
        extra={"station_id": station.ocpp_id, "connector_id": connector_id, **fields},
    )
    return event


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
    values = {"power_w": power_w, "soc_percent": soc_percent, "energy_register_wh": energy_register_wh}
    values = {name: value for name, value in values.items() if value is not None}
    if not values:
        return False
    return _connector_update(station, connector_id, "measured_at", measured_at, values)


def _connector_update(station: Station, connector_id: int, moment_field: str, moment: datetime, values: dict) -> bool:
    """Update the connector unless it holds newer values; create it on first sight. One query usually."""
    newer_or_unknown = Q(**{f"{moment_field}__isnull": True}) | Q(**{f"{moment_field}__lte": moment})
    rows = Connector.objects.filter(station=station, connector_id=connector_id)
    if rows.filter(newer_or_unknown).update(**{moment_field: moment}, **values):
        return True
    # No row matched: the connector is new (perhaps created by a concurrent frame), or knows newer values.
    Connector.objects.get_or_create(station=station, connector_id=connector_id)
    return bool(rows.filter(newer_or_unknown).update(**{moment_field: moment}, **values))


def ocpp_messages_store(*, records: Sequence) -> None:
    """Write a batch of frames (``stations.protocol.framing_log.FrameRecord``) to the message log.

    One INSERT for the batch and one UPDATE of the stations' ``last_seen_at``. A row the database
    refuses (a station deleted meanwhile, a NUL character in a payload) is dropped alone, not the batch.
    """
    rows = [OcppMessage(**record._asdict()) for record in records]
    try:
        with transaction.atomic():
            _give_way_to_lock_holders()
            OcppMessage.objects.bulk_create(rows)
    except (IntegrityError, DataError, ValueError):
        _store_one_by_one(rows)
    seen = {}
    for record in records:
        if record.direction == OcppMessage.Direction.IN:
            seen[record.station_id] = max(record.created_at, seen.get(record.station_id, record.created_at))
    if seen:
        Station.objects.filter(pk__in=seen).update(
            last_seen_at=Greatest(
                Coalesce("last_seen_at", Value(datetime.min.replace(tzinfo=UTC))),
                Case(*(When(pk=pk, then=Value(moment)) for pk, moment in seen.items())),
            )
        )


def _give_way_to_lock_holders() -> None:
    """A log write that has to wait for a lock (a TRUNCATE, a migration) fails fast and is retried
    later, instead of waiting, or deadlocking with the lock holder and making it the victim."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '200ms'")


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
    """Delete message-log rows older than ``older_than``, a batch at a time so no lock is held for long."""
    cutoff = timezone.now() - older_than
    deleted = 0
    while True:
        batch = list(OcppMessage.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:batch_size])
        if not batch:
            break
        deleted += OcppMessage.objects.filter(pk__in=batch).delete()[0]
    if deleted:
        logger.info("OCPP message log purged", extra={"deleted": deleted, "cutoff": cutoff.isoformat()})
    return deleted

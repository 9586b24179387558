"""Business rules of charging sessions: start, stop, and the meter values measured during them.

Stations replay what they could not deliver while offline, sometimes more than once; every service
here is idempotent for such a replay. Timestamps are the station's, meter values Wh.
"""

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction

from accounts.services import Authorization, id_token_authorize
from sessions.metering import Reading, energy_cross_check, energy_registers, live_values
from sessions.models import MeterSample, Transaction
from stations.live_outbox import live_event_on_commit
from stations.models import Station
from stations.services import (
    Measurement,
    connector_ensure,
    connector_measurements_update,
    connectors_measurements_update,
)

logger = logging.getLogger(__name__)

# A StopTransaction carries no connectorId: an unmatched stop and its readings are kept on connector 0.
UNKNOWN_CONNECTOR = 0


@dataclass(frozen=True)
class SessionStart:
    transaction: Transaction
    authorization: Authorization
    replayed: bool


@dataclass(frozen=True)
class SessionStop:
    transaction: Transaction
    # The stop's idTag checked again, for the station's authorization cache (None without an idTag).
    authorization: Authorization | None
    outcome: str  # "stopped", "replayed" or "unmatched"


def session_start(
    *,
    station: Station,
    connector_id: int,
    id_tag: str,
    meter_start: int,
    started_at: datetime,
    reservation_id: int | None = None,
) -> SessionStart:
    """StartTransaction: a new session with a CSMS-assigned id (its pk), or the same one for a replay.

    A start the idTag rules refuse is still recorded (the station may be charging already, and will
    stop when it reads the refusal) and answered with that refusal.
    """
    existing = _started(station, connector_id, started_at, meter_start)
    if existing is not None:
        logger.info("replayed start transaction", extra={"station_id": station.ocpp_id, "transaction_id": existing.pk})
        return SessionStart(existing, _authorization_of(existing), replayed=True)

    authorization = id_token_authorize(token=id_tag, station=station, for_start=True)
    id_token = authorization.id_token
    connector_ensure(station=station, connector_id=connector_id)
    session = Transaction(
        station=station,
        connector_id=connector_id,
        id_tag=id_tag,
        id_token=id_token,
        user_id=id_token.owner_id if id_token else None,
        authorization_status=authorization.status,
        meter_start=meter_start,
        started_at=started_at,
        reservation_id=reservation_id,
    )
    try:
        with transaction.atomic():
            session.save(force_insert=True)
    except IntegrityError:
        # The same start arrived twice at once (two connections, or a retry racing the first): one wins.
        existing = _started(station, connector_id, started_at, meter_start)
        if existing is None:
            raise
        return SessionStart(existing, _authorization_of(existing), replayed=True)
    live_event_on_commit(
        {"kind": "transaction", "station": station.ocpp_id, "connector_id": connector_id,
         "transaction_id": session.pk, "state": "started", "energy_wh": 0}
    )
    logger.info(
        "transaction started",
        extra={
            "station_id": station.ocpp_id, "transaction_id": session.pk, "connector_id": connector_id,
            "authorization": authorization.status,
        },
    )
    return SessionStart(session, authorization, replayed=False)


def _started(station, connector_id, started_at, meter_start) -> Transaction | None:
    return (
        Transaction.objects.select_related("id_token__parent")
        .filter(station=station, connector_id=connector_id, started_at=started_at, meter_start=meter_start)
        .first()
    )


def _authorization_of(session: Transaction) -> Authorization:
    """The answer the first StartTransaction got, given again to its replay."""
    token = session.id_token
    return Authorization(
        status=session.authorization_status or "Invalid",
        expires_at=token.expires_at if token else None,
        parent_id=token.parent.token if token and token.parent else None,
        id_token=token,
    )


def session_stop(
    *,
    station: Station,
    transaction_id: int,
    meter_stop: int,
    stopped_at: datetime,
    reason: str = "",
    id_tag: str = "",
    readings: Sequence[Reading] = (),
) -> SessionStop:
    """StopTransaction: close the session, store its transactionData, compute and cross-check its energy.

    Always accepted: a stop for a transaction id this station was never given is kept as an
    ``unmatched`` session, and a replayed stop changes nothing.
    """
    authorization = id_token_authorize(token=id_tag, station=station) if id_tag else None
    reason = reason or "Local"  # the 1.6 default when the station gives none
    with transaction.atomic():
        session = Transaction.objects.select_for_update().filter(station=station, pk=transaction_id).first()
        if session is None:
            return _unmatched_stop(
                station, transaction_id, meter_stop, stopped_at, reason, id_tag, readings, authorization
            )
        if session.status != Transaction.Status.ACTIVE:
            logger.info(
                "replayed stop transaction", extra={"station_id": station.ocpp_id, "transaction_id": session.pk}
            )
            return SessionStop(session, authorization, "replayed")

        _store_readings(station, session.connector_id, session, readings)
        # Readings sent without a transactionId during the session belong to it too.
        MeterSample.objects.filter(
            station=station, connector_id=session.connector_id, transaction__isnull=True,
            timestamp__gte=session.started_at, timestamp__lte=stopped_at,
        ).update(transaction=session)
        registers = energy_registers(_register_readings(session))
        check = energy_cross_check(meter_start=session.meter_start, meter_stop=meter_stop, registers=registers)
        session.meter_stop = meter_stop
        session.stopped_at = stopped_at
        session.stop_reason = reason[:32]
        session.stop_id_tag = id_tag
        session.energy_wh = check.energy_wh
        session.meter_mismatch = check.mismatch
        session.status = Transaction.Status.COMPLETED
        session.save(
            update_fields=[
                "meter_stop", "stopped_at", "stop_reason", "stop_id_tag", "energy_wh", "meter_mismatch", "status",
                "updated_at",
            ]
        )
        connector_measurements_update(
            station=station, connector_id=session.connector_id, measured_at=stopped_at,
            power_w=0, energy_register_wh=meter_stop,
        )
        # Pricing is idempotent, and billing re-prices what it missed (a broker down at this moment).
        transaction.on_commit(lambda: _price(session.pk), robust=True)
        live_event_on_commit(
            {"kind": "transaction", "station": station.ocpp_id, "connector_id": session.connector_id,
             "transaction_id": session.pk, "state": "stopped", "energy_wh": check.energy_wh}
        )
    log = logger.warning if check.mismatch else logger.info
    log(
        "transaction stopped",
        extra={
            "station_id": station.ocpp_id, "transaction_id": session.pk, "energy_wh": check.energy_wh,
            "reason": reason, "meter_mismatch": check.detail if check.mismatch else "",
        },
    )
    return SessionStop(session, authorization, "stopped")


def _price(transaction_id: int) -> None:
    from billing.tasks import price_session

    price_session.delay(transaction_id)


def _register_readings(session: Transaction) -> list[Reading]:
    rows = MeterSample.objects.filter(
        transaction=session, measurand="Energy.Active.Import.Register", value__isnull=False
    ).values_list("timestamp", "phase", "location", "context", "unit", "value")
    return [
        Reading(timestamp, "Energy.Active.Import.Register", phase, location, context, unit, value)
        for timestamp, phase, location, context, unit, value in rows
    ]


def _unmatched_stop(station, transaction_id, meter_stop, stopped_at, reason, id_tag, readings, authorization):
    station_tx_id = str(transaction_id)
    known = Transaction.objects.filter(
        station=station, ocpp_transaction_id=station_tx_id, status=Transaction.Status.UNMATCHED
    ).first()
    if known is not None:
        return SessionStop(known, authorization, "replayed")
    registers = energy_registers(readings)
    check = energy_cross_check(meter_start=None, meter_stop=meter_stop, registers=registers)
    session = Transaction(
        station=station,
        connector_id=UNKNOWN_CONNECTOR,
        id_tag=id_tag,
        id_token=authorization.id_token if authorization else None,
        user_id=authorization.id_token.owner_id if authorization and authorization.id_token else None,
        ocpp_transaction_id=station_tx_id,
        status=Transaction.Status.UNMATCHED,
        meter_stop=meter_stop,
        energy_wh=check.energy_wh,
        started_at=min((reading.timestamp for reading in readings), default=stopped_at),
        stopped_at=stopped_at,
        stop_reason=reason[:32],
        stop_id_tag=id_tag,
    )
    try:
        with transaction.atomic():
            session.save(force_insert=True)
    except IntegrityError:
        known = Transaction.objects.get(station=station, ocpp_transaction_id=station_tx_id)
        return SessionStop(known, authorization, "replayed")
    _store_readings(station, UNKNOWN_CONNECTOR, session, readings)
    logger.warning(
        "stop for an unknown transaction recorded",
        extra={"station_id": station.ocpp_id, "station_transaction_id": transaction_id, "session_id": session.pk},
    )
    return SessionStop(session, authorization, "unmatched")


def _store_readings(station, connector_id: int, session: Transaction | None, readings: Sequence[Reading]) -> None:
    _store_readings_of([(station, connector_id, session, readings)])


SAMPLE_COLUMNS = (
    "station", "connector_id", "transaction", "timestamp", "measurand", "phase", "location", "context", "unit", "value",
    "signed_data",
)


def _store_readings_of(groups: Sequence[tuple[Station, int, Transaction | None, Sequence[Reading]]]) -> None:
    """One INSERT for all the readings; those already stored (a replay) are skipped by the unique key."""
    rows = [
        (station.pk, connector_id, session.pk if session else None, reading.timestamp, reading.measurand,
         reading.phase, reading.location, reading.context, reading.unit, reading.value, reading.signed_data)
        for station, connector_id, session, readings in groups
        for reading in readings
    ]
    if not rows:
        return
    # The ORM's bulk INSERT costs twice as much per row as one array per column (and the hot path writes
    # thousands of readings a second).
    with connection.cursor() as cursor:
        cursor.execute(_samples_sql(), [list(column) for column in zip(*rows, strict=True)])


@functools.cache
def _samples_sql() -> str:
    fields = [MeterSample._meta.get_field(name) for name in SAMPLE_COLUMNS]
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
    # Identifiers from the model's metadata only; every value is a parameter.
    return (
        f"INSERT INTO {MeterSample._meta.db_table} ({', '.join(field.column for field in fields)}) "  # noqa: S608
        f"SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING"
    )


@dataclass(frozen=True)
class MeterValuesReport:
    """One MeterValues message: the readings of one connector, perhaps during a session the station names."""

    station: Station
    connector_id: int
    readings: Sequence[Reading]
    transaction_id: int | None = None


def meter_values_record(
    *, station: Station, connector_id: int, readings: Sequence[Reading], transaction_id: int | None = None
) -> Transaction | None:
    """MeterValues: store the readings (on the session when the station names it) and update the
    connector's live power, state of charge and energy register. Returns the session, if found.

    A transactionId this station was never given is logged and the readings kept without a session.
    """
    report = MeterValuesReport(station, connector_id, readings, transaction_id)
    return meter_values_record_many(reports=[report])[0]


def meter_values_record_many(*, reports: Sequence[MeterValuesReport]) -> list[Transaction | None]:
    """``meter_values_record`` for many messages at once (the OCPP layer batches them), in three statements:
    the sessions named, the readings, the connectors' live values. Returns each report's session."""
    named = {report.transaction_id for report in reports if report.transaction_id is not None}
    found = Transaction.objects.in_bulk(named) if named else {}
    sessions = []
    for report in reports:
        session = found.get(report.transaction_id)
        if session is not None and session.station_id != report.station.pk:
            session = None
        if report.transaction_id is not None and session is None:
            logger.warning(
                "meter values for an unknown transaction",
                extra={"station_id": report.station.ocpp_id, "transaction_id": report.transaction_id},
            )
        sessions.append(session)
    # No savepoint when the caller's transaction holds many of these (the OCPP group commit): it fails whole.
    with transaction.atomic(savepoint=False):
        _store_readings_of(
            [(report.station, report.connector_id, session, report.readings)
             for report, session in zip(reports, sessions, strict=True)]
        )
        connectors_measurements_update(
            measurements=[
                Measurement(report.station, report.connector_id, live.measured_at, live.power_w, live.soc_percent,
                            live.energy_register_wh)
                for report in reports
                if (live := live_values(report.readings)) is not None
            ]
        )
    return sessions

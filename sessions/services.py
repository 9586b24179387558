"""Business rules of charging sessions: start, update, stop, the meter values measured during them, and
sessions a station left open. Version-neutral: the OCPP 1.6 and 2.0.1 adapters only translate to these
calls, and answer ``ValueRejected`` with their PropertyConstraintViolation.

A session is known by the transaction id its station uses (``Transaction.ocpp_transaction_id``, a string): a
2.0.1 station chooses it; a 1.6 station is handed our own key (``session_start``). An id token comes with its
type (``PresentedIdToken``). The CSMS numbers the session: ``session_start`` / ``session_update`` /
``session_stop``; the station numbers it (2.0.1): ``session_event_record``, each event stored once per seqNo
and the session folded from all of them in seqNo order. A stopped session is announced through
``sessions.signals.session_stopped`` (billing prices it); nothing here imports the apps that follow sessions.

Stations replay what they could not deliver while offline, sometimes more than once; every service
here is idempotent for such a replay. Timestamps are the station's, meter values Wh. What a rule
corrects or discards is kept on the session as an anomaly (``sessions.anomalies``, code in brackets);
what is refused as a CALLERROR is kept in the station's message log.

=====================================================  ==========================================================
What the station sends                                 Rule
=====================================================  ==========================================================
StartTransaction again, every field the same           a replay: the first answer and transaction, nothing stored
... with another idTag (or any other field)            its own authorization and its own transaction
connectorId < 1 or over the station's connectors       refused: ValueRejected (NumberOfConnectors, else 32)
meterStart < 0 or over 10^12 Wh                        refused: ValueRejected
timestamp before 2015 or over 5 min after receipt      started at the receipt time [start_clamped], sent value kept
refused idTag (Invalid/Blocked/Expired/ConcurrentTx)   stored ``refused``, ended at its start; never open, not priced
a start while the tag charges elsewhere                ConcurrentTx, counting accepted open sessions only
an accepted start on a connector with a session open   that one completed at this start [superseded_by_start]
  there since before it
StatusNotification Available, session open there       completed at the status's time [closed_by_status]
                                                       (both: energy to its last register reading; billing
                                                       prices this estimate after its grace, see below)
StopTransaction for a session closed that way          the station's figures replace the estimate [late_stop]
StopTransaction for a refused start                    its stop figures kept; stays refused
stop time before the start, 2015, or in the future     stopped at max(start, receipt) [stop_clamped]
meterStop < 0 or over 10^12 Wh                         the last register reading, else meterStart, kept instead
                                                       [meter_stop_discarded]
transactionData value that is not a plausible number   that reading dropped [reading_discarded]; the stop accepted
MeterValues value: "abc", NaN, ±Infinity, over 10^12,  the message refused: ValueRejected (``metering.readings_parse``)
  a negative energy register
MeterValues connectorId over the station's connectors  the message refused: ValueRejected
a register reading lower than the one before           stored as sent: billing's meter curve tells a glitch from a
                                                       rollover, with the whole curve in hand
reading timestamp before 2015 or in the future         reading dropped [reading_time_discarded]; the connector's
                                                       live values take it as measured at receipt
MeterValues for a transaction this station never had   readings kept on an ``unmatched`` session of that id
                                                       [unknown_transaction], completed by its StopTransaction
TransactionEvent (2.0.1), any of Started/Updated/Ended  creates the session of its transactionId if none yet
  first
... a seqNo the session already has                    a replay: nothing stored, the first answer again
... delivered out of seqNo order (offline queue)       the session is the same as in order (folded by seqNo)
... an idToken after Started                           authorized once, as the start's; a refused one: ``refused``
... an idToken                                        known by its value and type (an eMAID is not the RFID card
                                                       of the same characters); a 1.6 idTag by its value alone
... Ended                                              completed (meter: its register reading, else the last
                                                       one); the first Ended stored announces the stop
a start (either version) with a reservationId          that reservation of this station used by the session
                                                       (``sessions.reservations``); an unknown one logged
... evse over the station's connectors, seqNo < 0      refused: ValueRejected
... a chargingState (Charging, SuspendedEV, ...)       the connector's status history gets the 1.6 status that
                                                       means the same, at the event's time
                                                       (``charging_state_status``)
... a live Updated after every event stored, of an     appended without folding again (it would change nothing):
  active session, with readings / chargingState only   ``session_events_append_many``, batched by the OCPP layer
=====================================================  ==========================================================
"""

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import IdTokenEvent
from accounts.services import Authorization, authorization_session_link, id_token_authorize
from cms.bulk_rows import rows_parameter, rows_select
from sessions.anomalies import ESTIMATED_STOP_CODES, LATE_STOP_CODE, anomalies_record, anomaly, anomaly_codes
from sessions.metering import (
    MAX_MAGNITUDE,
    Reading,
    energy_cross_check,
    energy_registers,
    last_register,
    live_values,
)
from sessions.models import MeterSample, Transaction, TransactionEvent
from sessions.reservations import reservation_use
from sessions.signals import session_stopped
from stations.live_outbox import live_event_on_commit
from stations.models import ConnectorStatusEvent, Station
from stations.plausibility import (
    ValueRejected,
    connector_id_check,
    connector_limits,
    connector_limits_where_needed,
    time_is_plausible,
)
from stations.services import (
    Measurement,
    connector_ensure,
    connector_measurements_update,
    connector_statuses_store,
    connectors_measurements_update,
)

logger = logging.getLogger(__name__)

# A StopTransaction carries no connectorId: an unmatched stop and its readings are kept on connector 0.
UNKNOWN_CONNECTOR = 0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The longest transaction id a station may use (OCPP 2.0.1 identifierString[36]; a 1.6 integer is shorter).
MAX_TRANSACTION_ID_LENGTH = 36
# The stop reason of a session the CSMS completed (OCPP 1.6 Reason "Other").
CLOSED_BY_CSMS_REASON = "Other"


@dataclass(frozen=True)
class PresentedIdToken:
    """The id token a driver or the CSMS presented for a session: its value and its type.

    OCPP 2.0.1 sends the type (IdTokenEnumType); a 1.6 idTag has none, and is most often an RFID card's UID,
    so it is taken as "ISO14443", the type OCPP 2.0.1 gives such cards.
    """

    value: str
    type: str = "ISO14443"


@dataclass(frozen=True)
class SessionStart:
    transaction: Transaction
    authorization: Authorization
    replayed: bool


@dataclass(frozen=True)
class SessionStop:
    transaction: Transaction
    # The stop's id token checked again, for the station's authorization cache (None without one).
    authorization: Authorization | None
    outcome: str  # "stopped", "replayed", "unmatched", "reconciled" (a late stop) or "refused"


def start_key(*, connector_id: int, id_tag: str, meter_start: int, started_at: datetime, reservation_id) -> str:
    """Everything a StartTransaction says, as sent: its replay key (see the model's ``start_key``)."""
    sent_at = (started_at - EPOCH) // timedelta(microseconds=1)
    reservation = "" if reservation_id is None else reservation_id
    return f"{connector_id}|{sent_at}|{meter_start}|{reservation}|{id_tag}"


def _transaction_id_check(transaction_id: str) -> None:
    if not 0 < len(transaction_id) <= MAX_TRANSACTION_ID_LENGTH:
        raise ValueRejected(
            "/transactionId", f"{transaction_id!r} is not a transaction id (1..{MAX_TRANSACTION_ID_LENGTH} characters)."
        )


def _meter_register_check(value: int, path: str) -> None:
    if not 0 <= value <= MAX_MAGNITUDE:
        raise ValueRejected(path, f"{value} Wh is not a meter register value (0..{MAX_MAGNITUDE:.0e} Wh).")


def session_start(
    *,
    station: Station,
    connector_id: int,
    id_token: PresentedIdToken,
    meter_start: int,
    started_at: datetime,
    reservation_id: int | None = None,
    received_at: datetime | None = None,
) -> SessionStart:
    """A session starts: a new one, known to the station by the transaction id the CSMS hands it (our own
    key, ``Transaction.ocpp_transaction_id``), or the same one for a replay.

    A start the id token rules refuse is recorded as ``refused`` (the station may have begun, and will
    stop when it reads the refusal) and answered with that refusal. Raises ValueRejected for a
    connector the station does not have or a meter start no meter shows.
    """
    limit = connector_limits(stations=[station])[station.pk]
    connector_id_check(connector_id, limit=limit, allow_station=False)
    _meter_register_check(meter_start, "/meterStart")
    id_tag = id_token.value
    key = start_key(
        connector_id=connector_id,
        id_tag=id_tag,
        meter_start=meter_start,
        started_at=started_at,
        reservation_id=reservation_id,
    )
    existing = _started(station, key)
    if existing is not None:
        logger.info("replayed start transaction", extra={"station_id": station.ocpp_id, "transaction_id": existing.pk})
        return SessionStart(existing, _authorization_of(existing), replayed=True)

    received_at = received_at or timezone.now()
    anomalies = []
    if not time_is_plausible(started_at, received_at=received_at):
        anomalies.append(anomaly("start_clamped", f"timestamp {_sent(started_at)} replaced by the receipt time."))
        started_at = received_at
    authorization = id_token_authorize(
        token=id_tag,
        station=station,
        for_start=True,
        connector_id=connector_id,
        message=IdTokenEvent.Message.START_TRANSACTION,
    )
    known_token = authorization.id_token
    connector_ensure(station=station, connector_id=connector_id)
    session = Transaction(
        station=station,
        connector_id=connector_id,
        id_tag=id_tag,
        id_token_type=id_token.type,
        id_token=known_token,
        user_id=known_token.owner_id if known_token else None,
        authorization_status=authorization.status,
        status=Transaction.Status.ACTIVE if authorization.accepted else Transaction.Status.REFUSED,
        meter_start=meter_start,
        started_at=started_at,
        # A refused start never opens: it ends where it began (unless the station sends its stop).
        stopped_at=None if authorization.accepted else started_at,
        reservation_id=reservation_id,
        start_key=key,
        anomalies=anomalies,
    )
    while True:
        try:
            with transaction.atomic():
                session.save(force_insert=True)
                if authorization.accepted:
                    _supersede_open_sessions(session)
            break
        except IntegrityError as error:
            if _violated(error) == "unique_station_transaction_id":
                # An unmatched stop already holds the id on this station: the session takes the next one.
                session.pk = session.ocpp_transaction_id = None
                continue
            # The same start arrived twice at once (two connections, or a retry racing the first): one wins.
            existing = _started(station, key)
            if existing is None:
                raise
            return SessionStart(existing, _authorization_of(existing), replayed=True)
    authorization_session_link(authorization=authorization, session=session, start=True)
    if authorization.accepted and reservation_id is not None:
        reservation_use(session=session, reservation_id=reservation_id)
    if authorization.accepted:
        _announce_start(session)
    logger.info(
        "transaction started" if authorization.accepted else "transaction start refused",
        extra={
            "station_id": station.ocpp_id,
            "transaction_id": session.pk,
            "connector_id": connector_id,
            "authorization": authorization.status,
        },
    )
    return SessionStart(session, authorization, replayed=False)


def _sent(moment: datetime) -> str:
    return moment.isoformat()


def _violated(error: IntegrityError) -> str | None:
    """The name of the constraint an INSERT or UPDATE violated (psycopg's diagnostics)."""
    diagnostics = getattr(error.__cause__, "diag", None)
    return getattr(diagnostics, "constraint_name", None)


def _started(station, key: str) -> Transaction | None:
    return Transaction.objects.select_related("id_token__parent").filter(station=station, start_key=key).first()


def _authorization_of(session: Transaction) -> Authorization:
    """The answer the first StartTransaction got, given again to its replay."""
    token = session.id_token
    return Authorization(
        status=session.authorization_status or "Invalid",
        expires_at=token.expires_at if token else None,
        parent_id=token.parent.token if token and token.parent else None,
        id_token=token,
    )


def _supersede_open_sessions(new: Transaction) -> None:
    """A connector charges one session at a time: one still open there was lost by the station."""
    left_open = (
        Transaction.objects.select_for_update()
        .filter(
            station_id=new.station_id,
            connector_id=new.connector_id,
            status=Transaction.Status.ACTIVE,
            # An older start replayed from the station's queue does not end the session after it.
            started_at__lt=new.started_at,
        )
        .exclude(pk=new.pk)
    )
    for session in left_open:
        _close_left_open(
            session,
            at=new.started_at,
            code="superseded_by_start",
            detail=f"transaction {new.pk} started on this connector at {new.started_at.isoformat()}",
        )


def _close_left_open(session: Transaction, *, at: datetime, code: str, detail: str) -> None:
    """Complete a session the station never stopped, at ``at``, with the energy its last register reading
    shows (else none). Not queued for pricing: billing's sweep prices the estimate after its grace, unless the
    station's own stop replaces it first. The caller holds the session's row lock."""
    stopped_at = max(at, session.started_at)
    _adopt_readings(session, until=stopped_at)
    registers = [reading for reading in _register_readings(session) if reading.timestamp <= stopped_at]
    last = last_register(registers)
    meter_stop = round(last) if last is not None else session.meter_start
    check = energy_cross_check(
        meter_start=session.meter_start, meter_stop=meter_stop, registers=energy_registers(registers)
    )
    session.meter_stop, session.stopped_at, session.energy_wh = meter_stop, stopped_at, check.energy_wh
    session.meter_mismatch, session.stop_reason = check.mismatch, CLOSED_BY_CSMS_REASON
    session.status = Transaction.Status.COMPLETED
    source = "its last register reading" if last is not None else "no register reading: meterStart"
    note = f"{detail}; closed with meter {meter_stop} Wh ({source})"
    session.anomalies = [*session.anomalies, anomaly(code, note)]
    session.save(
        update_fields=[
            "meter_stop",
            "stopped_at",
            "energy_wh",
            "meter_mismatch",
            "stop_reason",
            "status",
            "anomalies",
            "updated_at",
        ]
    )
    _announce_stop(session, estimated=True)
    logger.warning(
        "session left open closed", extra={"station_id": session.station_id, "transaction_id": session.pk, "code": code}
    )


def _adopt_readings(session: Transaction, *, until: datetime) -> None:
    """Readings sent without a transactionId during the session belong to it too."""
    MeterSample.objects.filter(
        station_id=session.station_id,
        connector_id=session.connector_id,
        transaction__isnull=True,
        timestamp__gte=session.started_at,
        timestamp__lte=until,
    ).update(transaction=session)


def _announce_start(session: Transaction) -> None:
    """A session is open on its connector: the live board shows it."""
    live_event_on_commit(
        {
            "kind": "transaction",
            "station": session.station.ocpp_id,
            "connector_id": session.connector_id,
            "transaction_id": session.pk,
            "state": "started",
            "energy_wh": 0,
        }
    )


def _announce_stop(session: Transaction, *, estimated: bool = False) -> None:
    """A session has stopped: ``session_stopped`` tells the apps that follow sessions (billing prices it);
    the live board shows it. ``estimated``: closed by the CSMS, not by the station's stop."""
    session_stopped.send(sender=Transaction, transaction=session, estimated=estimated)
    live_event_on_commit(
        {
            "kind": "transaction",
            "station": session.station.ocpp_id,
            "connector_id": session.connector_id,
            "transaction_id": session.pk,
            "state": "stopped",
            "energy_wh": session.energy_wh,
        }
    )


def connector_statuses_record(*, reports: Sequence[dict]) -> list[ConnectorStatusEvent | ValueRejected]:
    """StatusNotifications (the OCPP layer batches them; each report holds ``connector_status_report``'s
    arguments): each stored, or ValueRejected for a connector the station does not have. A connector
    reporting Available has no session: one left open there, started before, is completed."""
    named = [(report["station"], report["connector_id"]) for report in reports]
    limits = connector_limits_where_needed(connectors=named)
    results: list[ConnectorStatusEvent | ValueRejected | None] = []
    accepted = []
    for report in reports:
        try:
            connector_id_check(report["connector_id"], limit=limits[report["station"].pk])
        except ValueRejected as rejected:
            results.append(rejected)
            continue
        results.append(None)
        accepted.append(report)
    # No savepoint when the caller's transaction holds many of these (the OCPP group commit): it fails whole.
    with transaction.atomic(savepoint=False):
        events = iter(connector_statuses_store(reports=accepted))
        results = [next(events) if result is None else result for result in results]
        available = [
            event
            for event in results
            if isinstance(event, ConnectorStatusEvent) and event.status == "Available" and event.connector_id > 0
        ]
        # One read for the batch; most connectors reporting Available have no session left open.
        open_at = available and set(
            Transaction.objects.filter(
                station_id__in={event.station_id for event in available}, status=Transaction.Status.ACTIVE
            ).values_list("station_id", "connector_id")
        )
        for event in available:
            if (event.station_id, event.connector_id) in open_at:
                _close_on_available(event)
    return results


def _close_on_available(event: ConnectorStatusEvent) -> None:
    left_open = Transaction.objects.select_for_update().filter(
        station_id=event.station_id,
        connector_id=event.connector_id,
        status=Transaction.Status.ACTIVE,
        started_at__lt=event.timestamp,
    )
    for session in left_open.select_related("station"):
        _close_left_open(
            session,
            at=event.timestamp,
            code="closed_by_status",
            detail=f"connector reported Available at {event.timestamp.isoformat()}",
        )


def session_stop(
    *,
    station: Station,
    transaction_id: str,
    meter_stop: int,
    stopped_at: datetime,
    reason: str = "",
    id_token: PresentedIdToken | None = None,
    readings: Sequence[Reading] = (),
    rejected_readings: Sequence[ValueRejected] = (),
    received_at: datetime | None = None,
) -> SessionStop:
    """A session stops (the station's transaction id): close it, store the readings sent with the stop, compute
    and cross-check its energy.

    Always accepted, so that no stop is lost: a stop for a transaction id this station never used
    is kept as an ``unmatched`` session, a replayed stop changes nothing, implausible values are
    replaced and flagged (``rejected_readings``: readings the adapter could not take). Raises ValueRejected
    only for a transaction id no station may use.
    """
    _transaction_id_check(transaction_id)
    id_tag = id_token.value if id_token else ""
    authorization = (
        id_token_authorize(token=id_tag, station=station, message=IdTokenEvent.Message.STOP_TRANSACTION)
        if id_tag
        else None
    )
    reason = reason or "Local"  # the 1.6 default when the station gives none
    received_at = received_at or timezone.now()
    readings, anomalies = _readings_in_time(readings, received_at=received_at)
    anomalies += [anomaly("reading_discarded", str(problem)) for problem in rejected_readings]
    with transaction.atomic():
        session = (
            Transaction.objects.select_for_update().filter(station=station, ocpp_transaction_id=transaction_id).first()
        )
        if session is None or session.status == Transaction.Status.UNMATCHED:
            return _unmatched_stop(
                station,
                session,
                transaction_id,
                meter_stop,
                stopped_at,
                reason,
                id_tag,
                readings,
                authorization,
                anomalies,
                received_at,
            )
        authorization_session_link(authorization=authorization, session=session)
        codes = anomaly_codes(session)
        late = session.status == Transaction.Status.COMPLETED and any(code in codes for code in ESTIMATED_STOP_CODES)
        refused = session.status == Transaction.Status.REFUSED and session.meter_stop is None
        if not (session.status == Transaction.Status.ACTIVE or refused or (late and LATE_STOP_CODE not in codes)):
            logger.info(
                "replayed stop transaction", extra={"station_id": station.ocpp_id, "transaction_id": session.pk}
            )
            return SessionStop(session, authorization, "replayed")
        if late:
            anomalies.append(
                anomaly(
                    LATE_STOP_CODE,
                    f"the CSMS had closed it at {session.stopped_at.isoformat()} with meter {session.meter_stop} Wh "
                    f"({session.energy_wh} Wh); the station's stop replaces that",
                )
            )
        if not (session.started_at <= stopped_at and time_is_plausible(stopped_at, received_at=received_at)):
            anomalies.append(anomaly("stop_clamped", f"timestamp {_sent(stopped_at)} replaced by the receipt time."))
            stopped_at = max(session.started_at, received_at)

        _store_readings(station, session.connector_id, session, readings)
        _adopt_readings(session, until=stopped_at)
        registers = _register_readings(session)
        try:
            _meter_register_check(meter_stop, "/meterStop")
        except ValueRejected as problem:
            last = last_register(registers)
            sent, meter_stop = meter_stop, round(last) if last is not None else session.meter_start
            anomalies.append(anomaly("meter_stop_discarded", f"{problem}; {meter_stop} Wh kept instead (sent {sent})"))
        check = energy_cross_check(
            meter_start=session.meter_start, meter_stop=meter_stop, registers=energy_registers(registers)
        )
        session.meter_stop = meter_stop
        session.stopped_at = stopped_at
        session.stop_reason = reason[:32]
        session.stop_id_tag = id_tag
        session.energy_wh = check.energy_wh
        session.meter_mismatch = check.mismatch
        if not refused:
            session.status = Transaction.Status.COMPLETED
        session.anomalies = [*session.anomalies, *anomalies]
        session.save(
            update_fields=[
                "meter_stop",
                "stopped_at",
                "stop_reason",
                "stop_id_tag",
                "energy_wh",
                "meter_mismatch",
                "status",
                "anomalies",
                "updated_at",
            ]
        )
        connector_measurements_update(
            station=station,
            connector_id=session.connector_id,
            measured_at=stopped_at,
            power_w=0,
            energy_register_wh=meter_stop,
        )
        if not refused:
            _announce_stop(session)
    log = logger.warning if check.mismatch or anomalies else logger.info
    log(
        "transaction stopped",
        extra={
            "station_id": station.ocpp_id,
            "transaction_id": session.pk,
            "energy_wh": check.energy_wh,
            "reason": reason,
            "meter_mismatch": check.detail if check.mismatch else "",
            "anomalies": [entry["code"] for entry in anomalies],
        },
    )
    return SessionStop(session, authorization, "refused" if refused else "reconciled" if late else "stopped")


def _register_readings(session: Transaction) -> list[Reading]:
    rows = MeterSample.objects.filter(
        transaction=session, measurand="Energy.Active.Import.Register", value__isnull=False
    ).values_list("timestamp", "phase", "location", "context", "unit", "value")
    return [
        Reading(timestamp, "Energy.Active.Import.Register", phase, location, context, unit, value)
        for timestamp, phase, location, context, unit, value in rows
    ]


def _unmatched_stop(
    station,
    known,
    station_tx_id,
    meter_stop,
    stopped_at,
    reason,
    id_tag,
    readings,
    authorization,
    anomalies,
    received_at,
):
    """A stop for a transaction id the station never started a session with (``known``: the unmatched session
    its MeterValues left, if any). The caller holds ``known``'s row lock."""
    if known is not None:
        if known.stop_reason:
            return SessionStop(known, authorization, "replayed")
        return _unmatched_stop_of_known(
            known, meter_stop, stopped_at, reason, id_tag, readings, authorization, anomalies, received_at
        )
    stopped_at, meter_stop, anomalies = _unmatched_stop_values(stopped_at, meter_stop, anomalies, received_at)
    registers = energy_registers(readings)
    check = energy_cross_check(meter_start=None, meter_stop=meter_stop or 0, registers=registers)
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
        started_at=min(
            (reading.timestamp for reading in readings if reading.timestamp <= stopped_at), default=stopped_at
        ),
        stopped_at=stopped_at,
        stop_reason=reason[:32],
        stop_id_tag=id_tag,
        anomalies=anomalies,
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
        extra={"station_id": station.ocpp_id, "station_transaction_id": station_tx_id, "session_id": session.pk},
    )
    return SessionStop(session, authorization, "unmatched")


def _unknown_transaction(report: "MeterValuesReport", readings: Sequence[Reading], *, received_at: datetime):
    """MeterValues naming a transaction this station was never given: its readings are kept on an ``unmatched``
    session of that id, flagged, spanning the readings; the station's StopTransaction for it completes it."""
    logger.warning(
        "meter values for an unknown transaction",
        extra={"station_id": report.station.ocpp_id, "transaction_id": report.transaction_id},
    )
    times = [reading.timestamp for reading in readings] or [received_at]
    session, created = Transaction.objects.get_or_create(
        station=report.station,
        ocpp_transaction_id=report.transaction_id,
        defaults={
            "status": Transaction.Status.UNMATCHED,
            "connector_id": report.connector_id,
            "started_at": min(times),
            "stopped_at": max(times),
            "anomalies": [
                anomaly(
                    "unknown_transaction",
                    f"MeterValues for transaction {report.transaction_id}, which this station was never given",
                )
            ],
        },
    )
    if session.status != Transaction.Status.UNMATCHED:
        return None
    if not created and not session.stop_reason and max(times) > session.stopped_at:
        Transaction.objects.filter(pk=session.pk).update(stopped_at=max(times))
    return session


def _sessions_named(reports: Sequence["MeterValuesReport"]) -> dict[tuple[int, str], Transaction]:
    """The sessions the reports name, by (station, the station's transaction id)."""
    named = {(report.station.pk, report.transaction_id) for report in reports if report.transaction_id is not None}
    if not named:
        return {}
    candidates = Transaction.objects.filter(
        station_id__in={station for station, _ in named}, ocpp_transaction_id__in={tx for _, tx in named}
    )
    return {
        key: session for session in candidates if (key := (session.station_id, session.ocpp_transaction_id)) in named
    }


def _unmatched_stop_values(stopped_at, meter_stop, anomalies, received_at):
    """The stop time and meter of an unmatched stop, implausible ones replaced (no start to fall back on)."""
    if not time_is_plausible(stopped_at, received_at=received_at):
        clamped = anomaly("stop_clamped", f"timestamp {_sent(stopped_at)} replaced by the receipt time.")
        anomalies = [*anomalies, clamped]
        stopped_at = received_at
    if not 0 <= meter_stop <= MAX_MAGNITUDE:
        anomalies = [*anomalies, anomaly("meter_stop_discarded", f"meterStop {meter_stop} Wh is not a register value")]
        meter_stop = None
    return stopped_at, meter_stop, anomalies


def _unmatched_stop_of_known(
    session, meter_stop, stopped_at, reason, id_tag, readings, authorization, anomalies, received_at
):
    """The stop of a transaction only known from its MeterValues (``_unknown_transaction``): its readings
    and the stop's give its energy."""
    _store_readings(session.station, session.connector_id, session, readings)
    stopped_at, meter_stop, anomalies = _unmatched_stop_values(stopped_at, meter_stop, anomalies, received_at)
    registers = energy_registers(_register_readings(session)) + ([] if meter_stop is None else [meter_stop])
    check = energy_cross_check(meter_start=None, meter_stop=meter_stop or 0, registers=registers)
    session.meter_stop, session.energy_wh = meter_stop, check.energy_wh
    session.stopped_at = max(stopped_at, session.started_at)
    session.stop_reason, session.stop_id_tag = reason[:32], id_tag
    session.id_tag = id_tag
    session.id_token = authorization.id_token if authorization else None
    session.user_id = authorization.id_token.owner_id if authorization and authorization.id_token else None
    session.anomalies = [*session.anomalies, *anomalies]
    session.save()
    authorization_session_link(authorization=authorization, session=session)
    logger.warning(
        "stop for an unknown transaction recorded",
        extra={
            "station_id": session.station.ocpp_id,
            "station_transaction_id": session.ocpp_transaction_id,
            "session_id": session.pk,
        },
    )
    return SessionStop(session, authorization, "unmatched")


def _readings_in_time(readings: Sequence[Reading], *, received_at: datetime) -> tuple[list[Reading], list[dict]]:
    """The readings whose timestamp is plausible; the anomaly for those that are not, if any.

    They are dropped, not moved to the receipt time: a replay would store them again at another time,
    and an old register value stored after newer ones reads as a meter running backwards.
    """
    kept = [reading for reading in readings if time_is_plausible(reading.timestamp, received_at=received_at)]
    if len(kept) == len(readings):
        return kept, []
    wrong = sorted({reading.timestamp for reading in readings} - {reading.timestamp for reading in kept})
    detail = (
        f"{len(readings) - len(kept)} reading(s) timed {_sent(wrong[0])}"
        + (f" to {_sent(wrong[-1])}" if len(wrong) > 1 else "")
        + " dropped: not a plausible time"
    )
    return kept, [anomaly("reading_time_discarded", detail)]


def _live_now(readings: Sequence[Reading], *, received_at: datetime) -> list[Reading]:
    """Readings for the connector's live values: those of an implausible time count as measured at receipt."""
    return [
        reading
        if time_is_plausible(reading.timestamp, received_at=received_at)
        else replace(reading, timestamp=received_at)
        for reading in readings
    ]


def _store_readings(station, connector_id: int, session: Transaction | None, readings: Sequence[Reading]) -> None:
    _store_readings_of([(station, connector_id, session, readings)])


SAMPLE_COLUMNS = (
    "station",
    "connector_id",
    "transaction",
    "timestamp",
    "measurand",
    "phase",
    "location",
    "context",
    "unit",
    "value",
    "signed_data",
)


def _store_readings_of(groups: Sequence[tuple[Station, int, Transaction | None, Sequence[Reading]]]) -> None:
    """One INSERT for all the readings; those already stored (a replay) are skipped by the unique key."""
    rows = [
        [
            station.pk,
            connector_id,
            session.pk if session else None,
            reading.timestamp,
            reading.measurand,
            reading.phase,
            reading.location,
            reading.context,
            reading.unit,
            reading.value,
            reading.signed_data,
        ]
        for station, connector_id, session, readings in groups
        for reading in readings
    ]
    if not rows:
        return
    # One parameter for all the rows (``cms.bulk_rows``): the ORM's bulk INSERT cost twice as much per row as
    # arrays, and the arrays' quoting was the largest part of the hot path writer's CPU.
    with connection.cursor() as cursor:
        cursor.execute(_samples_sql(), [rows_parameter(rows)])


@functools.cache
def _samples_sql() -> str:
    fields = [MeterSample._meta.get_field(name) for name in SAMPLE_COLUMNS]
    # Identifiers from the model's metadata only; every value is a parameter.
    return (
        f"INSERT INTO {MeterSample._meta.db_table} ({', '.join(field.column for field in fields)}) "
        f"{rows_select(fields)} ON CONFLICT DO NOTHING"
    )


@dataclass(frozen=True)
class MeterValuesReport:
    """One MeterValues message: the readings of one connector, perhaps during a session the station names."""

    station: Station
    connector_id: int
    readings: Sequence[Reading]
    # The station's transaction id, when it names the session the readings were measured in.
    transaction_id: str | None = None


def session_update(
    *,
    station: Station,
    transaction_id: str,
    connector_id: int,
    readings: Sequence[Reading] = (),
    received_at: datetime | None = None,
) -> Transaction | None:
    """Something a station reports during a session (its transaction id): the readings measured, stored on
    the session, and the connector's live power, state of charge and energy register updated. Returns the
    session (None for one that is no longer unmatched, see ``_unknown_transaction``).

    A transaction id this station never used keeps the readings on a flagged ``unmatched`` session, which
    its stop completes. Raises ValueRejected for a connector the station does not have or a transaction id
    no station may use. ``meter_values_record_many`` is the batched form the OCPP layer's group commit uses.
    """
    report = MeterValuesReport(station, connector_id, readings, transaction_id)
    outcome = meter_values_record_many(reports=[report], received_at=received_at)[0]
    if isinstance(outcome, ValueRejected):
        raise outcome
    return outcome


def meter_values_record_many(
    *, reports: Sequence[MeterValuesReport], received_at: datetime | None = None
) -> list[Transaction | ValueRejected | None]:
    """Readings of many messages at once (the OCPP layer batches them), each during the session it names
    (``session_update``) or of its connector alone, in a few statements: the sessions named, the readings,
    the connectors' live values. Returns each report's session, or ValueRejected (not raised: the other
    reports are stored) for a connector the station does not have or a transaction id no station may use."""
    received_at = received_at or timezone.now()
    limits = connector_limits_where_needed(connectors=[(report.station, report.connector_id) for report in reports])
    outcomes: list[Transaction | ValueRejected | None] = []
    accepted: list[tuple[MeterValuesReport, Transaction | None, list[Reading]]] = []
    found = _sessions_named(reports)
    flagged: dict[int, list[dict]] = {}
    for report in reports:
        try:
            connector_id_check(report.connector_id, limit=limits[report.station.pk])
            if report.transaction_id is not None:
                _transaction_id_check(report.transaction_id)
        except ValueRejected as rejected:
            outcomes.append(rejected)
            continue
        readings, anomalies = _readings_in_time(report.readings, received_at=received_at)
        session = found.get((report.station.pk, report.transaction_id))
        if report.transaction_id is not None and (session is None or session.status == Transaction.Status.UNMATCHED):
            session = _unknown_transaction(report, readings, received_at=received_at)
        if anomalies and session is not None:
            flagged.setdefault(session.pk, []).extend(anomalies)
        accepted.append((report, session, readings))
        outcomes.append(session)
    # No savepoint when the caller's transaction holds many of these (the OCPP group commit): it fails whole.
    with transaction.atomic(savepoint=False):
        _store_readings_of(
            [(report.station, report.connector_id, session, readings) for report, session, readings in accepted]
        )
        connectors_measurements_update(
            measurements=[
                Measurement(
                    report.station,
                    report.connector_id,
                    live.measured_at,
                    live.power_w,
                    live.soc_percent,
                    live.energy_register_wh,
                )
                for report, _, _ in accepted
                if (live := live_values(_live_now(report.readings, received_at=received_at))) is not None
            ]
        )
        for session_pk, anomalies in flagged.items():
            anomalies_record(transaction_id=session_pk, entries=anomalies)
    return outcomes


@dataclass(frozen=True)
class SessionEvent:
    """One event of a session the station numbers itself (OCPP 2.0.1 TransactionEvent): Started, Updated or
    Ended, its seqNo, why it was sent (triggerReason) and, for Ended, why the session stopped."""

    transaction_id: str
    event_type: str  # "Started", "Updated" or "Ended"
    seq_no: int
    timestamp: datetime
    trigger_reason: str
    offline: bool = False
    stopped_reason: str = ""
    charging_state: str = ""
    evse_id: int | None = None
    id_token: PresentedIdToken | None = None
    readings: Sequence[Reading] = ()
    reservation_id: int | None = None
    remote_start_id: int | None = None


@dataclass(frozen=True)
class SessionEventOutcome:
    transaction: Transaction
    # The answer for the event's id token (None without one): the first answer again for a replay.
    authorization: Authorization | None
    replayed: bool


def session_event_record(
    *, station: Station, event: SessionEvent, received_at: datetime | None = None
) -> SessionEventOutcome:
    """A session event: stored once, and the session folded again from all of its events in seqNo order.

    Whatever arrives first (an offline queue may deliver Ended before the Updated ones) creates the session
    under the station's transaction id; a replayed seqNo changes nothing and is answered as the first time.
    The first id token a session gets (with Started or later) is authorized once; a refused one makes the
    session ``refused`` (never priced). The first Ended stored announces the stop. Raises ValueRejected for
    a transaction id no station may use, a seqNo below 0 or an EVSE the station does not have.
    """
    _transaction_id_check(event.transaction_id)
    if event.seq_no < 0:
        raise ValueRejected("/seqNo", f"{event.seq_no} is not a sequence number.")
    if event.evse_id is not None:
        connector_id_check(event.evse_id, limit=connector_limits(stations=[station])[station.pk], allow_station=False)
    received_at = received_at or timezone.now()
    readings, time_anomalies = _readings_in_time(event.readings, received_at=received_at)
    with transaction.atomic():
        session = _session_of_event(station, event, received_at)
        stored = TransactionEvent.objects.filter(transaction=session, seq_no=event.seq_no).first()
        if stored is not None:
            logger.info(
                "replayed transaction event",
                extra={"station_id": station.ocpp_id, "seq_no": event.seq_no, "transaction_id": session.pk},
            )
            return SessionEventOutcome(session, _authorization_of(session) if event.id_token else None, True)
        was_ended = session.events.filter(event_type=TransactionEvent.Type.ENDED).exists()
        connector_was_unknown = session.connector_id == UNKNOWN_CONNECTOR
        was_shown_open = _open_on_a_connector(session)
        _event_row(session, replace(event, readings=readings)).save(force_insert=True)
        if session.connector_id == UNKNOWN_CONNECTOR and event.evse_id is not None:
            connector_ensure(station=station, connector_id=event.evse_id)
            # Readings of events that arrived before the one naming the EVSE move to it.
            MeterSample.objects.filter(transaction=session, connector_id=UNKNOWN_CONNECTOR).update(
                connector_id=event.evse_id
            )
        _store_readings(station, event.evse_id or session.connector_id, session, readings)
        authorization = _event_authorization(session, event)
        if time_anomalies:
            session.anomalies = [*session.anomalies, *time_anomalies]
        codes = anomaly_codes(session)
        closed_by_csms = any(code in codes for code in ESTIMATED_STOP_CODES)
        if closed_by_csms and event.event_type == TransactionEvent.Type.ENDED and LATE_STOP_CODE not in codes:
            session.anomalies = [
                *session.anomalies,
                anomaly(
                    LATE_STOP_CODE,
                    f"the CSMS had closed it at {session.stopped_at.isoformat()} with meter {session.meter_stop} Wh "
                    f"({session.energy_wh} Wh); the station's Ended replaces that",
                ),
            ]
        _session_fold(session, closed_by_csms=closed_by_csms)
        if connector_was_unknown and session.connector_id != UNKNOWN_CONNECTOR:
            # The events that arrived before the one naming the EVSE say its states too.
            for stored_event in session.events.exclude(charging_state="", event_type=TransactionEvent.Type.UPDATED):
                _charging_state_record(session, stored_event, received_at=received_at)
        else:
            _charging_state_record(session, event, received_at=received_at)
        if event.reservation_id is not None and session.status != Transaction.Status.REFUSED:
            _session_reservation(session, event.reservation_id)
        if _open_on_a_connector(session) and not was_shown_open:
            _announce_start(session)
        if event.event_type == TransactionEvent.Type.ENDED and not was_ended:
            if session.status != Transaction.Status.REFUSED:
                _announce_stop(session)
        if (live := live_values(_live_now(event.readings, received_at=received_at))) is not None:
            connector_measurements_update(
                station=station,
                connector_id=session.connector_id,
                measured_at=live.measured_at,
                power_w=live.power_w,
                soc_percent=live.soc_percent,
                energy_register_wh=live.energy_register_wh,
            )
    return SessionEventOutcome(session, authorization, False)


# What a 2.0.1 chargingState says in a 1.6 connector status (the status history analytics and billing read):
# (event type, chargingState) -> status; "*" for any event type. Each event maps on its own, so any arrival
# order gives the same history. Started not charging says no more than the station's own StatusNotification
# (Occupied once plugged in, which analytics counts as idle, as 1.6's Preparing). EVConnected later: plugged in,
# no energy offered (the EVSE suspending). Ended: the session is over, the connector not yet free (Available
# once unplugged).
CHARGING_STATE_STATUSES = {
    ("*", "Charging"): "Charging",
    ("*", "SuspendedEV"): "SuspendedEV",
    ("*", "SuspendedEVSE"): "SuspendedEVSE",
    (TransactionEvent.Type.UPDATED, "EVConnected"): "SuspendedEVSE",
    (TransactionEvent.Type.UPDATED, "Idle"): "SuspendedEV",
    (TransactionEvent.Type.ENDED, "Idle"): "Available",
}
ENDED_STATUS = "Finishing"


def charging_state_status(event_type: str, charging_state: str) -> str | None:
    """The 1.6 connector status a TransactionEvent's chargingState amounts to (None: it says nothing)."""
    if event_type == TransactionEvent.Type.ENDED:
        return CHARGING_STATE_STATUSES.get((event_type, charging_state), ENDED_STATUS)
    return CHARGING_STATE_STATUSES.get(("*", charging_state)) or CHARGING_STATE_STATUSES.get(
        (event_type, charging_state)
    )


def _open_on_a_connector(session: Transaction) -> bool:
    return session.status == Transaction.Status.ACTIVE and session.connector_id != UNKNOWN_CONNECTOR


def _charging_state_record(
    session: Transaction, event: SessionEvent | TransactionEvent, *, received_at: datetime
) -> None:
    """A 2.0.1 station reports its connector Occupied and says whether it charges in the TransactionEvent: the
    connector's status history gets the 1.6 status that means the same, at the event's time (a replay adds no
    row: the history is unique per moment and status; an older one does not overwrite the current status)."""
    if (report := _charging_state_report(session, event, received_at=received_at)) is not None:
        connector_statuses_store(reports=[report])


def _charging_state_report(
    session: Transaction, event: SessionEvent | TransactionEvent, *, received_at: datetime
) -> dict | None:
    """The status report (``connector_status_report``'s arguments) the event's charging state amounts to, if any."""
    connector_id = event.evse_id or session.connector_id
    status = charging_state_status(event.event_type, event.charging_state)
    # A clockless station's moment would become the receipt time, a new row at each replay.
    if (
        status is None
        or connector_id == UNKNOWN_CONNECTOR
        or not time_is_plausible(event.timestamp, received_at=received_at)
    ):
        return None
    return {"station": session.station, "connector_id": connector_id, "status": status, "timestamp": event.timestamp}


def session_event_appendable(event: SessionEvent, *, received_at: datetime | None = None) -> bool:
    """Whether the event may be the common case ``session_events_append_many`` stores: an Updated event live
    from the station (not replayed from its offline queue) with no id token, reservation or remote start, and
    readings of a plausible time. The rest (and whatever the database says is not that case) goes to
    ``session_event_record``."""
    received_at = received_at or timezone.now()
    return (
        event.event_type == TransactionEvent.Type.UPDATED
        and not event.offline
        and event.id_token is None
        and event.reservation_id is None
        and event.remote_start_id is None
        and event.seq_no >= 0
        and 0 < len(event.transaction_id) <= MAX_TRANSACTION_ID_LENGTH
        and all(time_is_plausible(reading.timestamp, received_at=received_at) for reading in event.readings)
    )


def session_events_append_many(
    *, items: Sequence[tuple[Station, SessionEvent]], received_at: datetime | None = None
) -> list[SessionEventOutcome | None]:
    """The common case of many events at once (the OCPP layer batches them): each an appendable event (see
    ``session_event_appendable``) of an active session on a known EVSE, after every event stored so far, that
    changes the session only by its readings and charging state. Such an event is the last in seqNo order, so
    folding the session again would give what it already holds: the event and its readings are appended in a
    few statements for all, without the fold. None for an item that is not that case (``session_event_record``
    stores it, with the whole fold)."""
    received_at = received_at or timezone.now()
    stations = {station.pk: station for station, _ in items}
    named = sorted({(station.pk, event.transaction_id) for station, event in items})
    # One statement on the path of every metered event of the node: the open sessions named locked (in id order, as
    # every batch locks them) and touched, each with the last seqNo stored; their stations are the callers'.
    sessions = {
        (session.station_id, session.ocpp_transaction_id): session
        for session in Transaction.objects.raw(
            _sessions_touch_sql(),
            [
                [station_id for station_id, _ in named],
                [transaction_id for _, transaction_id in named],
                Transaction.Status.ACTIVE,
                UNKNOWN_CONNECTOR,
                timezone.now(),
            ],
        )
    }
    last_seq_nos = {}
    for session in sessions.values():
        session.station = stations[session.station_id]
        last_seq_nos[session.pk] = -1 if session.last_seq_no is None else session.last_seq_no
    outcomes: list[SessionEventOutcome | None] = []
    appended: list[tuple[Transaction, SessionEvent]] = []
    for station, event in items:
        session = sessions.get((station.pk, event.transaction_id))
        if not (
            session is not None
            and session_event_appendable(event, received_at=received_at)
            and event.seq_no > last_seq_nos.get(session.pk, -1)
            and event.evse_id in (None, session.connector_id)
            # The first energy register of a session is its meter start: the fold sets it.
            and (session.meter_start is not None or not any(map(_is_energy_register, event.readings)))
        ):
            outcomes.append(None)
            continue
        last_seq_nos[session.pk] = event.seq_no
        appended.append((session, event))
        outcomes.append(SessionEventOutcome(session, None, False))
    if not appended:
        return outcomes
    # No savepoint when the caller's transaction holds many of these (the OCPP group commit): it fails whole.
    with transaction.atomic(savepoint=False):
        TransactionEvent.objects.bulk_create([_event_row(session, event) for session, event in appended])
        _store_readings_of(
            [(session.station, session.connector_id, session, event.readings) for session, event in appended]
        )
        connectors_measurements_update(
            measurements=[
                Measurement(
                    session.station,
                    session.connector_id,
                    live.measured_at,
                    live.power_w,
                    live.soc_percent,
                    live.energy_register_wh,
                )
                for session, event in appended
                if (live := live_values(event.readings)) is not None
            ]
        )
        # A station may repeat its chargingState in every event: one statement or two for all of them.
        reports = [_charging_state_report(session, event, received_at=received_at) for session, event in appended]
        if reports := [report for report in reports if report is not None]:
            connector_statuses_store(reports=reports)
    return outcomes


@functools.cache
def _sessions_touch_sql() -> str:
    """Lock and touch the open sessions of (station, transaction id) pairs, returning each with its last seqNo."""
    session, event = Transaction._meta, TransactionEvent._meta
    column = {name: event.get_field(name).column for name in ("transaction", "seq_no")}
    # Identifiers from the models' metadata only; every value is a parameter.
    return (
        f"WITH locked AS (SELECT s.id FROM {session.db_table} s "  # noqa: S608
        "JOIN unnest(%s::bigint[], %s::varchar[]) AS named (station_id, ocpp_transaction_id) "
        "USING (station_id, ocpp_transaction_id) "
        "WHERE s.status = %s AND s.connector_id <> %s ORDER BY s.id FOR UPDATE OF s) "
        f"UPDATE {session.db_table} s SET updated_at = %s FROM locked WHERE s.id = locked.id "
        f"RETURNING s.*, (SELECT e.{column['seq_no']} FROM {event.db_table} e WHERE e.{column['transaction']} = s.id "
        f"ORDER BY e.{column['seq_no']} DESC LIMIT 1) AS last_seq_no"
    )


def _event_row(session: Transaction, event: SessionEvent) -> TransactionEvent:
    registers = [reading.value for reading in event.readings if _is_energy_register(reading)]
    return TransactionEvent(
        transaction=session,
        seq_no=event.seq_no,
        event_type=event.event_type,
        timestamp=event.timestamp,
        trigger_reason=event.trigger_reason[:32],
        offline=event.offline,
        stopped_reason=event.stopped_reason[:32],
        charging_state=event.charging_state[:16],
        evse_id=event.evse_id,
        id_token=event.id_token.value if event.id_token else "",
        id_token_type=event.id_token.type if event.id_token else "",
        energy_register_wh=registers[-1] if registers else None,
    )


def _session_reservation(session: Transaction, reservation_id: int) -> None:
    """A 2.0.1 session names its reservation in whichever event the station chooses (Started, mostly)."""
    if session.reservation_id is None:
        session.reservation_id = reservation_id
        session.save(update_fields=["reservation_id"])
    reservation_use(session=session, reservation_id=reservation_id)


def _is_energy_register(reading: Reading) -> bool:
    return reading.measurand == "Energy.Active.Import.Register" and not reading.phase and reading.value is not None


def _session_of_event(station: Station, event: SessionEvent, received_at: datetime) -> Transaction:
    """The session the event names, locked; created by the first event to arrive, whichever it is."""
    session = (
        Transaction.objects.select_for_update(of=("self",))
        .select_related("id_token__parent", "station")
        .filter(station=station, ocpp_transaction_id=event.transaction_id)
        .first()
    )
    if session is not None:
        return session
    try:
        with transaction.atomic():
            Transaction.objects.create(
                station=station,
                ocpp_transaction_id=event.transaction_id,
                connector_id=UNKNOWN_CONNECTOR,
                started_at=min(event.timestamp, received_at),
                reservation_id=event.reservation_id,
                remote_start_id=event.remote_start_id,
            )
    except IntegrityError:
        pass  # created meanwhile by the same event arriving on another connection
    return (
        Transaction.objects.select_for_update(of=("self",))
        .select_related("id_token__parent", "station")
        .get(station=station, ocpp_transaction_id=event.transaction_id)
    )


def _event_authorization(session: Transaction, event: SessionEvent) -> Authorization | None:
    """The answer for the event's id token. The session's first token is authorized once, as a start (another
    token later, e.g. the one that stops the session, is only checked)."""
    if event.id_token is None:
        return None
    presented = (event.id_token.value, event.id_token.type)
    if (session.id_tag, session.id_token_type) == presented and session.authorization_status:
        return _authorization_of(session)
    if session.authorization_status:
        authorization = id_token_authorize(
            token=event.id_token.value,
            token_type=event.id_token.type,
            station=session.station,
            message=IdTokenEvent.Message.TRANSACTION_EVENT,
        )
        authorization_session_link(authorization=authorization, session=session)
        return authorization
    authorization = id_token_authorize(
        token=event.id_token.value,
        token_type=event.id_token.type,
        station=session.station,
        for_start=True,
        connector_id=event.evse_id or session.connector_id or None,
        message=IdTokenEvent.Message.TRANSACTION_EVENT,
    )
    authorization_session_link(authorization=authorization, session=session, start=True)
    session.id_token = authorization.id_token
    session.user_id = authorization.id_token.owner_id if authorization.id_token else None
    session.authorization_status = authorization.status
    return authorization


def _session_fold(session: Transaction, *, closed_by_csms: bool = False) -> None:
    """The session's fields from all of its events in seqNo order (and its readings): the same whatever
    order they arrived in. A session the CSMS closed (``_close_left_open``) stays closed until its Ended
    arrives. The caller holds the session's row lock."""
    events = list(session.events.order_by("seq_no"))
    started = next((event for event in events if event.event_type == TransactionEvent.Type.STARTED), events[0])
    ended = next((event for event in events if event.event_type == TransactionEvent.Type.ENDED), None)
    with_token = next((event for event in events if event.id_token), None)
    session.connector_id = next((event.evse_id for event in events if event.evse_id is not None), UNKNOWN_CONNECTOR)
    session.started_at = started.timestamp
    if with_token is not None:
        session.id_tag, session.id_token_type = with_token.id_token, with_token.id_token_type
    metered = [event.energy_register_wh for event in events if event.energy_register_wh is not None]
    registers = _register_readings(session)
    session.meter_start = round(metered[0]) if metered else None
    accepted = not session.authorization_status or session.authorization_status == "Accepted"
    if ended is None and not closed_by_csms:
        session.status = Transaction.Status.ACTIVE if accepted else Transaction.Status.REFUSED
        session.stopped_at = None if accepted else session.started_at
    elif ended is not None:
        last = last_register(registers)
        stop_meter = ended.energy_register_wh if ended.energy_register_wh is not None else last
        session.meter_stop = round(stop_meter) if stop_meter is not None else session.meter_start
        session.stopped_at = max(ended.timestamp, session.started_at)
        session.stop_reason = ended.stopped_reason or "Local"
        session.stop_id_tag = ended.id_token
        check = (
            energy_cross_check(
                meter_start=session.meter_start,
                meter_stop=session.meter_stop or 0,
                registers=energy_registers(registers),
            )
            if session.meter_stop is not None
            else None
        )
        session.energy_wh = check.energy_wh if check else None
        session.meter_mismatch = check.mismatch if check else False
        session.status = Transaction.Status.COMPLETED if accepted else Transaction.Status.REFUSED
    session.save()

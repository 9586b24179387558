"""Charging from the browser: the rules of a driver's remote start and stop, and the reads of the connector page.

A driver starts with a token of their own that the CSMS issues on first use (type Central, "Voltgrid app"):
the station sends it back in StartTransaction, where the one authorisation service accepts it like any
card, and the session is the driver's through the token's owner. Everything that can be checked before
the command is checked here, so that the driver reads why nothing happens instead of a station's bare
Rejected; the station still has the last word.
"""

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import IdToken, IdTokenEvent
from accounts.rules import load_rule_context, token_verdict
from accounts.services import id_token_create
from billing.money import format_money
from billing.selectors import session_price_estimate, session_running_cost, user_can_start_charging
from sessions.models import Transaction
from stations.app_settings import app_settings as stations_settings
from stations.models import Connector, Station, StationCommand
from stations.protocol import outbound
from stations.protocol.commands import station_call_sync

logger = logging.getLogger(__name__)

APP_TOKEN_LABEL = "Voltgrid app"
# How long a start waits for the station's StartTransaction after it accepted: most start at once; a
# station waiting for the cable to be plugged in starts later, and the page keeps looking for it.
START_WAIT_SECONDS = 5.0
# A station accepts a remote start and then waits for the car (1.6 ConnectionTimeOut, often 1-3 minutes).
PENDING_START = timedelta(minutes=3)
# A session that ended this recently is still shown on its connector's page, with what it cost.
RECENT_END = timedelta(minutes=30)
# What the page estimates before a start: a typical AC top-up.
ESTIMATE_ENERGY_WH = 20_000
ESTIMATE_MINUTES = 120

FREE = {"Available", "Preparing"}  # Preparing: a car plugged in, waiting for someone to start
OCCUPIED = {"Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Occupied"}


class RemoteChargingError(Exception):
    """Why a remote start or stop did not happen, in the driver's words; ``code`` for tests and the API."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ConnectorState:
    """What the connector page says about a connector: ``state`` is one of free, occupied, reserved, faulted,
    unavailable, offline, unknown; ``can_start``: a driver may try to start here."""

    state: str
    label: str
    message: str

    @property
    def can_start(self) -> bool:
        return self.state in ("free", "unknown")


@dataclass(frozen=True)
class RemoteStart:
    command: StationCommand
    transaction: Transaction | None  # None: accepted, the station is still waiting (for the car, mostly)


def connector_for_page(*, ocpp_id: str, connector_id: int) -> Connector | None:
    """The connector behind a printed QR code (connector 0 is the station itself, never a page)."""
    if connector_id < 1:
        return None
    return (
        Connector.objects.select_related("station", "station__site")
        .filter(station__ocpp_id=ocpp_id, connector_id=connector_id)
        .first()
    )


def connector_state(*, connector: Connector) -> ConnectorState:
    station = connector.station
    if station.registration_status != Station.RegistrationStatus.ACCEPTED:
        return ConnectorState("unavailable", "Not in service", "This charger is not in service yet.")
    if not station.is_online:
        return ConnectorState(
            "offline",
            "Offline",
            "This charger is offline right now, so it cannot be started from here. "
            "If you have a charging card, you may still be able to start with it.",
        )
    status = connector.status
    busy = Transaction.objects.filter(
        station=station, connector_id=connector.connector_id, status=Transaction.Status.ACTIVE
    ).exists()
    if status in OCCUPIED or busy:
        return ConnectorState("occupied", "Occupied", "Someone is charging here right now.")
    if status == "Faulted":
        return ConnectorState("faulted", "Out of order", "This connector is out of order. Please use another one.")
    if status == "Unavailable":
        return ConnectorState("unavailable", "Unavailable", "This connector is switched off at the moment.")
    if status == "Reserved":
        return ConnectorState("reserved", "Reserved", "This connector is reserved for another driver.")
    if status in FREE:
        return ConnectorState("free", "Available", "This connector is free.")
    return ConnectorState("unknown", "Status unknown", "The charger has not reported this connector's status yet.")


def driver_active_sessions(*, user) -> QuerySet[Transaction]:
    return Transaction.objects.filter(user=user, status=Transaction.Status.ACTIVE).select_related("station")


def driver_connector_session(*, user, connector: Connector) -> Transaction | None:
    """The driver's session on this connector: the one in progress, else one that ended a short while ago."""
    sessions = Transaction.objects.filter(
        user=user, station_id=connector.station_id, connector_id=connector.connector_id
    ).select_related("station")
    active = sessions.filter(status=Transaction.Status.ACTIVE).order_by("-started_at").first()
    if active is not None:
        return active
    return (
        sessions.filter(status=Transaction.Status.COMPLETED, stopped_at__gte=timezone.now() - RECENT_END)
        .order_by("-stopped_at")
        .first()
    )


def driver_pending_start(*, user, connector: Connector) -> StationCommand | None:
    """The driver's start the station accepted lately and has not begun yet; linked to its session once it has."""
    command = (
        StationCommand.objects.filter(
            outbound.remote_starts_at(connector.connector_id),
            station_id=connector.station_id,
            requested_by=user,
            status=StationCommand.Status.ANSWERED,
            transaction__isnull=True,
            created_at__gte=timezone.now() - PENDING_START,
        )
        .order_by("-created_at")
        .first()
    )
    if command is None or not outbound.answer_of(connector.station.ocpp_version, command).accepted:
        return None
    return None if outbound.remote_start_session(command=command) is not None else command


@dataclass(frozen=True)
class LiveSession:
    """A session as the page shows it while it runs (and once it has ended)."""

    transaction: Transaction
    energy_wh: int
    power_w: int | None
    soc_percent: float | None
    cost: str  # formatted, "" without a tariff
    duration_seconds: int

    def as_dict(self) -> dict:
        return {
            "id": self.transaction.pk,
            "status": self.transaction.status,
            "energy_wh": self.energy_wh,
            "power_w": self.power_w,
            "soc_percent": self.soc_percent,
            "cost": self.cost,
            "duration_seconds": self.duration_seconds,
            "started_at": self.transaction.started_at.isoformat(),
        }


def session_live(*, transaction: Transaction, connector: Connector) -> LiveSession:
    active = transaction.status == Transaction.Status.ACTIVE
    running = session_running_cost(transaction)
    price = running.price
    ended_at = transaction.stopped_at or timezone.now()
    return LiveSession(
        transaction=transaction,
        energy_wh=running.energy_wh if active or transaction.energy_wh is None else transaction.energy_wh,
        power_w=connector.power_w if active else 0,
        soc_percent=connector.soc_percent if active else None,
        cost=format_money(price.gross, price.currency) if price is not None else "",
        duration_seconds=max(0, int((ended_at - transaction.started_at).total_seconds())),
    )


def connector_price_estimate(*, connector: Connector, user=None) -> tuple:
    """(tariff, price of a typical session) at this connector for this driver, (None, None) without a tariff."""
    return session_price_estimate(
        station=connector.station,
        user=user if user is not None and user.is_authenticated else None,
        energy_wh=ESTIMATE_ENERGY_WH,
        minutes=ESTIMATE_MINUTES,
    )


def driver_app_token(*, user) -> IdToken:
    """The driver's own token for starts from the portal, issued the first time it is needed.

    It is an ordinary ID token (it shows among the driver's cards, can be blocked, reaches the local
    lists), so the one authorisation service decides on it. 18 characters: fits 1.6's 20-character idTag.
    """
    existing = (
        IdToken.objects.filter(owner=user, type=IdToken.Type.CENTRAL, label=APP_TOKEN_LABEL).order_by("pk").first()
    )
    if existing is not None:
        return existing
    return id_token_create(
        token="VG" + secrets.token_hex(8).upper(),
        data={"type": IdToken.Type.CENTRAL, "owner": user, "label": APP_TOKEN_LABEL},
        actor=user,
        source=IdTokenEvent.Source.PORTAL,
    )


def _check_start(*, user, connector: Connector) -> None:
    """Everything the CSMS knows before asking the station; RemoteChargingError with the reason."""
    state = connector_state(connector=connector)
    if not state.can_start:
        raise RemoteChargingError(state.state, state.message)
    elsewhere = driver_active_sessions(user=user).first()
    if elsewhere is not None:
        where = elsewhere.station.name or elsewhere.station.ocpp_id
        raise RemoteChargingError(
            "concurrent_tx",
            f"You are already charging at {where} (connector {elsewhere.connector_id}). Stop that session first.",
        )
    allowed, reason = user_can_start_charging(user, station=connector.station)
    if not allowed:
        raise RemoteChargingError("payment", reason)


def _command_failure(command: StationCommand, doing: str) -> RemoteChargingError:
    Status = StationCommand.Status
    if command.status == Status.OFFLINE:
        return RemoteChargingError("offline", "The charger went offline. Please try again in a moment.")
    if command.status == Status.UNAVAILABLE:
        return RemoteChargingError(
            "unavailable", "We cannot reach the charger from here right now. Please try again in a few minutes."
        )
    if command.status == Status.TIMEOUT:
        return RemoteChargingError(
            "timeout",
            f"The charger did not answer in time, so we cannot tell whether it will {doing}. "
            "Please wait a moment and look again before trying once more.",
        )
    return RemoteChargingError(
        "call_error", f"The charger could not take the request ({command.error_code or command.status})."
    )


def session_remote_start(*, user, connector: Connector, wait: float = START_WAIT_SECONDS) -> RemoteStart:
    """Start a charge at ``connector`` for ``user`` (a remote start with the driver's app token).

    Refused with RemoteChargingError when the station is offline or the connector not free, the driver
    charges elsewhere already, billing will not let them charge, their app token is blocked, another
    start of theirs is under way, or the station rejects, fails or does not answer. Once the station
    accepts, waits up to ``wait`` seconds for the session.
    """
    _check_start(user=user, connector=connector)
    token = driver_app_token(user=user)
    verdict = token_verdict(token, load_rule_context([token]), station=connector.station)
    if verdict.status != IdToken.Status.ACCEPTED:
        raise RemoteChargingError(
            "token_refused",
            f"Starting from this page is switched off for your account ({verdict.status.lower()} "
            "app access). Please contact support.",
        )
    # One start at a time per driver: a double click must not start two connectors.
    lock = f"sessions:remote-start:{user.pk}"
    if not cache.add(lock, 1, timeout=int(stations_settings.RESPONSE_TIMEOUT + wait + 10)):
        raise RemoteChargingError("busy", "Your previous start is still under way. Please wait a moment.")
    try:
        station = connector.station
        action, payload = outbound.remote_start(
            station.ocpp_version, id_token=token.token, id_token_type=token.type, connector_id=connector.connector_id
        )
        command = station_call_sync(station=station, action=action, payload=payload, requested_by=user)
        if command.status != StationCommand.Status.ANSWERED:
            raise _command_failure(command, "start")
        if not outbound.answer_of(station.ocpp_version, command).accepted:
            raise RemoteChargingError(
                "rejected",
                "The charger refused to start. Check that the cable is plugged in firmly at both ends, then try again.",
            )
        started = async_to_sync(outbound.remote_start_session_wait)(command=command, wait=wait) if wait > 0 else None
    finally:
        cache.delete(lock)
    logger.info(
        "remote start accepted",
        extra={
            "station_id": connector.station.ocpp_id,
            "connector_id": connector.connector_id,
            "user": user.pk,
            "transaction_id": started.pk if started else None,
        },
    )
    return RemoteStart(command=command, transaction=started)


def session_remote_stop(*, user, transaction: Transaction) -> StationCommand:
    """Ask the station to end ``user``'s own session in progress (a remote stop); the station
    then reports the session ended, which ends it here."""
    if transaction.user_id != user.pk:
        raise RemoteChargingError("not_found", "There is no such session of yours.")
    if transaction.status != Transaction.Status.ACTIVE:
        raise RemoteChargingError("not_active", "This session has already ended.")
    station = transaction.station
    if not station.is_online:
        raise RemoteChargingError(
            "offline",
            "The charger is offline, so it cannot be stopped from here. Unplug your car, or use "
            "your card at the charger.",
        )
    action, payload = outbound.remote_stop(
        station.ocpp_version, transaction_id=outbound.station_transaction_id(station.ocpp_version, transaction)
    )
    command = station_call_sync(station=station, action=action, payload=payload, requested_by=user)
    if command.status != StationCommand.Status.ANSWERED:
        raise _command_failure(command, "stop")
    if not outbound.answer_of(station.ocpp_version, command).accepted:
        raise RemoteChargingError(
            "rejected", "The charger refused to stop the session. Please try again, or end it at the charger."
        )
    logger.info("remote stop accepted", extra={"station_id": station.ocpp_id, "transaction_id": transaction.pk})
    return command

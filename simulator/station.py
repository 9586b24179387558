"""What every simulated station does, whatever OCPP version it speaks: its settings, its connection (Basic auth,
reconnecting with back-off, rebooting), its drivers, its meters, its file transfers and the count of what the
CSMS answered. A version's station class (``simulator.ocpp16.SimulatedStation``) combines this with the ``ocpp``
library's ChargePoint of that version and adds the messages.
"""

import asyncio
import base64
import contextlib
import logging
import os
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import websockets
from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError

from simulator import profiles, transfers
from simulator.connector import Connector

logger = logging.getLogger(__name__)

DEFAULT_PASSWORD = "voltgrid-simulator"
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def seeded_random(seed) -> random.Random:
    # Simulated behaviour, reproducible from a seed; nothing secret comes from it.
    return random.Random(seed)  # noqa: S311


def ocpp_url(
    *, host: str | None = None, port: int | None = None, environ=os.environ, address_file: Path | None = None
) -> str:
    """The OCPP endpoint of the server to simulate against, found as the server finds its own address.

    ``manage.py runcms`` listens on ``--host``/``--port`` (defaults: the ``HOST``/``PORT`` environment, then
    127.0.0.1:8000), tells its children its address in ``CMS_SERVER_URL`` and writes it to ``address_file``
    while it runs. A host or port given here wins; then that address; then the same defaults.
    """
    base = None
    if host is None and port is None:
        base = environ.get("CMS_SERVER_URL") or None
        if base is None and address_file is not None and address_file.exists():
            base = address_file.read_text().strip() or None
    if base is None:
        host = host or environ.get("HOST") or DEFAULT_HOST
        port = port or int(environ.get("PORT") or DEFAULT_PORT)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        base = f"http://{host}:{port}"
    scheme, _, rest = base.rstrip("/").partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ocpp"


@dataclass
class SimulatorConfig:
    """How the simulated stations behave; times in seconds, power in W, energy in Wh."""

    url: str = f"ws://{DEFAULT_HOST}:{DEFAULT_PORT}/ocpp"
    password: str | None = DEFAULT_PASSWORD
    vendor: str = "Voltgrid"
    model: str = "Simulator AC22"
    firmware_version: str = "1.0.0"
    connectors: int = 2
    max_power_w: int = 22_000  # per connector
    phases: int = 3
    voltage: float = 230.0
    id_tags: tuple[str, ...] = ("SIMTAG01", "SIMTAG02", "SIMTAG03")
    autostart: bool = True  # drivers arrive on their own; without it only remote starts charge
    session_seconds: tuple[float, float] = (120.0, 600.0)  # how long a driver stays plugged in
    idle_seconds: tuple[float, float] = (10.0, 60.0)  # between a driver leaving and the next arriving
    meter_interval: float = 10.0  # MeterValueSampleInterval
    heartbeat_interval: float | None = None  # None: as the CSMS says in BootNotification
    response_timeout: float = 30.0
    reconnect_delay: float = 1.0  # first retry; doubles up to 30 s
    step_delay: float = 0.5  # between the steps of a firmware update or a diagnostics upload
    transfer_timeout: float = 60.0  # for one firmware download or diagnostics upload
    reject_charging_profiles: bool = False  # answer every SetChargingProfile Rejected (a CSMS's fallback tested)
    reject_tx_profiles: bool = False  # 1.6: answer a TxProfile Rejected, hold the other purposes (TxDefaultProfile)
    seed: int | None = None


@dataclass
class Stats:
    """What a station did and what the CSMS answered, for the summary of a run.

    A session is *started* when the CSMS accepted its start, *refused* when it refused the driver's tag (at
    Authorize or at the start), *completed* when the CSMS answered its stop, *errored* when the CSMS answered
    its start or its stop with a CALLERROR (or not at all). A refused start that the station then stops counts
    as refused only.
    """

    boots: int = 0
    calls_sent: int = 0
    calls_failed: int = 0  # no answer: the connection dropped, or the response timeout passed
    call_errors: int = 0  # answered with a CALLERROR
    commands_answered: int = 0
    sessions_started: int = 0
    sessions_refused: int = 0
    sessions_completed: int = 0
    sessions_errored: int = 0
    energy_wh: int = 0

    def add(self, other: "Stats") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class CallError(Exception):
    """The CSMS answered a CALL with a CALLERROR."""


class StationBase:
    """The version-free part of a simulated station; put it before the library's ChargePoint in the bases.

    A version's class sets ``subprotocol`` and ``transaction_messages`` (the CALLs a station must deliver,
    retried over reconnections until answered) and implements ``_boot``, ``_heartbeat`` and ``_session``.
    """

    subprotocol: str
    transaction_messages: tuple[type, ...] = ()

    def __init__(
        self,
        ocpp_id: str,
        config: SimulatorConfig | None = None,
        rng: random.Random | None = None,
        tags_in_use: set[str] | None = None,
    ):
        self.config = config or SimulatorConfig()
        # The drivers' tags charging right now, shared by a fleet: a driver charges at one place at a time.
        self.tags_in_use = set() if tags_in_use is None else tags_in_use
        super().__init__(ocpp_id, None, response_timeout=self.config.response_timeout)
        self.rng = rng or seeded_random(self.config.seed)
        self.password = self.config.password
        self.firmware_version = self.config.firmware_version
        self.connectors = {
            n: Connector(n, energy_wh=self.rng.randint(100_000, 5_000_000))
            for n in range(1, self.config.connectors + 1)
        }
        self.configuration: dict[str, str] = {}  # the version's configuration keys or variables
        self.charging_profiles: dict[int, profiles.Profile] = {}  # by id
        self.reject_charging_profiles = self.config.reject_charging_profiles
        self.reject_tx_profiles = self.config.reject_tx_profiles
        self.registration_status: str | None = None
        self.firmware_status = "Idle"
        self.downloaded_firmware: bytes | None = None
        self.stats = Stats()
        self.connected = asyncio.Event()
        self.booted = asyncio.Event()
        self._websocket = None
        self._reboot_reason: str | None = None
        self._background: set[asyncio.Task] = set()

    # Connection and boot

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected (reconnecting with back-off) until ``stop`` is set; then end sessions and close."""
        delay = self.config.reconnect_delay
        while not stop.is_set():
            if await self._connect_and_serve(stop):
                delay = self.config.reconnect_delay
            if not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay if self._reboot_reason is None else 0.1)
                delay = min(delay * 2, 30)
        if any(connector.busy for connector in self.connectors.values()):
            # Stopped while disconnected: one more connection, to end the sessions in progress properly.
            await self._connect_and_serve(stop)
        for task in [c.session_task for c in self.connectors.values() if c.busy] + list(self._background):
            task.cancel()

    async def _connect_and_serve(self, stop: asyncio.Event) -> bool:
        """One connection, served until it drops or ``stop``; whether it was established."""
        connected = False
        try:
            async with websockets.connect(
                f"{self.config.url.rstrip('/')}/{self.id}",
                subprotocols=[self.subprotocol],
                additional_headers=self._auth_header(),
                open_timeout=10,
            ) as websocket:
                connected = True
                await self._serve(websocket, stop)
        except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed) as error:
            logger.warning("disconnected", extra={"station_id": self.id, "error": str(error)})
        return connected

    def _auth_header(self) -> dict[str, str]:
        if not self.password:
            return {}
        return {"Authorization": "Basic " + base64.b64encode(f"{self.id}:{self.password}".encode()).decode()}

    async def _serve(self, websocket, stop: asyncio.Event) -> None:
        # The library reads frames from, and writes them to, the connection it was given; a reconnect swaps it.
        self._connection = websocket
        self._websocket = websocket
        self._reboot_reason = None
        reader = asyncio.create_task(self.start())
        heartbeats = None
        try:
            self.connected.set()
            await self._boot()
            self.stats.boots += 1
            self.booted.set()
            logger.info("booted", extra={"station_id": self.id})
            await self._booted()
            heartbeats = asyncio.create_task(self._heartbeats())
            for connector in self.connectors.values():
                connector.wake.set()  # sessions waiting for the connection carry on
            if self.config.autostart and not any(t.get_name() == "drivers" for t in self._background):
                self._spawn(self._drivers(stop), name="drivers")
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({reader, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if stop.is_set():
                await self._end_sessions("Local")
        finally:
            self.connected.clear()
            self.booted.clear()
            tasks = [task for task in (reader, heartbeats) if task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await websocket.close()

    async def _boot(self) -> None:
        """Boot until the CSMS accepts the station; raise ConnectionError when it does not answer."""
        raise NotImplementedError

    async def _booted(self) -> None:
        """What the station reports once accepted (its status, a finished firmware update)."""

    async def _heartbeat(self) -> None:
        raise NotImplementedError

    def heartbeat_interval(self) -> float:
        raise NotImplementedError

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_interval or self.heartbeat_interval() or 300)
            await self._heartbeat()

    def _spawn(self, coroutine, name: str | None = None) -> asyncio.Task:
        task = asyncio.create_task(coroutine, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def reboot(self, reason: str) -> None:
        """End the sessions, close the connection and boot again (Reset, a new password, new firmware)."""
        self._spawn(self._reboot(reason))

    async def _reboot(self, reason: str) -> None:
        await self._end_sessions(reason)
        self._reboot_reason = reason
        if self._websocket is not None:
            await self._websocket.close()

    async def _call(self, payload, *, errors: bool = False):
        """Send a CALL and return the CALLRESULT; None when there is no answer (or a CALLERROR, unless ``errors``:
        then CallError is raised). Transaction messages wait for the connection and are retried until answered.

        A CALL in flight when the connection drops is abandoned at once: the library holds its one-call
        lock until the answer or its timeout, and the next connection's boot needs that lock.
        """
        while True:
            if isinstance(payload, self.transaction_messages):
                await self.connected.wait()
            elif not self.connected.is_set():
                return None
            try:
                self.stats.calls_sent += 1
                response = await self._call_while_connected(payload)
            except (websockets.ConnectionClosed, TimeoutError) as error:
                self.stats.calls_failed += 1
                if not isinstance(payload, self.transaction_messages):
                    logger.warning(
                        "no answer",
                        extra={"station_id": self.id, "action": type(payload).__name__, "error": type(error).__name__},
                    )
                    return None
                await asyncio.sleep(self.config.reconnect_delay)
                continue
            except CallError as error:
                self.stats.call_errors += 1
                # A caller that takes the error (``errors``) says what it meant: one line per event.
                (logger.info if errors else logger.warning)(
                    "CALLERROR", extra={"station_id": self.id, "action": type(payload).__name__, "error": str(error)}
                )
                if errors:
                    raise
                return None
            return response

    async def _call_while_connected(self, payload):
        websocket = self._websocket
        answer = asyncio.ensure_future(self.call(payload, suppress=False))
        closed = asyncio.ensure_future(websocket.wait_closed())
        try:
            done, _ = await asyncio.wait({answer, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            if not answer.done():
                answer.cancel()
        if answer not in done:
            raise websockets.ConnectionClosed(None, None)
        error = answer.exception()
        if isinstance(error, OCPPError):  # the library raises a CALLERROR as the OCPP exception of its code
            raise CallError(f"{error.code}: {error.description}") from error
        if isinstance(error, UnknownCallErrorCodeError):
            raise CallError(str(error)) from error
        return answer.result()

    # Sessions

    async def _drivers(self, stop: asyncio.Event) -> None:
        """Drivers arriving at free connectors with one of the configured tags."""
        while not stop.is_set():
            await asyncio.sleep(self.rng.uniform(*self.config.idle_seconds))
            free = [
                c
                for c in self.connectors.values()
                if not c.busy and c.operative and c.status == "Available" and c.reservation is None
            ]
            drivers = [tag for tag in self.config.id_tags if tag.upper() not in self.tags_in_use]
            # The fleet may have stopped during the pause: a driver arriving then would find the station closing.
            if free and drivers and self.booted.is_set() and not stop.is_set():
                self.start_session(self.rng.choice(free).connector_id, self.rng.choice(drivers))

    def start_session(self, connector_id: int, id_tag: str, *, remote: bool = False) -> asyncio.Task:
        connector = self.connectors[connector_id]
        connector.stop_reason, connector.charging_state, connector.advanced_at = None, "EVConnected", None
        connector.session_task = asyncio.create_task(self._session(connector, id_tag, remote))
        self.tags_in_use.add(id_tag.upper())
        connector.session_task.add_done_callback(lambda _: self.tags_in_use.discard(id_tag.upper()))
        return connector.session_task

    def stop_session(self, connector_id: int, reason: str) -> asyncio.Task | None:
        connector = self.connectors[connector_id]
        if not connector.busy:
            return None
        connector.stop_reason = reason
        connector.wake.set()
        return connector.session_task

    async def _end_sessions(self, reason: str) -> None:
        tasks = [task for task in (self.stop_session(n, reason) for n in self.connectors) if task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=self.config.response_timeout)

    async def _session(self, connector: Connector, id_tag: str, remote: bool) -> None:
        raise NotImplementedError

    def _session_outcome(self, connector: Connector, id_tag: str, outcome: str, detail: str) -> None:
        """Count what the CSMS answered for a session (see ``Stats``), with one line of output."""
        setattr(self.stats, f"sessions_{outcome}", getattr(self.stats, f"sessions_{outcome}") + 1)
        log = logger.warning if outcome == "errored" else logger.info
        log(
            f"session {outcome}",
            extra={
                "station_id": self.id,
                "connector_id": connector.connector_id,
                "id_tag": id_tag,
                "transaction_id": connector.transaction_id,
                "answer": detail,
            },
        )

    async def _charge(self, connector: Connector) -> str:
        """Meter the session until someone ends it (or, with ``autostart``, the driver leaves); the stop reason.

        The car draws what it and the charging profiles allow; the version's class reports each sample
        (``_meter_values``) and each change of the charging state (``_charging_state_changed``): charging,
        paused by the car once full, or paused because the limit is below the car's minimum current.
        """
        length = self.rng.uniform(*self.config.session_seconds) if self.config.autostart else None
        connector.advanced_at = None
        self._advance(connector)
        reported = connector.charging_state
        await self._charging_state_changed(connector)
        while True:
            interval = max(0.05, self.sample_interval())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(connector.wake.wait(), interval)
            connector.wake.clear()  # after the wait: a wake-up while a sample was being sent is not lost
            now = time.monotonic()
            self._advance(connector)
            if connector.stop_reason:
                return connector.stop_reason
            if length is not None and now - connector.started_at >= length:
                return "EVDisconnected"
            if connector.charging_state != reported:
                reported = connector.charging_state
                await self._charging_state_changed(connector)
            await self._meter_values(connector)

    def sample_interval(self) -> float:
        """Seconds between the meter samples of a session, as the station is configured now."""
        raise NotImplementedError

    async def _charging_state_changed(self, connector: Connector) -> None:
        """Report ``connector.charging_state`` as the version does."""
        raise NotImplementedError

    async def _meter_values(self, connector: Connector) -> None:
        raise NotImplementedError

    # Smart charging

    @property
    def electrical(self) -> profiles.Electrical:
        return profiles.Electrical(self.config.voltage, self.config.phases, float(self.config.max_power_w))

    def profile_session(self, connector_id: int) -> profiles.Session | None:
        """The connector's transaction as its profiles see it (its wall-clock start)."""
        connector = self.connectors.get(connector_id)
        if connector is None or connector.transaction_id is None:
            return None
        started = datetime.now(UTC)
        if connector.started_at is not None:
            started -= timedelta(seconds=time.monotonic() - connector.started_at)
        return profiles.Session(connector.transaction_id, started)

    def sharing(self) -> int:
        """How many connectors share the station's maximum now: those in a transaction (at least one)."""
        return max(1, sum(c.transaction_id is not None for c in self.connectors.values()))

    def power_limit_w(self, connector_id: int) -> float:
        """The most a connector may deliver now under the charging profiles it holds (W)."""
        return profiles.connector_limit_w(
            self.charging_profiles.values(),
            connector_id,
            datetime.now(UTC),
            self.profile_session(connector_id),
            self.electrical,
            sharing=self.sharing(),
        )

    def composite_schedule(self, connector_id: int, duration: int, unit: str) -> list[profiles.Period]:
        """GetCompositeSchedule's answer from the profiles held now; for connector 0, the station's maximum."""
        start = datetime.now(UTC)
        if connector_id == 0:
            station = self.electrical
            station = profiles.Electrical(station.voltage, station.phases, station.max_w * len(self.connectors))
            held = [p for p in self.charging_profiles.values() if p.purpose == profiles.STATION_MAX]
            return profiles.composite_schedule(held, 0, start, duration, None, station, unit=unit)
        return profiles.composite_schedule(
            self.charging_profiles.values(),
            connector_id,
            start,
            duration,
            self.profile_session(connector_id),
            self.electrical,
            unit=unit,
            sharing=self.sharing(),
        )

    def install_profile(self, profile: profiles.Profile) -> None:
        """Hold ``profile`` instead of those it replaces; the cars follow the new limit at once."""
        for held in list(self.charging_profiles.values()):
            if profiles.replaces(profile, held):
                del self.charging_profiles[held.id]
        self.charging_profiles[profile.id] = profile
        self._limits_changed()

    def clear_profiles(self, matches) -> int:
        """Remove the profiles ``matches(profile)`` selects; how many."""
        cleared = [p.id for p in self.charging_profiles.values() if matches(p)]
        for profile_id in cleared:
            del self.charging_profiles[profile_id]
        if cleared:
            self._limits_changed()
        return len(cleared)

    def _end_transaction_profiles(self, connector: Connector) -> None:
        """A TxProfile ends with its transaction."""
        self.clear_profiles(lambda p: p.purpose == profiles.TX and p.connector_id == connector.connector_id)

    def _limits_changed(self) -> None:
        """The cars follow a new limit before the station answers the CSMS (a real EV may take up to 5 s, IEC
        61851-1); each session reports its new draw at once."""
        for connector in self.connectors.values():
            if connector.busy and connector.car is not None and connector.advanced_at is not None:
                self._advance(connector)
                connector.wake.set()

    def _advance(self, connector: Connector) -> None:
        now = time.monotonic()
        seconds = 0.0 if connector.advanced_at is None else now - connector.advanced_at
        connector.advanced_at = now
        min_power = connector.car.min_current_a * self.config.voltage * self.config.phases
        connector.advance(
            seconds, limit_w=self.power_limit_w(connector.connector_id), min_power_w=min_power, rng=self.rng
        )

    # Files

    async def download_firmware(self, location: str) -> bytes | None:
        """The firmware at ``location``, downloaded for real; None (logged) when the download failed."""
        try:
            image = await asyncio.to_thread(transfers.download, location, timeout=self.config.transfer_timeout)
        except transfers.TransferFailed as error:
            logger.warning("firmware download failed", extra={"station_id": self.id, "error": str(error)})
            return None
        self.downloaded_firmware = image
        logger.info("firmware downloaded", extra={"station_id": self.id, "bytes": len(image)})
        return image

    async def upload_diagnostics(self, location: str, name: str) -> bool:
        """Upload the diagnostics file to ``location`` for real; whether it worked (a failure is logged)."""
        content = self.diagnostics_log().encode()
        try:
            await asyncio.to_thread(transfers.upload, location, name, content, timeout=self.config.transfer_timeout)
        except transfers.TransferFailed as error:
            logger.warning("diagnostics upload failed", extra={"station_id": self.id, "error": str(error)})
            return False
        logger.info("diagnostics uploaded", extra={"station_id": self.id, "bytes": len(content)})
        return True

    def diagnostics_log(self) -> str:
        """What the station would put in its diagnostics: identity, configuration, connectors, counters."""
        lines = [
            f"{now_iso()} {self.id} {self.config.vendor} {self.config.model} firmware {self.firmware_version}",
            f"registration {self.registration_status} firmware_status {self.firmware_status}",
            *(f"config {key}={value}" for key, value in sorted(self.configuration.items())),
            *(
                f"connector {c.connector_id} status {c.status} error {c.error_code} energy {int(c.energy_wh)} Wh"
                for c in self.connectors.values()
            ),
            *(f"stats {name}={getattr(self.stats, name)}" for name in self.stats.__dataclass_fields__),
        ]
        return "\n".join(lines) + "\n"

"""A charge point simulator: OCPP 1.6J stations on the `ocpp` library's client side, with realistic sessions.

Each ``SimulatedStation`` connects with Basic auth, boots, heartbeats, reports status changes, and
(with ``autostart``) has drivers arrive, authorise and charge: a car with its own battery, start and
target state of charge and maximum power, charging along a constant-current/constant-voltage curve,
capped by the station and by charging profiles, with an energy register that only goes up. It answers
every CSMS-initiated 1.6 call the way a station would, reconnects when the connection drops, and
reboots (reconnects and boots again) on Reset, a new AuthorizationKey or a firmware update. With
``transfer_files`` it downloads the firmware and uploads its diagnostics over HTTP(S) for real.
``Simulation`` runs a fleet of them; ``manage.py simulate`` is its command line. Tests and benchmarks
import both.
"""

import asyncio
import base64
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests
import websockets
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

logger = logging.getLogger(__name__)

DEFAULT_PASSWORD = "voltgrid-simulator"
VENDOR_ID = "Voltgrid"  # DataTransfer vendorId the simulator understands (it echoes the data)
TRANSACTION_MESSAGES = (call.StartTransaction, call.StopTransaction, call.MeterValues)
FIRMWARE_EXTENSIONS = (".tar.gz", ".tgz", ".zip", ".bin", ".img", ".fw")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def seeded_random(seed) -> random.Random:
    # Simulated behaviour, reproducible from a seed; nothing secret comes from it.
    return random.Random(seed)  # noqa: S311


def decode_authorization_key(value: str) -> str:
    """A 16-20 byte password is sent hex-encoded (32-40 characters); a shorter value is taken as it is."""
    if 32 <= len(value) <= 40 and len(value) % 2 == 0:
        with contextlib.suppress(ValueError):
            return bytes.fromhex(value).decode("utf-8")
    return value


@dataclass
class SimulatorConfig:
    """How the simulated stations behave; times in seconds, power in W, energy in Wh."""

    url: str = "ws://127.0.0.1:8000/ocpp"
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
    # Download firmware from, and upload diagnostics to, HTTP(S) locations for real (others are pretended).
    transfer_files: bool = False
    seed: int | None = None


@dataclass
class Car:
    """The EV plugged in: it draws what its battery and charger allow, less as it fills up."""

    battery_wh: int
    max_power_w: int
    soc: float  # percent
    target_soc: float

    @classmethod
    def arriving(cls, rng: random.Random) -> "Car":
        return cls(
            battery_wh=rng.choice([40_000, 52_000, 64_000, 77_000, 100_000]),
            max_power_w=rng.choice([7_400, 11_000, 11_000, 22_000]),
            soc=round(rng.uniform(10, 60), 1),
            target_soc=rng.choice([80.0, 90.0, 100.0]),
        )

    def power_w(self) -> float:
        """Constant power up to 80 %, then tapering towards full (the constant-voltage phase)."""
        if self.soc >= self.target_soc:
            return 0.0
        if self.soc < 80:
            return float(self.max_power_w)
        return self.max_power_w * max(0.05, (100 - self.soc) / 20)

    def charge(self, energy_wh: float) -> None:
        self.soc = min(100.0, self.soc + energy_wh / self.battery_wh * 100)


@dataclass
class Connector:
    connector_id: int
    energy_wh: float  # the meter's register, never going down
    status: str = "Available"
    error_code: str = "NoError"
    operative: bool = True
    inoperative_after_session: bool = False
    car: Car | None = None
    power_w: float = 0.0
    transaction_id: int | None = None
    id_tag: str | None = None
    started_at: float | None = None  # monotonic
    meter_start: int = 0
    reservation: dict | None = None  # {"id", "id_tag", "expires_at"}
    session_task: asyncio.Task | None = None
    stop_reason: str | None = None  # set to end the session
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def busy(self) -> bool:
        return self.session_task is not None and not self.session_task.done()


@dataclass
class Stats:
    """What a station did, for the summary of a run."""

    boots: int = 0
    calls_sent: int = 0
    calls_failed: int = 0
    commands_answered: int = 0
    sessions_started: int = 0
    sessions_refused: int = 0
    sessions_completed: int = 0
    energy_wh: int = 0

    def add(self, other: "Stats") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


# Configuration keys: name -> (value, read-only). AuthorizationKey is write-only (never reported).
CONFIGURATION = {
    "AuthorizeRemoteTxRequests": ("false", False),
    "ChargeProfileMaxStackLevel": ("10", True),
    "ChargingScheduleAllowedChargingRateUnit": ("Current,Power", True),
    "ChargingScheduleMaxPeriods": ("24", True),
    "ClockAlignedDataInterval": ("0", False),
    "ConnectionTimeOut": ("60", False),
    "HeartbeatInterval": ("300", False),
    "LocalAuthListEnabled": ("true", False),
    "LocalAuthListMaxLength": ("1000", True),
    "LocalAuthorizeOffline": ("true", False),
    "LocalPreAuthorize": ("false", False),
    "MaxChargingProfilesInstalled": ("10", True),
    "MeterValueSampleInterval": ("10", False),
    "MeterValuesSampledData": ("Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC", False),
    "NumberOfConnectors": ("1", True),
    "ReserveConnectorZeroSupported": ("false", True),
    "SendLocalListMaxLength": ("1000", True),
    "StopTransactionOnInvalidId": ("true", False),
    "SupportedFeatureProfiles": (
        "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger", True
    ),
}
INTEGER_KEYS = {"ClockAlignedDataInterval", "ConnectionTimeOut", "HeartbeatInterval", "MeterValueSampleInterval"}
BOOLEAN_KEYS = {
    "AuthorizeRemoteTxRequests", "LocalAuthListEnabled", "LocalAuthorizeOffline", "LocalPreAuthorize",
    "StopTransactionOnInvalidId",
}
TRIGGERABLE = {
    "BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat", "MeterValues",
    "StatusNotification",
}


class SimulatedStation(ChargePoint):
    """One simulated 1.6J charge point. ``await station.run(stop_event)`` keeps it connected until stopped."""

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
        self.configuration = {key: value for key, (value, _) in CONFIGURATION.items()}
        self.configuration["NumberOfConnectors"] = str(self.config.connectors)
        self.configuration["MeterValueSampleInterval"] = f"{self.config.meter_interval:g}"
        self.local_list: dict[str, dict] = {}
        self.local_list_version = 0
        self.charging_profiles: dict[int, dict] = {}  # chargingProfileId -> {"connector_id", **profile}
        self.registration_status: str | None = None
        self.firmware_status = "Idle"
        self.diagnostics_status = "Idle"
        self.downloaded_firmware: bytes | None = None
        self.stats = Stats()
        self.connected = asyncio.Event()
        self.booted = asyncio.Event()
        self._websocket = None
        self._reboot_reason: str | None = None
        self._remote_start: tuple[int, str] | None = None
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
                subprotocols=["ocpp1.6"],
                additional_headers=self._auth_header(),
                open_timeout=10,
            ) as websocket:
                connected = True
                await self._serve(websocket, stop)
        except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed) as error:
            logger.warning("simulated station disconnected", extra={"station_id": self.id, "error": str(error)})
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
            await self._boot(reader)
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

    async def _boot(self, reader: asyncio.Task) -> None:
        while True:
            response = await self._call(
                call.BootNotification(
                    charge_point_vendor=self.config.vendor,
                    charge_point_model=self.config.model,
                    charge_point_serial_number=f"SN-{self.id}",
                    firmware_version=self.firmware_version,
                    meter_type="Simulated MID meter",
                )
            )
            if response is None:
                raise ConnectionError("no answer to BootNotification")
            self.registration_status = response.status
            if response.status == "Accepted":
                if self.config.heartbeat_interval is None and response.interval > 0:
                    self.configuration["HeartbeatInterval"] = str(response.interval)
                break
            # Pending or Rejected: try again after the interval the CSMS asked for (it may send commands meanwhile).
            await asyncio.sleep(response.interval or 10)
        self.stats.boots += 1
        self.booted.set()
        logger.info("simulated station booted", extra={"station_id": self.id})
        if self.firmware_status == "Installing":
            await self._firmware_status("Installed")
        await self._status(0)
        for connector in self.connectors.values():
            await self._status(connector.connector_id)

    async def _heartbeats(self) -> None:
        while True:
            interval = self.config.heartbeat_interval or int(self.configuration["HeartbeatInterval"]) or 300
            await asyncio.sleep(interval)
            await self._call(call.Heartbeat())

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

    async def _call(self, payload):
        """Send a CALL; transaction messages wait for the connection and are retried until answered.

        A CALL in flight when the connection drops is abandoned at once: the library holds its one-call
        lock until the answer or its timeout, and the next connection's BootNotification needs that lock.
        """
        while True:
            if isinstance(payload, TRANSACTION_MESSAGES):
                await self.connected.wait()
            elif not self.connected.is_set():
                return None
            try:
                self.stats.calls_sent += 1
                return await self._call_while_connected(payload)
            except (websockets.ConnectionClosed, TimeoutError) as error:
                self.stats.calls_failed += 1
                if not isinstance(payload, TRANSACTION_MESSAGES):
                    logger.warning("call failed", extra={"station_id": self.id, "error": str(error)})
                    return None
                await asyncio.sleep(self.config.reconnect_delay)

    async def _call_while_connected(self, payload):
        websocket = self._websocket
        answer = asyncio.ensure_future(self.call(payload))
        closed = asyncio.ensure_future(websocket.wait_closed())
        try:
            done, _ = await asyncio.wait({answer, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            if not answer.done():
                answer.cancel()
        if answer not in done:
            raise websockets.ConnectionClosed(None, None)
        return answer.result()

    async def _status(self, connector_id: int, status: str | None = None) -> None:
        if connector_id == 0:
            status, error_code = ("Available" if self.booted.is_set() else "Unavailable"), "NoError"
        else:
            connector = self.connectors[connector_id]
            if status is not None:
                connector.status = status
            status, error_code = connector.status, connector.error_code
        await self._call(
            call.StatusNotification(
                connector_id=connector_id, error_code=error_code, status=status, timestamp=now_iso()
            )
        )

    # Sessions

    async def _drivers(self, stop: asyncio.Event) -> None:
        """Drivers arriving at free connectors with one of the configured tags."""
        while not stop.is_set():
            await asyncio.sleep(self.rng.uniform(*self.config.idle_seconds))
            free = [
                c for c in self.connectors.values()
                if not c.busy and c.operative and c.status == "Available" and c.reservation is None
            ]
            drivers = [tag for tag in self.config.id_tags if tag.upper() not in self.tags_in_use]
            if free and drivers and self.booted.is_set():
                self.start_session(self.rng.choice(free).connector_id, self.rng.choice(drivers))

    def start_session(self, connector_id: int, id_tag: str, *, remote: bool = False) -> asyncio.Task:
        connector = self.connectors[connector_id]
        connector.stop_reason = None
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
        await self._status(connector.connector_id, "Preparing")
        if not remote or self.configuration["AuthorizeRemoteTxRequests"] == "true":
            answer = await self._call(call.Authorize(id_tag=id_tag))
            if answer is None or answer.id_tag_info["status"] != "Accepted":
                self.stats.sessions_refused += 1
                await self._status(connector.connector_id, "Available")
                return
        connector.car = Car.arriving(self.rng)
        connector.id_tag = id_tag
        connector.meter_start = int(connector.energy_wh)
        reservation_id = None
        if connector.reservation and connector.reservation["id_tag"].upper() == id_tag.upper():
            reservation_id = connector.reservation["id"]
            connector.reservation = None
        started = await self._call(
            call.StartTransaction(
                connector_id=connector.connector_id, id_tag=id_tag, meter_start=connector.meter_start,
                timestamp=now_iso(), reservation_id=reservation_id,
            )
        )
        if started is None:  # a CALLERROR: the CSMS would not take the session
            self.stats.sessions_refused += 1
            connector.car = connector.id_tag = None
            await self._status(connector.connector_id, "Available")
            return
        connector.transaction_id = started.transaction_id
        connector.started_at = time.monotonic()
        self.stats.sessions_started += 1
        begin = self._sample(connector, "Transaction.Begin")
        stop_reason = None
        if started.id_tag_info["status"] != "Accepted" and self.configuration["StopTransactionOnInvalidId"] == "true":
            stop_reason = "DeAuthorized"
        else:
            await self._status(connector.connector_id, "Charging")
            stop_reason = await self._charge(connector)
        await self._finish_session(connector, stop_reason, begin)

    async def _charge(self, connector: Connector) -> str:
        """Meter the session until someone ends it; returns the stop reason."""
        length = self.rng.uniform(*self.config.session_seconds) if self.config.autostart else None
        last = time.monotonic()
        self._advance(connector, 0)
        while True:
            interval = max(0.05, float(self.configuration["MeterValueSampleInterval"]) or self.config.meter_interval)
            connector.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(connector.wake.wait(), interval)
            now = time.monotonic()
            self._advance(connector, now - last)
            last = now
            if connector.stop_reason:
                return connector.stop_reason
            if length is not None and now - connector.started_at >= length:
                return "EVDisconnected"
            if connector.car.power_w() == 0 and connector.status == "Charging":
                await self._status(connector.connector_id, "SuspendedEV")
            await self._meter_values(connector)

    def _advance(self, connector: Connector, seconds: float) -> None:
        """Energy flows at the power of the last interval; then the power for the next one is set."""
        energy = connector.power_w * seconds / 3600
        connector.energy_wh += energy
        connector.car.charge(energy)
        power = min(connector.car.power_w(), self.config.max_power_w, self.power_limit_w(connector.connector_id))
        connector.power_w = 0.0 if power <= 0 else power * self.rng.uniform(0.98, 1.0)

    async def _finish_session(self, connector: Connector, reason: str, begin: dict) -> None:
        meter_stop = int(connector.energy_wh)
        await self._call(
            call.StopTransaction(
                meter_stop=meter_stop, timestamp=now_iso(), transaction_id=connector.transaction_id, reason=reason,
                id_tag=connector.id_tag, transaction_data=[begin, self._sample(connector, "Transaction.End")],
            )
        )
        self.stats.sessions_completed += 1
        self.stats.energy_wh += meter_stop - connector.meter_start
        logger.info(
            "simulated session ended",
            extra={"station_id": self.id, "transaction_id": connector.transaction_id, "reason": reason},
        )
        connector.transaction_id = connector.car = connector.id_tag = connector.started_at = None
        connector.power_w = 0.0
        for pid, profile in list(self.charging_profiles.items()):
            if profile["charging_profile_purpose"] == "TxProfile" and profile["connector_id"] == connector.connector_id:
                del self.charging_profiles[pid]  # a TxProfile ends with its transaction
        await self._status(connector.connector_id, "Finishing")
        if connector.inoperative_after_session:
            connector.operative, connector.inoperative_after_session = False, False
        await self._status(connector.connector_id, "Available" if connector.operative else "Unavailable")

    def _sample(self, connector: Connector, context: str) -> dict:
        """One meterValue entry in the station's wire format (snake_case keys, as the library expects)."""
        measurands = set(self.configuration["MeterValuesSampledData"].split(","))
        phases = self.config.phases
        current = connector.power_w / (self.config.voltage * phases)

        def value(measurand, number, unit, **extra):
            return {"value": number, "context": context, "measurand": measurand, "unit": unit, **extra}

        values = [
            value("Energy.Active.Import.Register", str(int(connector.energy_wh)), "Wh", location="Outlet"),
            value("Power.Active.Import", str(int(connector.power_w)), "W", location="Outlet"),
        ]
        for phase in range(1, phases + 1):
            values.append(value("Current.Import", f"{current:.1f}", "A", phase=f"L{phase}", location="Outlet"))
            values.append(value("Voltage", f"{self.config.voltage:.1f}", "V", phase=f"L{phase}-N", location="Outlet"))
        if connector.car is not None:
            values.append(value("SoC", f"{connector.car.soc:.0f}", "Percent", location="EV"))
        return {"timestamp": now_iso(), "sampled_value": [v for v in values if v["measurand"] in measurands]}

    async def _meter_values(self, connector: Connector) -> None:
        await self._call(
            call.MeterValues(
                connector_id=connector.connector_id,
                transaction_id=connector.transaction_id,
                meter_value=[self._sample(connector, "Sample.Periodic")],
            )
        )

    # Smart charging

    def power_limit_w(self, connector_id: int) -> float:
        """The limit the installed charging profiles put on a connector now (the station's maximum without one)."""
        limit = float(self.config.max_power_w)
        for purposes, connector_ids in (
            (("ChargePointMaxProfile",), (0,)),
            (("TxProfile", "TxDefaultProfile"), (0, connector_id)),
        ):
            candidates = [
                p for p in self.charging_profiles.values()
                if p["charging_profile_purpose"] in purposes and p["connector_id"] in connector_ids
            ]
            if candidates:
                # A TxProfile overrides a TxDefaultProfile; within a purpose the highest stack level wins.
                best = max(candidates, key=lambda p: (p["charging_profile_purpose"] == "TxProfile", p["stack_level"]))
                period_limit = self._period_limit_w(best, connector_id)
                if period_limit is not None:
                    limit = min(limit, period_limit)
        return limit

    def _period_limit_w(self, profile: dict, connector_id: int) -> float | None:
        schedule = profile["charging_schedule"]
        elapsed = self._schedule_elapsed(profile, connector_id)
        if elapsed is None or (schedule.get("duration") and elapsed >= schedule["duration"]):
            return None
        periods = [p for p in schedule["charging_schedule_period"] if p["start_period"] <= elapsed]
        if not periods:
            return None
        period = max(periods, key=lambda p: p["start_period"])
        return self._to_watts(float(period["limit"]), schedule["charging_rate_unit"], period.get("number_phases"))

    def _schedule_elapsed(self, profile: dict, connector_id: int) -> float | None:
        kind = profile["charging_profile_kind"]
        if kind == "Relative":
            connector = self.connectors.get(connector_id)
            return 0.0 if connector is None or connector.started_at is None else time.monotonic() - connector.started_at
        start = profile["charging_schedule"].get("start_schedule")
        if not start:
            return 0.0
        elapsed = (datetime.now(UTC) - parse_time(start)).total_seconds()
        if kind == "Recurring":
            elapsed %= 86_400 if profile.get("recurrency_kind", "Daily") == "Daily" else 7 * 86_400
        return elapsed if elapsed >= 0 else None

    def _to_watts(self, limit: float, unit: str, phases: int | None) -> float:
        return limit if unit == "W" else limit * self.config.voltage * (phases or self.config.phases)

    # Answers to the CSMS

    def _answered(self):
        self.stats.commands_answered += 1

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, reservation_id, **_):
        self._answered()
        for connector in self.connectors.values():
            if connector.reservation and connector.reservation["id"] == reservation_id:
                connector.reservation = None
                self._spawn(self._status(connector.connector_id, "Available"))
                return call_result.CancelReservation(status="Accepted")
        return call_result.CancelReservation(status="Rejected")

    @on(Action.change_availability)
    async def on_change_availability(self, connector_id, type, **_):
        self._answered()
        targets = list(self.connectors.values()) if connector_id == 0 else [self.connectors.get(connector_id)]
        if None in targets:
            return call_result.ChangeAvailability(status="Rejected")
        operative = type == "Operative"
        scheduled = False
        for connector in targets:
            if connector.busy and not operative:
                connector.inoperative_after_session = scheduled = True
                continue
            connector.operative = operative
            connector.inoperative_after_session = False
            if not connector.busy:
                self._spawn(self._status(connector.connector_id, "Available" if operative else "Unavailable"))
        return call_result.ChangeAvailability(status="Scheduled" if scheduled else "Accepted")

    @on(Action.change_configuration)
    async def on_change_configuration(self, key, value, **_):
        self._answered()
        if key == "AuthorizationKey":
            return call_result.ChangeConfiguration(status="Accepted")
        if key not in self.configuration:
            return call_result.ChangeConfiguration(status="NotSupported")
        if CONFIGURATION[key][1]:
            return call_result.ChangeConfiguration(status="Rejected")
        if (key in INTEGER_KEYS and not (value.isdigit())) or (key in BOOLEAN_KEYS and value not in ("true", "false")):
            return call_result.ChangeConfiguration(status="Rejected")
        self.configuration[key] = value
        return call_result.ChangeConfiguration(status="Accepted")

    @after(Action.change_configuration)
    async def after_change_configuration(self, key, value, **_):
        if key == "AuthorizationKey":
            # A new Basic-auth password, hex-encoded as the 1.6 security whitepaper asks: reconnect with it.
            self.password = decode_authorization_key(value)
            self.reboot("Reboot")

    @on(Action.clear_cache)
    async def on_clear_cache(self, **_):
        self._answered()
        return call_result.ClearCache(status="Accepted")

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(self, id=None, connector_id=None, charging_profile_purpose=None,
                                        stack_level=None, **_):
        self._answered()
        cleared = [
            pid for pid, p in self.charging_profiles.items()
            if (id is None or pid == id)
            and (connector_id is None or p["connector_id"] == connector_id)
            and (charging_profile_purpose is None or p["charging_profile_purpose"] == charging_profile_purpose)
            and (stack_level is None or p["stack_level"] == stack_level)
        ]
        for pid in cleared:
            del self.charging_profiles[pid]
        return call_result.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id, message_id=None, data=None, **_):
        self._answered()
        if vendor_id != VENDOR_ID:
            return call_result.DataTransfer(status="UnknownVendorId")
        return call_result.DataTransfer(status="Accepted", data=data)

    @on(Action.get_composite_schedule)
    async def on_get_composite_schedule(self, connector_id, duration, charging_rate_unit=None, **_):
        self._answered()
        if connector_id != 0 and connector_id not in self.connectors:
            return call_result.GetCompositeSchedule(status="Rejected")
        unit = charging_rate_unit or "W"
        limit_w = self.power_limit_w(connector_id or 1)
        limit = limit_w if unit == "W" else limit_w / (self.config.voltage * self.config.phases)
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=now_iso(),
            charging_schedule={
                "duration": duration,
                "charging_rate_unit": unit,
                "charging_schedule_period": [{"start_period": 0, "limit": round(limit, 1)}],
            },
        )

    @on(Action.get_configuration)
    async def on_get_configuration(self, key=None, **_):
        self._answered()
        wanted = key or list(self.configuration)
        known = [k for k in wanted if k in self.configuration]
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": k, "readonly": CONFIGURATION[k][1], "value": self.configuration[k]} for k in known
            ],
            unknown_key=[k for k in wanted if k not in self.configuration] or None,
        )

    @on(Action.get_diagnostics)
    async def on_get_diagnostics(self, location, **_):
        self._answered()
        return call_result.GetDiagnostics(file_name=f"diagnostics-{self.id}-{int(time.time())}.log")

    @after(Action.get_diagnostics)
    async def after_get_diagnostics(self, location, **_):
        await asyncio.sleep(self.config.step_delay)
        await self._diagnostics_status("Uploading")
        uploaded = True
        if self._transfers(location):
            name = f"diagnostics-{self.id}-{int(time.time())}.log"
            uploaded = await asyncio.to_thread(self._upload, location, name, self.diagnostics_log().encode())
        await asyncio.sleep(self.config.step_delay)
        await self._diagnostics_status("Uploaded" if uploaded else "UploadFailed")

    def _transfers(self, location: str) -> bool:
        return self.config.transfer_files and location.startswith(("http://", "https://"))

    def _upload(self, location: str, name: str, content: bytes) -> bool:
        """POST the file as multipart/form-data, as stations with HTTP diagnostics upload do."""
        try:
            response = requests.post(location, files={"file": (name, content, "text/plain")}, timeout=30)
        except requests.RequestException as error:
            logger.warning("diagnostics upload failed", extra={"station_id": self.id, "error": str(error)})
            return False
        if not response.ok:
            logger.warning("diagnostics upload refused", extra={"station_id": self.id, "status": response.status_code})
        return response.ok

    def _download(self, location: str) -> bytes | None:
        try:
            response = requests.get(location, timeout=60)
        except requests.RequestException as error:
            logger.warning("firmware download failed", extra={"station_id": self.id, "error": str(error)})
            return None
        if not response.ok or not response.content:
            logger.warning("firmware download refused", extra={"station_id": self.id, "status": response.status_code})
            return None
        return response.content

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

    async def _diagnostics_status(self, status: str) -> None:
        self.diagnostics_status = status
        await self._call(call.DiagnosticsStatusNotification(status=status))

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self, **_):
        self._answered()
        enabled = self.configuration["LocalAuthListEnabled"] == "true"
        return call_result.GetLocalListVersion(list_version=self.local_list_version if enabled else -1)

    @on(Action.remote_start_transaction)
    async def on_remote_start_transaction(self, id_tag, connector_id=None, charging_profile=None, **_):
        self._answered()
        connector = self._connector_for_remote_start(connector_id, id_tag)
        if connector is None or (charging_profile and charging_profile["charging_profile_purpose"] != "TxProfile"):
            return call_result.RemoteStartTransaction(status="Rejected")
        if charging_profile:
            self._install_profile(connector.connector_id, charging_profile)
        self._remote_start = (connector.connector_id, id_tag)
        return call_result.RemoteStartTransaction(status="Accepted")

    @after(Action.remote_start_transaction)
    async def after_remote_start_transaction(self, **_):
        if self._remote_start is not None:
            connector_id, id_tag = self._remote_start
            self._remote_start = None
            self.start_session(connector_id, id_tag, remote=True)

    def _connector_for_remote_start(self, connector_id: int | None, id_tag: str) -> Connector | None:
        def free(c: Connector) -> bool:
            reserved_for_other = c.reservation is not None and c.reservation["id_tag"].upper() != id_tag.upper()
            return c.operative and not c.busy and c.status in ("Available", "Preparing", "Reserved") and not (
                reserved_for_other
            )

        if connector_id is not None:
            connector = self.connectors.get(connector_id)
            return connector if connector is not None and free(connector) else None
        return next((c for c in self.connectors.values() if free(c)), None)

    @on(Action.remote_stop_transaction)
    async def on_remote_stop_transaction(self, transaction_id, **_):
        self._answered()
        for connector in self.connectors.values():
            if connector.transaction_id == transaction_id and connector.busy:
                self.stop_session(connector.connector_id, "Remote")
                return call_result.RemoteStopTransaction(status="Accepted")
        return call_result.RemoteStopTransaction(status="Rejected")

    @on(Action.reserve_now)
    async def on_reserve_now(self, connector_id, expiry_date, id_tag, reservation_id, parent_id_tag=None, **_):
        self._answered()
        connector = self.connectors.get(connector_id)
        if connector is None:
            return call_result.ReserveNow(status="Rejected")  # 0 too: ReserveConnectorZeroSupported is false
        if not connector.operative:
            return call_result.ReserveNow(status="Unavailable")
        if connector.error_code != "NoError":
            return call_result.ReserveNow(status="Faulted")
        if connector.busy or (connector.reservation and connector.reservation["id"] != reservation_id):
            return call_result.ReserveNow(status="Occupied")
        connector.reservation = {"id": reservation_id, "id_tag": id_tag, "expires_at": parse_time(expiry_date)}
        self._spawn(self._status(connector_id, "Reserved"))
        self._spawn(self._expire_reservation(connector, reservation_id))
        return call_result.ReserveNow(status="Accepted")

    async def _expire_reservation(self, connector: Connector, reservation_id: int) -> None:
        seconds = (connector.reservation["expires_at"] - datetime.now(UTC)).total_seconds()
        await asyncio.sleep(max(0.0, seconds))
        if connector.reservation and connector.reservation["id"] == reservation_id:
            connector.reservation = None
            await self._status(connector.connector_id, "Available")

    @on(Action.reset)
    async def on_reset(self, type, **_):
        self._answered()
        return call_result.Reset(status="Accepted")

    @after(Action.reset)
    async def after_reset(self, type, **_):
        self.reboot("HardReset" if type == "Hard" else "SoftReset")

    @on(Action.send_local_list)
    async def on_send_local_list(self, list_version, update_type, local_authorization_list=None, **_):
        self._answered()
        if self.configuration["LocalAuthListEnabled"] != "true":
            return call_result.SendLocalList(status="NotSupported")
        entries = local_authorization_list or []
        if update_type == "Differential" and list_version <= self.local_list_version:
            return call_result.SendLocalList(status="VersionMismatch")
        if update_type == "Full":
            self.local_list = {}
        for entry in entries:
            if entry.get("id_tag_info"):
                self.local_list[entry["id_tag"].upper()] = entry["id_tag_info"]
            else:
                self.local_list.pop(entry["id_tag"].upper(), None)
        self.local_list_version = list_version
        return call_result.SendLocalList(status="Accepted")

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, connector_id, cs_charging_profiles, **_):
        self._answered()
        profile = cs_charging_profiles
        purpose = profile["charging_profile_purpose"]
        if connector_id != 0 and connector_id not in self.connectors:
            return call_result.SetChargingProfile(status="Rejected")
        if purpose == "ChargePointMaxProfile" and connector_id != 0:
            return call_result.SetChargingProfile(status="Rejected")
        if purpose == "TxProfile":
            connector = self.connectors.get(connector_id)
            if connector is None or connector.transaction_id is None or (
                profile.get("transaction_id") not in (None, connector.transaction_id)
            ):
                return call_result.SetChargingProfile(status="Rejected")
        self._install_profile(connector_id, profile)
        return call_result.SetChargingProfile(status="Accepted")

    def _install_profile(self, connector_id: int, profile: dict) -> None:
        # The library hands over limits as Decimal (see its schema validation); the simulator computes in floats.
        schedule = profile["charging_schedule"]
        periods = [{**p, "limit": float(p["limit"])} for p in schedule["charging_schedule_period"]]
        schedule = {**schedule, "charging_schedule_period": periods}
        stored = {**profile, "connector_id": connector_id, "charging_schedule": schedule}
        # A profile with the same id, or the same purpose and stack level on the connector, replaces the old one.
        slot = (connector_id, profile["charging_profile_purpose"], profile["stack_level"])
        for pid, p in list(self.charging_profiles.items()):
            if pid == profile["charging_profile_id"] or (
                (p["connector_id"], p["charging_profile_purpose"], p["stack_level"]) == slot
            ):
                del self.charging_profiles[pid]
        self.charging_profiles[profile["charging_profile_id"]] = stored

    @on(Action.trigger_message)
    async def on_trigger_message(self, requested_message, connector_id=None, **_):
        self._answered()
        if requested_message not in TRIGGERABLE:
            return call_result.TriggerMessage(status="NotImplemented")
        if connector_id is not None and connector_id not in self.connectors:
            return call_result.TriggerMessage(status="Rejected")
        return call_result.TriggerMessage(status="Accepted")

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message, connector_id=None, **_):
        if requested_message not in TRIGGERABLE:
            return
        if requested_message == "BootNotification":
            response = await self._call(
                call.BootNotification(
                    charge_point_vendor=self.config.vendor, charge_point_model=self.config.model,
                    charge_point_serial_number=f"SN-{self.id}", firmware_version=self.firmware_version,
                )
            )
            if response is not None:
                self.registration_status = response.status
        elif requested_message == "Heartbeat":
            await self._call(call.Heartbeat())
        elif requested_message == "DiagnosticsStatusNotification":
            await self._call(call.DiagnosticsStatusNotification(status=self.diagnostics_status))
        elif requested_message == "FirmwareStatusNotification":
            await self._call(call.FirmwareStatusNotification(status=self.firmware_status))
        else:
            targets = [connector_id] if connector_id is not None else list(self.connectors)
            for n in targets:
                if requested_message == "StatusNotification":
                    await self._status(n)
                elif self.connectors[n].transaction_id is not None:
                    await self._meter_values(self.connectors[n])

    @on(Action.unlock_connector)
    async def on_unlock_connector(self, connector_id, **_):
        self._answered()
        if connector_id not in self.connectors:
            return call_result.UnlockConnector(status="NotSupported")
        # The session ends (StopTransaction) after this answer: a handler must not wait for the CSMS's answers.
        self.stop_session(connector_id, "UnlockCommand")
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.update_firmware)
    async def on_update_firmware(self, location, retrieve_date, **_):
        self._answered()
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    async def after_update_firmware(self, location, retrieve_date, **_):
        wait = (parse_time(retrieve_date) - datetime.now(UTC)).total_seconds()
        await asyncio.sleep(min(max(0.0, wait), 3600))
        await self._firmware_status("Downloading")
        if self._transfers(location):
            image = await asyncio.to_thread(self._download, location)
            if image is None:
                await self._firmware_status("DownloadFailed")
                return
            self.downloaded_firmware = image
        await asyncio.sleep(self.config.step_delay)
        for status in ("Downloaded", "Installing"):
            await self._firmware_status(status)
            await asyncio.sleep(self.config.step_delay)
        # Installs once no one is charging, then boots into the new version (and reports Installed).
        while sessions := [c.session_task for c in self.connectors.values() if c.busy]:
            await asyncio.wait(sessions)
        # The version is the file's name without a firmware file extension (…/fw-2.0.0.bin → fw-2.0.0).
        name = location.rstrip("/").rsplit("/", 1)[-1]
        for extension in FIRMWARE_EXTENSIONS:
            name = name.removesuffix(extension)
        self.firmware_version = name[:50] or self.firmware_version
        self.reboot("Reboot")

    async def _firmware_status(self, status: str) -> None:
        self.firmware_status = status
        await self._call(call.FirmwareStatusNotification(status=status))


class Simulation:
    """A fleet of simulated stations run together: ``await Simulation(ids, config).run(duration)``."""

    def __init__(self, station_ids: list[str], config: SimulatorConfig | None = None):
        self.config = config or SimulatorConfig()
        rng = seeded_random(self.config.seed)
        tags_in_use: set[str] = set()
        self.stations = [
            SimulatedStation(ocpp_id, self.config, seeded_random(rng.random()), tags_in_use) for ocpp_id in station_ids
        ]
        self.stop_event = asyncio.Event()

    @staticmethod
    def station_ids(prefix: str, count: int) -> list[str]:
        return [f"{prefix}{n:03d}" for n in range(1, count + 1)]

    async def run(self, duration: float | None = None) -> Stats:
        """Run until ``duration`` seconds have passed (or ``stop()``); sessions in progress end cleanly."""
        # Spread the connections over up to a few seconds, as a real fleet's would be after a restart.
        spread = min(5.0, len(self.stations) * 0.01)
        tasks = [
            asyncio.create_task(self._run_one(station, spread * i / len(self.stations)))
            for i, station in enumerate(self.stations)
        ]
        try:
            if duration is None:
                await self.stop_event.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_event.wait(), duration)
        finally:
            self.stop_event.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        return self.stats()

    async def _run_one(self, station: SimulatedStation, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            await station.run(self.stop_event)
        except Exception:
            logger.exception("simulated station failed", extra={"station_id": station.id})
            raise

    def stop(self) -> None:
        self.stop_event.set()

    async def wait_booted(self, within: float = 30.0) -> None:
        await asyncio.wait_for(asyncio.gather(*(s.booted.wait() for s in self.stations)), within)

    @contextlib.asynccontextmanager
    async def running(self, boot_within: float = 10.0):
        """The stations connected and booted for the duration of the block (for tests and benchmarks)."""
        task = asyncio.create_task(self.run())
        try:
            await self.wait_booted(within=boot_within)
            yield self
        finally:
            self.stop()
            await task

    def stats(self) -> Stats:
        total = Stats()
        for station in self.stations:
            total.add(station.stats)
        return total


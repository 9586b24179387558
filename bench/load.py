"""OCPP load generator: thousands of stations from several client processes against Voltgrid and against the floor.

The floor is the fastest bare server we know: `websockets` + the `ocpp` library's ChargePoint on uvloop, no
database. Each run alternates floor and Voltgrid under the same load (on a shared machine absolute figures
drift; the ratios hold), and prints for each: connections held, msgs/s, latency p50/p95/p99, server CPU and
RSS, messages lost, and Voltgrid's ratio to the floor. Voltgrid runs as in production: daphne with the
`runcms` options (its listen backlog among them), at the production log level (LOG_LEVEL unset: INFO).

Every run starts with a reconnect storm: all stations connect and send BootNotification and a
StatusNotification at once (the time until all are booted is printed). Then, by --mode:

- storm: nothing more (the storm's figures alone: its time and the server CPU it took).

- realistic: each station's day, time-compressed by --compress: Heartbeat every 300 s, StatusNotification on
  changes, and a third of the connectors charging at any time (sessions of 40 min, 80 min idle between them,
  both drawn at random) with MeterValues every 60 s (2.0.1: TransactionEvent Updated), Authorize/start/stop
  at each session's ends. What matters here is latency and cost per connection, not throughput.
- burst: a closed loop, each station one call in flight, half Heartbeat half a meter reading (1.6 MeterValues;
  2.0.1 TransactionEvent Updated in a transaction started before the window): the throughput ceiling.

Only calls sent inside the measured window count; a call not answered (no reply within 30 s, or its connection
closed) is lost. --rate paces burst mode (each station N calls/s) for latency under a given load.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/voltgrid_bench REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/load.py --mode burst --stations 1000 --seconds 15
    ... bench/load.py --mode realistic --stations 10000 --seconds 120 --compress 10 --processes 2

The database named by DATABASE_URL is created and migrated when missing; stations BENCH-00000... (password
``PASSWORD``) with a card each (CARD-BENCH-00000..., as one card charges at one station at a time) are
registered in it. The file-descriptor limit is raised to the hard
limit (10,000 stations need 10,000 on each side). Options: --only floor|voltgrid, --ocpp 1.6|2.0.1 (default
both, each against its own floor), --rounds to alternate several times, --server-cmd for another ASGI server.
"""

import argparse
import asyncio
import base64
import gc
import itertools
import json
import multiprocessing
import os
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchdb import create_database_if_missing

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-station-password-0001"
SUBPROTOCOLS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
ANSWER_TIMEOUT = 30.0
# A station's reconnection back-off: the first wait, its random part, its cap (seconds).
RETRY_FIRST_S, RETRY_RANDOM_S, RETRY_MAX_S = 2.0, 10.0, 60.0
HEARTBEAT_S, METER_S, CHARGING_S, IDLE_S = 300.0, 60.0, 40 * 60.0, 80 * 60.0
VOLTGRID_CMD = (
    "{python} -m daphne -e tcp:port={port}:interface=127.0.0.1:backlog=4096 --websocket_connect_timeout 30 "
    "cms.asgi:application"
)

# The floor of each version: the `ocpp` library's ChargePoint answering the mix on uvloop, with no database.
FLOOR_SERVER = """
import asyncio, itertools, sys
from datetime import UTC, datetime
import uvloop, websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16, call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as ChargePoint201, call_result as result201
from ocpp.v201.enums import Action as Action201

NOW = lambda: datetime.now(UTC).isoformat()
TRANSACTIONS = itertools.count(1)
ACCEPTED = {"status": "Accepted"}

class Floor16(ChargePoint16):
    @on(Action16.boot_notification)
    def on_boot(self, **_):
        return result16.BootNotification(current_time=NOW(), interval=300, status="Accepted")
    @on(Action16.heartbeat)
    def on_heartbeat(self):
        return result16.Heartbeat(current_time=NOW())
    @on(Action16.status_notification)
    def on_status(self, **_):
        return result16.StatusNotification()
    @on(Action16.authorize)
    def on_authorize(self, **_):
        return result16.Authorize(id_tag_info=ACCEPTED)
    @on(Action16.start_transaction)
    def on_start(self, **_):
        return result16.StartTransaction(transaction_id=next(TRANSACTIONS), id_tag_info=ACCEPTED)
    @on(Action16.stop_transaction)
    def on_stop(self, **_):
        return result16.StopTransaction()
    @on(Action16.meter_values)
    def on_meter_values(self, **_):
        return result16.MeterValues()

class Floor201(ChargePoint201):
    @on(Action201.boot_notification)
    def on_boot(self, **_):
        return result201.BootNotification(current_time=NOW(), interval=300, status="Accepted")
    @on(Action201.heartbeat)
    def on_heartbeat(self):
        return result201.Heartbeat(current_time=NOW())
    @on(Action201.status_notification)
    def on_status(self, **_):
        return result201.StatusNotification()
    @on(Action201.transaction_event)
    def on_transaction_event(self, **_):
        return result201.TransactionEvent()

async def handler(ws):
    floor = Floor201 if ws.subprotocol == "ocpp2.0.1" else Floor16
    try:
        await floor(ws.request.path.rsplit("/", 1)[-1], ws).start()
    except websockets.ConnectionClosed:
        pass

async def main(port):
    async with websockets.serve(handler, "127.0.0.1", port, subprotocols=["ocpp2.0.1", "ocpp1.6"], backlog=4096):
        await asyncio.Future()

uvloop.run(main(int(sys.argv[1])))
"""


def card_of(ocpp_id: str) -> str:
    return f"CARD-{ocpp_id}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def sampled_values(version: str, energy_wh: int, power_w: int) -> list[dict]:
    """One meter reading: the register, the power and the car's state of charge, in each version's shape."""
    soc = random.randint(20, 80)
    if version == "1.6":
        return [
            {"value": str(energy_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": str(power_w), "measurand": "Power.Active.Import", "unit": "W"},
            {"value": str(soc), "measurand": "SoC", "unit": "Percent"},
        ]
    return [
        {"value": energy_wh, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}},
        {"value": power_w, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
        {"value": soc, "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}},
    ]


@dataclass
class Window:
    """The measured interval (wall-clock times, shared by the client processes of one machine)."""

    start: float = float("inf")
    stop: float = float("inf")

    def holds(self, moment: float) -> bool:
        return self.start <= moment < self.stop


# Sessions each client process starts at once before the window.
STARTS_AT_ONCE = 8


@dataclass
class ClientStats:
    """What one client process saw; merged by the parent."""

    latencies: list[float] = field(default_factory=list)
    by_action: dict[str, list[float]] = field(default_factory=dict)  # the same latencies, by the call's action
    answered: int = 0
    lost: int = 0
    errors: int = 0
    retries: int = 0
    booted: int = 0
    booted_at: float = 0.0
    dropped: int = 0
    held: int = 0
    failures: list[str] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)


def drops_described(dropped: list, window) -> list[str]:
    """Who closed the dropped connections and when: the server's close frame (its code and reason), or none (the
    TCP connection was lost, or the client's own timeout), with the seconds from the window's start."""
    groups: dict[str, list[float]] = {}
    for station in dropped:
        received = station.ws.protocol.close_rcvd
        how = f"server closed {received.code} {received.reason!r}" if received else "no close frame from the server"
        groups.setdefault(how, []).append((station.closed_at or time.time()) - window.start)
    return [
        f"dropped {len(at)}: {how}, {min(at):+.0f} to {max(at):+.0f} s from the window's start"
        for how, at in sorted(groups.items(), key=lambda item: -len(item[1]))
    ]


# The answers to the server's commands whose schema has no status (the rest are {"status": "Accepted"}).
ANSWERS = {"CostUpdated": {}}


class SimulatedStation:
    """A station that speaks raw OCPP-J frames (a few microseconds each, so one process carries thousands)."""

    def __init__(self, ocpp_id: str, version: str, stats: ClientStats, window: Window):
        self.ocpp_id, self.version, self.stats, self.window = ocpp_id, version, stats, window
        self.ws = None
        self.ids = itertools.count()
        self.pending: dict[str, tuple[asyncio.Future, float]] = {}
        self.energy = random.randint(0, 10_000_000)
        self.transaction_id: str | int | None = None
        self.seq_no = 0
        self.card = card_of(ocpp_id)
        self.gone = False  # the connection closed under it: the station stops
        self.closed_at: float | None = None  # when its reader saw the connection close
        self.tasks: set[asyncio.Task] = set()  # what it sends unasked (a report), held until sent

    async def connect(self, url: str, password: str | None) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake

        headers = {}
        if password:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{self.ocpp_id}:{password}".encode()).decode()
        backoff = RETRY_FIRST_S
        while True:
            try:
                self.ws = await connect(
                    f"{url}/{self.ocpp_id}",
                    subprotocols=[SUBPROTOCOLS[self.version]],
                    additional_headers=headers,
                    open_timeout=60,
                    ping_interval=None,  # the server pings (daphne every 20 s); stations answer
                    compression=None,
                    proxy=None,
                )
                break
            except (InvalidHandshake, OSError, TimeoutError) as error:
                # As a station does (OCPP 2.0.1's RetryBackOff...): try again after a back-off that doubles, with a
                # random part, so that a storm of retries does not come back all at once.
                self.stats.retries += 1
                if len(self.stats.failures) < 5:
                    self.stats.failures.append(f"{self.ocpp_id} handshake: {type(error).__name__} {error}")
                await asyncio.sleep(backoff + random.uniform(0, RETRY_RANDOM_S))
                backoff = min(backoff * 2, RETRY_MAX_S)
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for text in self.ws:
                frame = json.loads(text)
                if frame[0] == 2:  # a command from the server: accepted (a running cost: noted, its answer is empty)
                    await self.ws.send(json.dumps([3, frame[1], ANSWERS.get(frame[2], {"status": "Accepted"})]))
                    if frame[2] == "GetBaseReport":  # a 2.0.1 station's first accepted boot: it describes itself
                        task = asyncio.create_task(self.report(frame[3]["requestId"]))
                        self.tasks.add(task)
                        task.add_done_callback(self.tasks.discard)
                    continue
                waiting = self.pending.pop(frame[1], None)
                if waiting is not None and not waiting[0].done():
                    waiting[0].set_result(frame)
        except ConnectionClosed:
            pass
        self.closed_at = time.time()
        for future, _ in self.pending.values():
            if not future.done():
                future.set_exception(ConnectionError("connection closed"))

    async def report(self, request_id: int) -> None:
        """The NotifyReport of a GetBaseReport, as a real station sends it: its device model, here a small one. The
        server asks only a station whose model it does not know, so later runs' storms are reconnects, as in life."""
        variable = {
            "component": {"name": "ChargingStation"},
            "variable": {"name": "Model"},
            "variableAttribute": [{"type": "Actual", "value": "Bench", "mutability": "ReadOnly"}],
            "variableCharacteristics": {"dataType": "string", "supportsMonitoring": False},
        }
        report = {"requestId": request_id, "generatedAt": now_iso(), "seqNo": 0, "tbc": False}
        await self.call("NotifyReport", {**report, "reportData": [variable]})

    async def call(self, action: str, payload: dict) -> dict | None:
        """Send a CALL, wait for its answer; None when it is lost (counted if sent inside the window)."""
        message_id = f"{next(self.ids)}"
        future = asyncio.get_running_loop().create_future()
        sent_at, measured = time.monotonic(), self.window.holds(time.time())
        self.pending[message_id] = (future, sent_at)
        try:
            await self.ws.send(json.dumps([2, message_id, action, payload]))
            frame = await asyncio.wait_for(future, ANSWER_TIMEOUT)
        except Exception as error:  # a closed connection, a timeout: either way the call is lost
            self.pending.pop(message_id, None)
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: the reader may have failed it as the connection closed
            self.gone = self.ws.state.name != "OPEN"
            if measured:
                self.stats.lost += 1
                if len(self.stats.failures) < 5:
                    self.stats.failures.append(f"{self.ocpp_id} {action}: {type(error).__name__} {error}")
            return None
        if measured:
            latency = time.monotonic() - sent_at
            self.stats.latencies.append(latency)
            self.stats.by_action.setdefault(action, []).append(latency)
            self.stats.answered += 1
            if frame[0] != 3:
                self.stats.errors += 1
                if len(self.stats.failures) < 5:
                    self.stats.failures.append(f"{self.ocpp_id} {action}: {frame}")
        return frame[2] if frame[0] == 3 else None

    # The messages, per version ------------------------------------------------------------------------------

    async def boot(self) -> None:
        if self.version == "1.6":
            await self.call("BootNotification", {"chargePointVendor": "Voltgrid", "chargePointModel": "Bench"})
        else:
            station = {"model": "Bench", "vendorName": "Voltgrid"}
            await self.call("BootNotification", {"chargingStation": station, "reason": "PowerUp"})
        await self.status("Available")

    async def status(self, status: str) -> None:
        if self.version == "1.6":
            payload = {"connectorId": 1, "errorCode": "NoError", "status": status, "timestamp": now_iso()}
        else:
            status = {"Preparing": "Occupied", "Charging": "Occupied", "Finishing": "Occupied"}.get(status, status)
            payload = {"timestamp": now_iso(), "connectorStatus": status, "evseId": 1, "connectorId": 1}
        await self.call("StatusNotification", payload)

    async def heartbeat(self) -> None:
        await self.call("Heartbeat", {})

    async def start_transaction(self) -> None:
        if self.version == "1.6":
            await self.status("Preparing")
            await self.call("Authorize", {"idTag": self.card})
            started = await self.call(
                "StartTransaction",
                {"connectorId": 1, "idTag": self.card, "meterStart": self.energy, "timestamp": now_iso()},
            )
            self.transaction_id = started.get("transactionId") if started else None
            await self.status("Charging")
        else:
            await self.status("Occupied")
            self.transaction_id, self.seq_no = f"{self.ocpp_id}-{time.time_ns():x}", 0
            await self.transaction_event("Started", "Authorized")

    async def meter_values(self, seconds: float) -> None:
        power = random.randint(6000, 11000)
        self.energy += int(power * seconds / 3600) or 1
        if self.version == "1.6":
            payload = {"connectorId": 1, "meterValue": [{"timestamp": now_iso(), "sampledValue": self.sampled(power)}]}
            if self.transaction_id is not None:
                payload["transactionId"] = self.transaction_id
            await self.call("MeterValues", payload)
        else:
            await self.transaction_event("Updated", "MeterValuePeriodic", power)

    async def stop_transaction(self) -> None:
        if self.version == "1.6":
            if self.transaction_id is not None:
                payload = {"transactionId": self.transaction_id, "meterStop": self.energy, "timestamp": now_iso()}
                await self.call("StopTransaction", {**payload, "reason": "Local", "idTag": self.card})
            await self.status("Finishing")
        else:
            await self.transaction_event("Ended", "StopAuthorized")
        self.transaction_id = None
        await self.status("Available")

    def sampled(self, power: int) -> list[dict]:
        return sampled_values(self.version, self.energy, power)

    async def transaction_event(self, event_type: str, trigger: str, power: int = 0) -> None:
        now = now_iso()
        info = {"transactionId": self.transaction_id}
        payload = {
            "eventType": event_type,
            "timestamp": now,
            "triggerReason": trigger,
            "seqNo": self.seq_no,
            "transactionInfo": info,
            "meterValue": [{"timestamp": now, "sampledValue": self.sampled(power)}],
        }
        if event_type == "Started":
            info["chargingState"] = "Charging"
            payload |= {"evse": {"id": 1, "connectorId": 1}, "idToken": {"idToken": self.card, "type": "ISO14443"}}
        elif event_type == "Ended":
            info["stoppedReason"] = "Local"
        self.seq_no += 1
        await self.call("TransactionEvent", payload)

    # The modes ------------------------------------------------------------------------------------------------

    async def realistic(self, compress: float) -> None:
        """Until the window closes: heartbeats, and sessions that start, send readings and stop, on their clocks."""
        heartbeat_s, meter_s = HEARTBEAT_S / compress, METER_S / compress
        loop_time = time.time
        next_heartbeat = self.window.start + random.uniform(0, heartbeat_s)
        next_meter = self.window.start + random.uniform(0, meter_s)
        charging = self.transaction_id is not None
        change_at = self.window.start + random.expovariate(compress / (CHARGING_S if charging else IDLE_S))
        while not self.gone:
            due = min(next_heartbeat, change_at, next_meter if charging else float("inf"))
            if due >= self.window.stop:
                return
            await asyncio.sleep(max(0.0, due - loop_time()))
            if due == next_heartbeat:
                await self.heartbeat()
                next_heartbeat += heartbeat_s
            elif due == change_at:
                if charging:
                    await self.stop_transaction()
                else:
                    await self.start_transaction()
                    next_meter = loop_time() + meter_s
                charging = not charging
                change_at = loop_time() + random.expovariate(compress / (CHARGING_S if charging else IDLE_S))
            else:
                await self.meter_values(METER_S)
                next_meter += meter_s

    async def burst(self, rate: float) -> None:
        """One call in flight (or ``rate`` a second), alternating Heartbeat and a meter reading."""
        next_at = self.window.start + (random.random() / rate if rate else 0)
        for sent in itertools.count():
            if rate:
                await asyncio.sleep(max(0.0, next_at - time.time()))
                next_at += 1 / rate
            if time.time() >= self.window.stop or self.gone:
                return
            if sent % 2 == 0:
                await self.heartbeat()
            else:
                await self.meter_values(1)


async def run_clients(pipe, url: str, ids: list[str], version: str, password: str | None, options: dict) -> None:
    """One client process: connect and boot its stations, report, wait for the window, run it, report."""
    stats, window = ClientStats(), Window()
    stations = [SimulatedStation(ocpp_id, version, stats, window) for ocpp_id in ids]
    charging = set(random.Random(options["seed"]).sample(range(len(stations)), len(stations) // 3))

    async def bring_up(station: SimulatedStation) -> None:
        await station.connect(url, password)
        await station.boot()
        stats.booted += 1
        stats.booted_at = time.time()

    pipe.send(("started",))
    pipe.recv()
    up = [asyncio.create_task(bring_up(station)) for station in stations]
    done, pending = await asyncio.wait(up, timeout=options["storm_timeout"])
    for task in done:
        if task.exception() is not None and len(stats.failures) < 5:
            stats.failures.append(f"bring-up: {task.exception()!r}")
    pipe.send(("booted", stats.booted, stats.retries, stats.booted_at))
    ready = [station for station, task in zip(stations, up, strict=True) if task in done and not task.exception()]
    # After the storm, before the window: a third charging in realistic mode; in burst mode 2.0.1's readings
    # need a transaction.
    if options["mode"] == "realistic":
        starting = [station for index, station in enumerate(ready) if index in charging]
    elif options["mode"] == "burst":
        starting = ready if version == "2.0.1" else []
    else:
        starting = []
    # A few at a time, as over the hours before the window: 3,333 sessions started at once queued behind each other
    # at the server past the stations' 30 s answer timeout, and the server was still working off what they had given
    # up on when the window opened (p95 10 s).
    starts_at_once = asyncio.Semaphore(STARTS_AT_ONCE)

    async def start(station: SimulatedStation) -> None:
        async with starts_at_once:
            await station.start_transaction()

    await asyncio.gather(*(start(station) for station in starting))
    # This process's thousands of stations would otherwise cost it full collections of a second and more,
    # counted in the latencies as if the server had taken them.
    gc.collect()
    gc.freeze()
    pipe.send(("ready",))
    # Waited for off the event loop: the other processes may take a minute more to start their sessions, and a
    # loop blocked that long answers no ping, so the server drops its connections as dead (30 s), rightly.
    window.start, window.stop = await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
    if options["mode"] == "realistic":
        runs = [station.realistic(options["compress"]) for station in ready]
    elif options["mode"] == "burst":
        runs = [station.burst(options["rate"]) for station in ready]
    else:
        runs = []
    await asyncio.gather(*runs)
    for task in pending:
        task.cancel()
    stats.held = sum(1 for station in ready if station.ws.state.name == "OPEN")
    stats.dropped = len(ready) - stats.held
    stats.drops.extend(drops_described([station for station in ready if station.ws.state.name != "OPEN"], window))
    # Not measured: the sessions end, so that the next run's storm does not find them left open. After the window:
    # a station's run returns at its last call before the window's end, and the stops of a third of all stations
    # sent at once then were measured (a burst no realistic day has: StopTransaction p50 3-6 s, p99 with it).
    await asyncio.sleep(max(0.0, window.stop - time.time()))
    await asyncio.gather(
        *(station.stop_transaction() for station in ready if station.transaction_id and not station.gone)
    )
    await asyncio.gather(*(station.ws.close() for station in ready), return_exceptions=True)
    pipe.send(("done", stats))


def client_process(pipe, url: str, ids: list[str], version: str, password: str | None, options: dict) -> None:
    raise_fd_limit()
    import uvloop

    uvloop.run(run_clients(pipe, url, ids, version, password, options))


def raise_fd_limit() -> None:
    """Up to the hard limit: every station is a socket on each side."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(url: str, server_pid: int, version: str, password: str | None, args, profile: str | None) -> dict:
    """One load against one server: the storm, then the window; the figures of both."""
    ids = [f"BENCH-{index:05d}" for index in range(args.stations)]
    processes = max(1, min(args.processes, args.stations))
    options = {
        "mode": args.mode,
        "compress": args.compress,
        "rate": args.rate,
        "storm_timeout": args.storm_timeout,
    }
    context = multiprocessing.get_context("spawn")
    pipes, workers = [], []
    for index in range(processes):
        parent, child = context.Pipe()
        worker = context.Process(
            target=client_process,
            args=(child, url, ids[index::processes], version, password, {**options, "seed": index}),
        )
        worker.start()
        pipes.append(parent)
        workers.append(worker)
    for pipe in pipes:
        pipe.recv()  # started: the storm begins in every process at once
    storm_profiler = profile_during(server_pid, args.storm_timeout, f"{profile}.storm") if profile else None
    cpu_start, began = cpu_seconds(server_pid), time.time()
    for pipe in pipes:
        pipe.send("go")
    reports = [pipe.recv() for pipe in pipes]
    booted = sum(report[1] for report in reports)
    storm_s = max(report[3] for report in reports) - began if booted else float("nan")
    storm_cpu = cpu_seconds(server_pid) - cpu_start
    if storm_profiler is not None:
        storm_profiler.send_signal(signal.SIGINT)  # py-spy writes what it has
        storm_profiler.wait()
    for pipe in pipes:
        pipe.recv()  # ready: the transactions to start before the window are started
    # The window opens for all processes at once.
    start = time.time() + 1
    stop = start + args.seconds
    for pipe in pipes:
        pipe.send((start, stop))
    time.sleep(max(0.0, start - time.time()))
    profiler = profile_during(server_pid, args.seconds, profile) if profile and args.seconds else None
    cpu_before, rss_peak = cpu_seconds(server_pid), 0.0
    while time.time() < stop:
        rss_peak = max(rss_peak, rss_mb(server_pid))
        time.sleep(min(1.0, max(0.0, stop - time.time())))
    cpu_used = cpu_seconds(server_pid) - cpu_before
    rss_end = rss_mb(server_pid)
    if profiler is not None:
        profiler.wait()
    results: list[ClientStats] = [pipe.recv()[1] for pipe in pipes]
    for worker in workers:
        worker.join()
    latencies = sorted(itertools.chain.from_iterable(result.latencies for result in results))
    answered = sum(result.answered for result in results)

    def percentile(fraction: float, measured: list[float] = latencies) -> float:
        return measured[max(0, int(len(measured) * fraction) - 1)] * 1000 if measured else float("nan")

    by_action: dict[str, list[float]] = {}
    for result in results:
        for action, seen in result.by_action.items():
            by_action.setdefault(action, []).extend(seen)
    actions = {action: sorted(seen) for action, seen in by_action.items()}

    return {
        "booted": booted,
        "storm_s": storm_s,
        "storm_cpu_s": storm_cpu,
        "storm_cpu_ms_per_station": storm_cpu * 1000 / max(booted, 1),
        "retries": sum(report[2] for report in reports),
        "held": sum(result.held for result in results),
        "dropped": sum(result.dropped for result in results),
        "messages": answered,
        "msgs_per_s": answered / args.seconds if args.seconds else 0.0,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p95_ms": percentile(0.95),
        "p99_ms": percentile(0.99),
        "cpu_s": cpu_used,
        "cpu_ms_per_msg": cpu_used * 1000 / max(answered, 1),
        "rss_mb": rss_end,
        "rss_peak_mb": max(rss_peak, rss_end),
        "lost": sum(result.lost for result in results),
        "errors": sum(result.errors for result in results),
        "by_action": {
            action: (len(seen), statistics.median(seen) * 1000, percentile(0.99, seen), seen[-1] * 1000)
            for action, seen in sorted(actions.items())
        },
        "failures": [failure for result in results for failure in result.failures][:5],
        "drops": [drop for result in results for drop in result.drops],
    }


def profile_during(pid: int, seconds: float, output: str) -> subprocess.Popen:
    """py-spy samples the server (all its threads) for ``seconds``; the stacks go to ``output``
    (collapsed: one line per stack and its count, for flamegraph.pl or a grep). Without pausing the server for
    each sample: paused 100 times a second, a 2.0.1 storm took 43 s instead of 27 and the held p99 grew fivefold."""
    py_spy = Path(sys.executable).with_name("py-spy")
    argv = [str(py_spy), "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "100", "--threads", "--nonblocking"]
    return subprocess.Popen([*argv, "-f", "raw", "-o", output], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def prepare_voltgrid_database(stations: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database for a meaningful figure.")
    create_database_if_missing(settings.DATABASES["default"])
    call_command("migrate", verbosity=0, interactive=False)
    from accounts.models import IdToken
    from stations.models import Connector, Station

    cards = {card_of(f"BENCH-{i:05d}") for i in range(stations)}
    cards -= set(IdToken.objects.filter(token__in=cards).values_list("token", flat=True))
    IdToken.objects.bulk_create([IdToken(token=card) for card in cards], batch_size=2000)
    # One stored hash for all, kept from run to run: a run's storm is a reconnect (the stations were connected
    # before, their credentials are in the verified-credential cache), as after a restart of the server.
    bench_stations = Station.objects.filter(ocpp_id__startswith="BENCH-")
    template = bench_stations.order_by("ocpp_id").first() or Station(ocpp_id="template")
    if not template.check_password(PASSWORD):
        template.set_password(PASSWORD)
    bench_stations.exclude(password_hash=template.password_hash).update(password_hash=template.password_hash)
    existing = set(bench_stations.values_list("ocpp_id", flat=True))
    Station.objects.bulk_create(
        [
            Station(ocpp_id=f"BENCH-{i:05d}", password_hash=template.password_hash)
            for i in range(stations)
            if f"BENCH-{i:05d}" not in existing
        ],
        batch_size=2000,
    )
    warm_verified_credentials(bench_stations, template.password_hash)
    describe_device_models(bench_stations)
    ensure_a_tariff()
    # The rows every message rewrites: a server with autovacuum on keeps them compact, and so must each run
    # here (on a server without autovacuum, each run would otherwise start slower than the last).
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Station._meta.db_table}, {Connector._meta.db_table}")
    connection.close()


def ensure_a_tariff() -> None:
    """A network-wide tariff, as every commercial network has: sessions are priced when they stop, and a 2.0.1
    station is sent its running cost (CostUpdated) while it charges. Without one, the cost path ends at
    ``tariff_for`` and the run measures less than a real network does."""
    from decimal import Decimal

    from billing.models import Tariff

    if not Tariff.objects.filter(station=None, site=None, driver_group=None).exists():
        Tariff.objects.create(
            name="Bench",
            tax_rate=Decimal("19"),
            valid_from=datetime(2020, 1, 1, tzinfo=UTC),
            price_per_kwh=Decimal("0.40"),
        )


def describe_device_models(bench_stations) -> None:
    """Each station's device model as its first connection left it (a 2.0.1 station describes itself once, when
    first accepted, see ``SimulatedStation.report``): a run's storm is a reconnect, not the onboarding of new
    stations that each are asked for their report (``--mode storm`` ends before most have answered)."""
    from stations.models import DeviceModelVariable

    undescribed = bench_stations.exclude(pk__in=DeviceModelVariable.objects.values("station_id"))
    reported_at = datetime.now(UTC)
    DeviceModelVariable.objects.bulk_create(
        [
            DeviceModelVariable(
                station_id=pk,
                component_name="ChargingStation",
                variable_name="Model",
                value="Bench",
                mutability="ReadOnly",
                data_type="string",
                reported_at=reported_at,
            )
            for pk in undescribed.values_list("pk", flat=True)
        ],
        batch_size=2000,
    )


def warm_verified_credentials(bench_stations, password_hash: str) -> None:
    """The shared verified-credential cache as the stations' last connections left it (a storm is a reconnect).

    Without it the first storm over new stations is a key derivation per station (10,000 on this machine: well
    over an hour of CPU, at three or four handshakes a second), not the reconnect it means to measure.
    """
    from django.contrib.auth.hashers import check_password

    from stations.services import verified_credentials

    if not check_password(PASSWORD, password_hash):
        raise SystemExit("The bench stations' stored hash is not of PASSWORD.")
    cache = verified_credentials.shared
    pks = list(bench_stations.values_list("pk", flat=True))
    keys = {pk: verified_credentials._shared_key(pk) for pk in pks}
    known = cache.get_many(list(keys.values()))
    # The entries of another checkout's runs (another SECRET_KEY) are there but match nothing here: each would be
    # a key derivation in the storm, as for a station never verified.
    digest = verified_credentials._digest(password_hash, PASSWORD)
    stale = [pk for pk, key in keys.items() if known.get(key) != digest]
    if stale:
        cache.set_many({keys[pk]: digest for pk in stale}, verified_credentials.SHARED_TIMEOUT)


def run_server(argv: list[str], port: int, env: dict | None = None) -> subprocess.Popen:
    """The server under test, its limit of open files raised; its output goes to var/bench-server.log."""
    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / "bench-server.log", "a")  # open as long as the server runs
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_for_port(port, process)
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def print_table(version: str, rows: list[tuple[str, dict]], args) -> None:
    reading = "MeterValues" if version == "1.6" else "TransactionEvent Updated"
    if args.mode == "realistic":
        mix = f"realistic mix x{args.compress:g} (Heartbeat, status, a third charging with {reading})"
    elif args.mode == "storm":
        mix = "reconnect storm only (connect, BootNotification, StatusNotification)"
    else:
        pace = f"{args.rate:g} calls/s per station" if args.rate else "closed loop"
        mix = f"burst, {pace}, 50% Heartbeat / 50% {reading}"
    print(f"OCPP {version}: {args.stations} stations, {args.seconds:g} s, {mix}")
    columns = [
        ("held", "{:.0f}", "connections held"),
        ("storm_s", "{:.1f}", "storm: all connected+booted, s"),
        ("storm_cpu_s", "{:.1f}", "storm: server CPU, s"),
        ("storm_cpu_ms_per_station", "{:.1f}", "storm: server CPU per station, ms"),
        ("retries", "{:.0f}", "storm: handshakes retried"),
        ("msgs_per_s", "{:.0f}", "msgs/s"),
        ("p50_ms", "{:.1f}", "p50 ms"),
        ("p95_ms", "{:.1f}", "p95 ms"),
        ("p99_ms", "{:.1f}", "p99 ms"),
        ("cpu_s", "{:.1f}", "server CPU in window, s"),
        ("cpu_ms_per_msg", "{:.3f}", "server CPU per msg, ms"),
        ("rss_peak_mb", "{:.0f}", "server RSS peak, MB"),
        ("lost", "{:.0f}", "messages lost"),
        ("errors", "{:.0f}", "CALLERRORs"),
        ("dropped", "{:.0f}", "connections dropped"),
    ]
    names = [name for name, _ in rows]
    print(f"  {'':32s}" + "".join(f"{name:>12s}" for name in names) + ("   voltgrid/floor" if "floor" in names else ""))
    for key, fmt, label in columns:
        line = f"  {label:32s}" + "".join(f"{fmt.format(figures[key]):>12s}" for _, figures in rows)
        floors = [figures[key] for name, figures in rows if name == "floor"]
        volts = [figures[key] for name, figures in rows if name == "voltgrid"]
        if floors and volts and statistics.mean(floors):
            line += f"   {statistics.mean(volts) / statistics.mean(floors):.2f}x"
        print(line)
    for name, figures in rows:  # where the tail is: each action's own latencies
        for action, (count, p50, p99, most) in figures["by_action"].items():
            print(f"  {name}: {action:24s} {count:>7,} calls, p50 {p50:7.1f} ms, p99 {p99:7.1f} ms, max {most:7.1f} ms")
    for name, figures in rows:
        for failure in figures["failures"] + figures["drops"]:
            print(f"  {name}: {failure}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["realistic", "burst", "storm"], default="burst")
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--processes", type=int, default=2, help="client processes the stations are spread over")
    parser.add_argument("--compress", type=float, default=1.0, help="realistic mode: time runs this much faster")
    parser.add_argument("--rate", type=float, default=0, help="burst mode: calls/s per station (0: closed loop)")
    parser.add_argument("--storm-timeout", type=float, default=120, help="seconds the stations get to boot")
    parser.add_argument("--rounds", type=int, default=1, help="floor and Voltgrid alternately, this many times")
    parser.add_argument("--only", choices=["floor", "voltgrid"])
    parser.add_argument("--ocpp", choices=["1.6", "2.0.1"], help="one version only (default: both)")
    parser.add_argument(
        "--profile", metavar="FILE", help="sample Voltgrid with py-spy: the storm into FILE.storm, the window into FILE"
    )
    parser.add_argument("--server-cmd", default=VOLTGRID_CMD, help="command that serves cms.asgi on {port}")
    args = parser.parse_args()
    if args.mode == "storm":
        args.seconds = 0
    raise_fd_limit()
    versions = [args.ocpp] if args.ocpp else ["1.6", "2.0.1"]
    if args.only in (None, "voltgrid"):
        prepare_voltgrid_database(args.stations)
    production = {key: value for key, value in os.environ.items() if key != "LOG_LEVEL"}
    servers = [
        ("floor", [sys.executable, "-c", FLOOR_SERVER, "{port}"], None),
        ("voltgrid", args.server_cmd.split(), PASSWORD),
    ]
    for version in versions:
        rows = []
        for _, (name, command, password) in itertools.product(range(args.rounds), servers):
            if args.only not in (None, name):
                continue
            port = free_port()
            argv = [part.replace("{python}", sys.executable).replace("{port}", str(port)) for part in command]
            server = run_server(argv, port, production)
            try:
                profile = args.profile if name == "voltgrid" else None
                figures = measure(f"ws://127.0.0.1:{port}/ocpp", server.pid, version, password, args, profile)
                rows.append((name, figures))
            finally:
                stop(server)
        print_table(version, rows, args)


if __name__ == "__main__":
    main()

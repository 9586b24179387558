"""OCPP hot-path benchmark: messages/s and round-trip latency of our server against a bare `ocpp` server.

N simulated stations connect at once (the time until all are connected is printed: a reconnect storm),
then each keeps one call in flight, alternating Heartbeat and a meter reading, for a fixed time; only the calls
answered inside that window count. The reading is MeterValues in OCPP 1.6J, and in 2.0.1 a TransactionEvent
Updated with the same meter values, in a transaction each station starts before the window opens (--ocpp picks
the versions; both by default, each against its own floor). The same load runs first against a bare
`websockets` + `ocpp` server with no database (the ceiling), then against Voltgrid (daphne + Channels + the
ocpp library, every message persisted to PostgreSQL before it is answered), and the ratio is printed, with
the CPU time the server process spent per message (steadier than throughput on a busy machine).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/voltgrid_bench REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/ocpp_throughput.py --stations 100 --seconds 15

The database named by DATABASE_URL is created and migrated when missing; stations BENCH-0000... are
registered in it. Options: --rate to pace each station (latency under a given load rather than at
saturation, where a closed loop of N stations waits N / throughput per call whatever the server),
--only bare|voltgrid, --ocpp 1.6|2.0.1, --server-cmd to benchmark another ASGI server command.
"""

import argparse
import asyncio
import base64
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import websockets
from benchdb import create_database_if_missing

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-station-password-0001"


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


# The floor of each version: the `ocpp` library's ChargePoint answering the mix, with no database.
BARE_SERVER = """
import asyncio, sys
from datetime import UTC, datetime
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16, call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as ChargePoint201, call_result as result201
from ocpp.v201.enums import Action as Action201

class Bare16(ChargePoint16):
    @on(Action16.heartbeat)
    def heartbeat(self):
        return result16.Heartbeat(current_time=datetime.now(UTC).isoformat())

    @on(Action16.meter_values)
    def meter_values(self, **kwargs):
        return result16.MeterValues()

class Bare201(ChargePoint201):
    @on(Action201.heartbeat)
    def heartbeat(self):
        return result201.Heartbeat(current_time=datetime.now(UTC).isoformat())

    @on(Action201.transaction_event)
    def transaction_event(self, **kwargs):
        return result201.TransactionEvent()

async def handler(ws):
    bare = Bare201 if ws.subprotocol == "ocpp2.0.1" else Bare16
    await bare(ws.request.path.rsplit("/", 1)[-1], ws).start()

async def main(port):
    async with websockets.serve(handler, "127.0.0.1", port, subprotocols=["ocpp2.0.1", "ocpp1.6"]):
        await asyncio.Future()

asyncio.run(main(int(sys.argv[1])))
"""
SUBPROTOCOLS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}


def heartbeat_frame(message_id: str) -> str:
    return json.dumps([2, message_id, "Heartbeat", {}])


def meter_values_frame(message_id: str, energy_wh: int) -> str:
    sample = {
        "timestamp": datetime.now(UTC).isoformat(),
        "sampledValue": [
            {"value": str(energy_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": str(random.randint(6000, 11000)), "measurand": "Power.Active.Import", "unit": "W"},
            {"value": str(random.randint(20, 80)), "measurand": "SoC", "unit": "Percent"},
        ],
    }
    return json.dumps([2, message_id, "MeterValues", {"connectorId": 1, "meterValue": [sample]}])


def sampled_values_201(energy_wh: int) -> list[dict]:
    """1.6's sampled values of ``meter_values_frame`` in 2.0.1's shape (numbers, with a unitOfMeasure)."""
    return [
        {"value": energy_wh, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}},
        {"value": random.randint(6000, 11000), "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
        {"value": random.randint(20, 80), "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}},
    ]


def transaction_event_frame(message_id: str, transaction_id: str, seq_no: int, energy_wh: int) -> str:
    """A 2.0.1 TransactionEvent: Started (seqNo 0, naming the EVSE) or Updated with the meter values."""
    now = datetime.now(UTC).isoformat()
    payload = {
        "eventType": "Started" if seq_no == 0 else "Updated",
        "timestamp": now,
        "triggerReason": "CablePluggedIn" if seq_no == 0 else "MeterValuePeriodic",
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": transaction_id},
        "meterValue": [{"timestamp": now, "sampledValue": sampled_values_201(energy_wh)}],
        **({"evse": {"id": 1, "connectorId": 1}} if seq_no == 0 else {}),
    }
    return json.dumps([2, message_id, "TransactionEvent", payload])


class Window:
    """The measured interval: every station is connected before it opens; only calls inside it count."""

    def __init__(self, stations: int, seconds: float, rate: float):
        self.stations, self.seconds, self.rate = stations, seconds, rate
        self.connected = 0
        self.retries = 0
        self.all_connected = asyncio.Event()
        self.start_at = self.stop_at = 0.0
        self.latencies: list[float] = []
        self.calls = 0

    def station_connected(self) -> None:
        self.connected += 1
        if self.connected == self.stations:
            self.start_at = time.monotonic()
            self.stop_at = self.start_at + self.seconds
            self.all_connected.set()


async def call(ws, frame: str, ocpp_id: str) -> None:
    await ws.send(frame)
    reply = json.loads(await ws.recv())
    if reply[0] != 3:
        raise RuntimeError(f"{ocpp_id}: expected a CALLRESULT, got {reply}")


async def run_station(url: str, ocpp_id: str, password: str | None, window: Window, version: str) -> None:
    headers = {}
    if password:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{ocpp_id}:{password}".encode()).decode()
    sent = 0
    energy = random.randint(0, 10_000_000)
    while True:
        try:
            ws = await websockets.connect(
                f"{url}/{ocpp_id}", subprotocols=[SUBPROTOCOLS[version]], additional_headers=headers, open_timeout=60
            )
            break
        except (websockets.InvalidHandshake, OSError, TimeoutError):
            # As a station does: try again after a random back-off (a server in a storm drops handshakes
            # it cannot answer in time).
            window.retries += 1
            await asyncio.sleep(random.uniform(1, 3))
    # 2.0.1: each station's own transaction for its readings, started before the window (a run's ids are new).
    transaction_id = f"{ocpp_id}-{time.time_ns():x}"
    seq_no = 0
    async with ws:
        if version == "2.0.1":
            await call(ws, transaction_event_frame(f"{ocpp_id}-start", transaction_id, seq_no, energy), ocpp_id)
            seq_no += 1
        window.station_connected()
        await window.all_connected.wait()
        # Paced (--rate): each station calls at its own steady rate, from a random phase.
        next_at = window.start_at + (random.random() / window.rate if window.rate else 0)
        while True:
            if window.rate:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                next_at += 1 / window.rate
            started = time.monotonic()
            if started >= window.stop_at:
                break
            message_id = f"{ocpp_id}-{sent}"
            energy += 25
            if sent % 2 == 0:
                frame = heartbeat_frame(message_id)
            elif version == "2.0.1":
                frame = transaction_event_frame(message_id, transaction_id, seq_no, energy)
                seq_no += 1
            else:
                frame = meter_values_frame(message_id, energy)
            await call(ws, frame, ocpp_id)
            answered = time.monotonic()
            if answered <= window.stop_at:
                window.latencies.append(answered - started)
                window.calls += 1
            sent += 1


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux), to report the server's cost per message."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(
    url: str, stations: int, seconds: float, rate: float, password: str | None, server_pid: int, version: str
) -> dict:
    window = Window(stations, seconds, rate)
    began = time.monotonic()
    tasks = [
        asyncio.create_task(run_station(url, f"BENCH-{index:04d}", password, window, version))
        for index in range(stations)
    ]
    connected = asyncio.create_task(window.all_connected.wait())
    await asyncio.wait([connected, *tasks], return_when=asyncio.FIRST_COMPLETED)
    if not window.all_connected.is_set():
        failed = next(task for task in tasks if task.done())
        for task in tasks:
            task.cancel()
        raise RuntimeError(f"{window.connected} of {stations} stations connected; then: {failed.exception()!r}")
    connect_s = time.monotonic() - began
    cpu_before = cpu_seconds(server_pid)
    await asyncio.sleep(seconds)
    cpu_used = cpu_seconds(server_pid) - cpu_before
    await asyncio.gather(*tasks)
    latencies = sorted(window.latencies)
    return {
        "messages": window.calls,
        "msgs_per_s": window.calls / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "connect_s": connect_s,
        "retries": window.retries,
        "cpu_ms_per_msg": cpu_used * 1000 / max(window.calls, 1),
    }


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
    from stations.models import Connector, Station

    template = Station(ocpp_id="template")
    template.set_password(PASSWORD)
    bench_stations = Station.objects.filter(ocpp_id__startswith="BENCH-")
    bench_stations.update(password_hash=template.password_hash)
    existing = set(bench_stations.values_list("ocpp_id", flat=True))
    Station.objects.bulk_create(
        [
            Station(ocpp_id=f"BENCH-{i:04d}", password_hash=template.password_hash)
            for i in range(stations)
            if f"BENCH-{i:04d}" not in existing
        ]
    )
    # The rows every message rewrites: a server with autovacuum on keeps them compact, and so must each run
    # here (on a server without autovacuum, each run would otherwise start slower than the last).
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Station._meta.db_table}, {Connector._meta.db_table}")


def run_server(argv: list[str], port: int, env: dict | None = None) -> subprocess.Popen:
    """The server under test; its output goes to var/bench-server.log."""
    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / "bench-server.log", "w")  # open as long as the server runs
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_for_port(port, process)
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="calls per second of each station (default: as fast as answered, for the throughput ceiling)",
    )
    parser.add_argument("--only", choices=["bare", "voltgrid"])
    parser.add_argument("--ocpp", choices=["1.6", "2.0.1"], help="one version only (default: both)")
    parser.add_argument(
        "--server-cmd",
        default="{python} -m daphne -b 127.0.0.1 -p {port} cms.asgi:application",
        help="command that serves cms.asgi on {port}",
    )
    args = parser.parse_args()
    versions = [args.ocpp] if args.ocpp else ["1.6", "2.0.1"]
    results = {version: {} for version in versions}
    if args.only in (None, "voltgrid"):
        prepare_voltgrid_database(args.stations)
    for name, command, password, env in (
        ("bare", [sys.executable, "-c", BARE_SERVER, "{port}"], None, None),
        ("voltgrid", args.server_cmd.split(), PASSWORD, {**os.environ, "LOG_LEVEL": "WARNING"}),
    ):
        if args.only not in (None, name):
            continue
        for version in versions:
            port = free_port()
            argv = [part.format(python=sys.executable, port=port) for part in command]
            server = run_server(argv, port, env=env)
            try:
                results[version][name] = asyncio.run(
                    load(
                        f"ws://127.0.0.1:{port}/ocpp",
                        args.stations,
                        args.seconds,
                        args.rate,
                        password,
                        server.pid,
                        version,
                    )
                )
            finally:
                stop(server)

    pace = f"{args.rate:g} calls/s per station" if args.rate else "each station as fast as answered"
    print(f"stations={args.stations} seconds={args.seconds} {pace}")
    for version, by_server in results.items():
        reading = "MeterValues" if version == "1.6" else "TransactionEvent Updated"
        print(f"OCPP {version}: 50% Heartbeat / 50% {reading}")
        for name, figures in by_server.items():
            print(
                f"  {name:9s} {figures['msgs_per_s']:9.0f} msgs/s  p50 {figures['p50_ms']:7.1f} ms  "
                f"p99 {figures['p99_ms']:7.1f} ms  ({figures['messages']} messages; server CPU "
                f"{figures['cpu_ms_per_msg']:.3f} ms/msg; all {args.stations} connected in "
                f"{figures['connect_s']:.1f} s, {figures['retries']} handshakes retried)"
            )
        if len(by_server) == 2:
            ratio = by_server["voltgrid"]["msgs_per_s"] / by_server["bare"]["msgs_per_s"]
            print(f"  ratio voltgrid/bare: {ratio:.2f}x")


if __name__ == "__main__":
    main()

"""OCPP hot-path benchmark: messages/s and round-trip latency of our server against a bare `ocpp` server.

N simulated stations connect at once (the time until all are connected is printed: a reconnect storm),
then each keeps one call in flight, alternating Heartbeat and MeterValues, for a fixed time; only the calls
answered inside that window count. The same load runs first against a bare `websockets` + `ocpp` server
with no database (the ceiling), then against Voltgrid (daphne + Channels + the ocpp library, every message
persisted to PostgreSQL before it is answered), and the ratio is printed, with the CPU time the server
process spent per message (steadier than throughput on a busy machine).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/voltgrid_bench REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/ocpp_throughput.py --stations 100 --seconds 15

The database named by DATABASE_URL is created and migrated when missing; stations BENCH-0000... are
registered in it. Options: --rate to pace each station (latency under a given load rather than at
saturation, where a closed loop of N stations waits N / throughput per call whatever the server),
--only bare|voltgrid, --server-cmd to benchmark another ASGI server command.
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


BARE_SERVER = """
import asyncio, sys
from datetime import UTC, datetime
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action

class Bare(ChargePoint):
    @on(Action.heartbeat)
    def heartbeat(self):
        return call_result.Heartbeat(current_time=datetime.now(UTC).isoformat())

    @on(Action.meter_values)
    def meter_values(self, **kwargs):
        return call_result.MeterValues()

async def handler(ws):
    await Bare(ws.request.path.rsplit("/", 1)[-1], ws).start()

async def main(port):
    async with websockets.serve(handler, "127.0.0.1", port, subprotocols=["ocpp1.6"]):
        await asyncio.Future()

asyncio.run(main(int(sys.argv[1])))
"""


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


async def run_station(url: str, ocpp_id: str, password: str | None, window: Window) -> None:
    headers = {}
    if password:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{ocpp_id}:{password}".encode()).decode()
    sent = 0
    energy = random.randint(0, 10_000_000)
    while True:
        try:
            ws = await websockets.connect(
                f"{url}/{ocpp_id}", subprotocols=["ocpp1.6"], additional_headers=headers, open_timeout=60
            )
            break
        except (websockets.InvalidHandshake, OSError, TimeoutError):
            # As a station does: try again after a random back-off (a server in a storm drops handshakes
            # it cannot answer in time).
            window.retries += 1
            await asyncio.sleep(random.uniform(1, 3))
    async with ws:
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
            frame = heartbeat_frame(message_id) if sent % 2 == 0 else meter_values_frame(message_id, energy)
            await ws.send(frame)
            reply = json.loads(await ws.recv())
            if reply[0] != 3:
                raise RuntimeError(f"{ocpp_id}: expected a CALLRESULT, got {reply}")
            answered = time.monotonic()
            if answered <= window.stop_at:
                window.latencies.append(answered - started)
                window.calls += 1
            sent += 1


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux), to report the server's cost per message."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(url: str, stations: int, seconds: float, rate: float, password: str | None, server_pid: int) -> dict:
    window = Window(stations, seconds, rate)
    began = time.monotonic()
    tasks = [asyncio.create_task(run_station(url, f"BENCH-{index:04d}", password, window)) for index in range(stations)]
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
    parser.add_argument(
        "--server-cmd",
        default="{python} -m daphne -b 127.0.0.1 -p {port} cms.asgi:application",
        help="command that serves cms.asgi on {port}",
    )
    args = parser.parse_args()
    results = {}

    if args.only in (None, "bare"):
        port = free_port()
        server = run_server([sys.executable, "-c", BARE_SERVER, str(port)], port)
        try:
            results["bare"] = asyncio.run(
                load(f"ws://127.0.0.1:{port}/ocpp", args.stations, args.seconds, args.rate, None, server.pid)
            )
        finally:
            stop(server)

    if args.only in (None, "voltgrid"):
        prepare_voltgrid_database(args.stations)
        port = free_port()
        command = args.server_cmd.format(python=sys.executable, port=port).split()
        server = run_server(command, port, env={**os.environ, "LOG_LEVEL": "WARNING"})
        try:
            results["voltgrid"] = asyncio.run(
                load(f"ws://127.0.0.1:{port}/ocpp", args.stations, args.seconds, args.rate, PASSWORD, server.pid)
            )
        finally:
            stop(server)

    pace = f"{args.rate:g} calls/s per station" if args.rate else "each station as fast as answered"
    print(f"stations={args.stations} seconds={args.seconds} mix=50% Heartbeat / 50% MeterValues, {pace}")
    for name, figures in results.items():
        print(
            f"{name:9s} {figures['msgs_per_s']:9.0f} msgs/s  p50 {figures['p50_ms']:7.1f} ms  "
            f"p99 {figures['p99_ms']:7.1f} ms  ({figures['messages']} messages; server CPU "
            f"{figures['cpu_ms_per_msg']:.3f} ms/msg; all {args.stations} connected in {figures['connect_s']:.1f} s, "
            f"{figures['retries']} handshakes retried)"
        )
    if len(results) == 2:
        print(f"ratio voltgrid/bare: {results['voltgrid']['msgs_per_s'] / results['bare']['msgs_per_s']:.2f}x")


if __name__ == "__main__":
    main()

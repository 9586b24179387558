"""OCPP hot-path benchmark: messages/s and round-trip latency of our server against a bare `ocpp` server.

N simulated stations each keep one call in flight, alternating Heartbeat and MeterValues, for a fixed time.
The same load runs first against a bare `websockets` + `ocpp` server with no database (the ceiling), then
against Voltgrid (daphne + Channels + the ocpp library, every frame persisted to PostgreSQL), and the ratio
is printed.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/voltgrid_bench REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/ocpp_throughput.py --stations 100 --seconds 15

The database named by DATABASE_URL is created and migrated when missing; stations BENCH-0000... are
registered in it. Options: --only bare|voltgrid, --server-cmd to benchmark another ASGI server command.
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


async def run_station(url: str, ocpp_id: str, password: str | None, stop_at: float, latencies: list[float]) -> int:
    headers = {}
    if password:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{ocpp_id}:{password}".encode()).decode()
    sent = 0
    energy = random.randint(0, 10_000_000)
    async with websockets.connect(
        f"{url}/{ocpp_id}", subprotocols=["ocpp1.6"], additional_headers=headers, open_timeout=120
    ) as ws:
        while time.monotonic() < stop_at:
            message_id = f"{ocpp_id}-{sent}"
            energy += 25
            frame = heartbeat_frame(message_id) if sent % 2 == 0 else meter_values_frame(message_id, energy)
            started = time.perf_counter()
            await ws.send(frame)
            reply = json.loads(await ws.recv())
            latencies.append(time.perf_counter() - started)
            if reply[0] != 3:
                raise RuntimeError(f"{ocpp_id}: expected a CALLRESULT, got {reply}")
            sent += 1
    return sent


async def load(url: str, stations: int, seconds: float, password: str | None) -> dict:
    latencies: list[float] = []
    # Connect everyone first (handshakes are not what this measures), then start the clock.
    start_at = time.monotonic() + 2 + stations * 0.01
    stop_at = start_at + seconds

    async def one(index):
        await asyncio.sleep(max(0.0, start_at - time.monotonic()) * random.random() * 0.05)
        return await run_station(url, f"BENCH-{index:04d}", password, stop_at, latencies)

    began = time.monotonic()
    counts = await asyncio.gather(*(one(i) for i in range(stations)))
    elapsed = time.monotonic() - began
    latencies.sort()
    return {
        "messages": sum(counts),
        "msgs_per_s": sum(counts) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
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
    _create_database_if_missing(settings.DATABASES["default"])
    call_command("migrate", verbosity=0, interactive=False)
    from stations.models import Station

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


def _create_database_if_missing(db: dict) -> None:
    import psycopg

    conninfo = psycopg.conninfo.make_conninfo(
        dbname="postgres", user=db["USER"], host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432,
        password=db["PASSWORD"] or None,
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def run_server(argv: list[str], port: int, env: dict | None = None) -> subprocess.Popen:
    """The server under test; its output goes to var/bench-server.log."""
    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / "bench-server.log", "w")  # noqa: SIM115 - lives as long as the server
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
            results["bare"] = asyncio.run(load(f"ws://127.0.0.1:{port}/ocpp", args.stations, args.seconds, None))
        finally:
            stop(server)

    if args.only in (None, "voltgrid"):
        prepare_voltgrid_database(args.stations)
        port = free_port()
        command = args.server_cmd.format(python=sys.executable, port=port).split()
        server = run_server(command, port, env={**os.environ, "LOG_LEVEL": "WARNING"})
        try:
            results["voltgrid"] = asyncio.run(
                load(f"ws://127.0.0.1:{port}/ocpp", args.stations, args.seconds, PASSWORD)
            )
        finally:
            stop(server)

    print(f"stations={args.stations} seconds={args.seconds} mix=50% Heartbeat / 50% MeterValues")
    for name, figures in results.items():
        print(
            f"{name:9s} {figures['msgs_per_s']:9.0f} msgs/s  p50 {figures['p50_ms']:7.1f} ms  "
            f"p99 {figures['p99_ms']:7.1f} ms  ({figures['messages']} messages)"
        )
    if len(results) == 2:
        print(f"ratio voltgrid/bare: {results['voltgrid']['msgs_per_s'] / results['bare']['msgs_per_s']:.2f}x")


if __name__ == "__main__":
    main()

"""A daphne process stopped while its stations send: it stops without an error in its log.

Its event loop stops first; its group-commit writer still commits the batches it holds, and their live events
(``stations.live_outbox``) used to be published one by one as the interpreter shut down, each failing with an
error: hundreds of ERROR lines at every restart of a busy node.
"""

import asyncio
import contextlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import websockets
from asgiref.sync import sync_to_async

from tests.conftest import ROOT, LiveServer
from tests.ocpp.test_v16_framing import raw_station

pytestmark = pytest.mark.django_db(transaction=True)

STATIONS = 40
READING = {"timestamp": "2026-01-01T10:00:00Z", "sampledValue": [{"value": "1"}]}
METER_VALUES = {"connectorId": 1, "meterValue": [READING]}


async def send_until_closed(server: LiveServer, ocpp_id: str, sent: list) -> None:
    """MeterValues, one after the other, until the server goes away."""
    with contextlib.suppress(OSError, websockets.ConnectionClosed):
        async with raw_station(server, ocpp_id) as ws:
            for n in range(100_000):
                await ws.send(json.dumps([2, f"m-{n}", "MeterValues", METER_VALUES]))
                sent.append(n)
                await ws.recv()


async def test_a_node_stopped_while_stations_send_meter_values_logs_no_error(node_servers, make_station):
    server = node_servers()
    for n in range(STATIONS):
        await sync_to_async(make_station)(f"CP-{n}")
    sent: list[int] = []
    senders = [asyncio.create_task(send_until_closed(server, f"CP-{n}", sent)) for n in range(STATIONS)]
    while len(sent) < 20 * STATIONS:  # every station sending, the writer busy
        await asyncio.sleep(0.05)
    server.process.terminate()
    await asyncio.to_thread(server.process.wait, 20)
    await asyncio.wait_for(asyncio.gather(*senders), 10)
    lines = Path(server.log_path).read_text().splitlines()
    errors = [line for line in lines if re.search(r"level=(ERROR|CRITICAL)|Traceback", line)]
    assert not errors, f"{len(errors)} error lines, the first: {errors[0][:500]}"


EXITING = """
import os, time, django
from concurrent.futures import ThreadPoolExecutor
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")
django.setup()
from stations.live_outbox import live_outbox

def as_the_writer_does():
    time.sleep(0.5)  # the main thread has ended meanwhile: the interpreter's exit waits for this thread
    try:
        live_outbox.put({"kind": "station", "station": "CP-1"})
    except Exception as error:
        print("failed:", type(error).__name__, error, flush=True)
    else:
        print("no error", flush=True)

ThreadPoolExecutor(max_workers=1).submit(as_the_writer_does)
"""


def test_a_live_event_of_an_exiting_process_is_dropped_without_an_error():
    """What the writer commits once the interpreter is exiting cannot be published (thread pools refuse work)."""
    done = subprocess.run([sys.executable, "-c", EXITING], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "no error", done.stdout + done.stderr

"""`manage.py runcms --processes N`: N daphne processes on consecutive ports, joined by the Redis channel layer
(a command sent through one reaches a station connected to another), a dead one started again, all stopped
together; refused without Redis."""

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.core.management.base import CommandError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result

from tests.conftest import ROOT, LiveServer, _database_url
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection
from tests.waiting import until, until_sync


def test_several_processes_need_redis(settings):
    settings.REDIS_URL = ""
    with pytest.raises(CommandError, match="needs REDIS_URL"):
        call_command("runcms", processes=2)


def test_processes_must_be_positive():
    with pytest.raises(CommandError, match="at least 1"):
        call_command("runcms", processes=0)


class Answering(ChargePoint):
    @on("GetConfiguration")
    def on_get_configuration(self, **_):
        return call_result.GetConfiguration(configuration_key=[{"key": "Identity", "readonly": True, "value": self.id}])


def _free_port_pair() -> int:
    """A port whose successor is free too, below the ephemeral range (outgoing connections take those meanwhile)."""
    rng = random.Random()
    for _ in range(100):
        port = rng.randrange(20000, 32000)
        try:
            for candidate in (port, port + 1):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise AssertionError("no two consecutive free ports")


@pytest.fixture
def two_processes(django_db_blocker, transactional_db, collected_static):
    port = _free_port_pair()
    with django_db_blocker.unblock():
        env = {**os.environ, "DATABASE_URL": _database_url(), "DATABASE_CONN_MAX_AGE": "0"}
    env["CMS_ADMIN_PASSWORD"] = "processes-admin-pass-1"
    log_path = ROOT / "var" / f"test-runcms-processes-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runcms", "--processes", "2", "--no-worker", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def serving() -> bool:
        assert process.poll() is None, log_path.read_text()
        return healthy(LiveServer(port)) and healthy(LiveServer(port + 1))

    until_sync(serving, within=90, every=0.2, what=f"both ports served (see {log_path})")
    yield process, [LiveServer(port), LiveServer(port + 1)]
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=40)


def children_of(pid: int) -> list[int]:
    """Child processes of ``pid`` (Linux: each thread lists the children it started)."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            children += [int(child) for child in (task / "children").read_text().split()]
    return sorted(children)


def healthy(server) -> bool:
    try:
        return requests.get(f"{server.http_url}/healthz", timeout=3).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
async def test_two_processes_serve_one_network_and_stop_together(two_processes, make_station, operator_admin):
    from rest_framework.authtoken.models import Token

    process, (first, second) = two_processes
    await sync_to_async(make_station)(ocpp_id="CP-PROC")
    token = (await sync_to_async(Token.objects.create)(user=operator_admin)).key
    async with ocpp_connection(second, "CP-PROC", STATION_PASSWORD, client_class=Answering) as station:
        await station.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        response = await sync_to_async(requests.post)(
            f"{first.http_url}/api/stations/CP-PROC/calls/",
            json={"action": "GetConfiguration", "payload": {"key": ["Identity"]}},
            headers={"Authorization": f"Token {token}"},
            timeout=15,
        )
        assert response.status_code == 200, response.text
        assert response.json()["response"]["configurationKey"][0]["value"] == "CP-PROC"

    child = children_of(process.pid)
    assert len(child) == 1
    os.kill(child[0], signal.SIGKILL)
    await until(lambda: children_of(process.pid) not in ([], child), within=10, what="a new daphne child")
    await until(lambda: sync_to_async(healthy)(second), within=60, what="the second port served again")

    process.send_signal(signal.SIGTERM)
    await sync_to_async(process.wait)(40)
    for server in (first, second):
        with pytest.raises(requests.ConnectionError):
            await sync_to_async(requests.get)(f"{server.http_url}/healthz", timeout=1)

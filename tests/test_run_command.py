"""`manage.py runcms`, as scripts/run starts it: embedded, a portal a person logs into and an OCPP endpoint."""

import os
import re
import subprocess
import sys
import time

import pytest
import requests
import websockets

from tests.conftest import ROOT, _free_port
from tests.ocpp_client import basic_auth_header


@pytest.fixture
def embedded_system(tmp_path):
    """The whole system on SQLite with in-process channels and jobs: no DATABASE_URL, no REDIS_URL."""
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path}/embedded.sqlite3", MEDIA_ROOT=str(tmp_path / "media"))
    log_path = tmp_path / "runcms.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runcms", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 90
    while "OCPP endpoint" not in log_path.read_text():
        assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.2)
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            break
        except requests.ConnectionError:
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
    yield port, log_path, env
    process.terminate()
    process.wait(timeout=20)


def test_first_start_creates_an_admin_who_logs_into_the_portal(embedded_system):
    port, log_path, _ = embedded_system
    output = log_path.read_text()
    password = re.search(r"Created operator admin admin@localhost with password (\S+)", output).group(1)
    assert "Created the default invoice issuer" in output
    assert "subprotocols ocpp1.6" in output
    # Periodic jobs run in-process: beat finds the tasks registered instead of sending them nowhere.
    deadline = time.monotonic() + 15
    while "Sending due task" not in output and time.monotonic() < deadline:
        time.sleep(0.2)
        output = log_path.read_text()
    assert "Sending due task" in output
    assert "AlwaysEagerIgnored" not in output

    health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
    assert health == {"status": "ok", "database": "ok", "redis": "not configured"}

    browser = requests.Session()
    login_page = browser.get(f"http://127.0.0.1:{port}/admin/login/", timeout=5)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text).group(1)
    landed = browser.post(
        f"http://127.0.0.1:{port}/admin/login/?next=/admin/",
        data={"username": "admin@localhost", "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": f"http://127.0.0.1:{port}/admin/login/"}, timeout=5,
    )
    assert landed.url.endswith("/admin/")
    assert "Voltgrid administration" in landed.text
    assert "Log out" in landed.text
    assert browser.get(f"http://127.0.0.1:{port}/static/css/app.css", timeout=5).status_code == 200


async def test_the_ocpp_endpoint_accepts_a_registered_station(embedded_system):
    port, _, env = embedded_system
    subprocess.run(
        [sys.executable, "manage.py", "create_station", "EMB-1", "--password", "embedded-station-pass"],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/ocpp/EMB-1", subprotocols=["ocpp1.6"],
        additional_headers=basic_auth_header("EMB-1", "embedded-station-pass"),
    ) as ws:
        await ws.send('[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]')
        reply = await ws.recv()
    assert reply.startswith('[3,"b1",{') and '"status":"Accepted"' in reply.replace(" ", "")

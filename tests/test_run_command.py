"""`manage.py runcms`, as scripts/run starts it with nothing configured: the embedded PostgreSQL, in-process
channels and jobs, a first admin who logs in at once, an OCPP endpoint that stores a 1.6 session, analytics
that answer, and station file URLs on the address the system listens on."""

import asyncio
import csv
import io
import os
import re
import subprocess
import sys
from datetime import UTC, datetime

import psycopg
import pytest
import requests
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call, call_result

from cms import embedded_postgres
from tests.conftest import ROOT, LiveServer, _free_port
from tests.ocpp_client import ocpp_connection
from tests.waiting import until, until_sync

pytestmark = pytest.mark.embedded

ADMIN_PASSWORD = "first-start-admin-pw-7"
STATION_PASSWORD = "embedded-station-pass"


def _manage(env, *args) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout


@pytest.fixture(scope="module")
def embedded_system(tmp_path_factory):
    """The whole system as `scripts/run --port N` starts it: no DATABASE_URL, no REDIS_URL; the embedded
    PostgreSQL keeps its data in a temporary directory instead of var/postgres."""
    tmp_path = tmp_path_factory.mktemp("embedded")
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        EMBEDDED_POSTGRES_DIR=str(tmp_path / "pg"),
        MEDIA_ROOT=str(tmp_path / "media"),
        CMS_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    for name in ("CMS_STATION_FILES_URL", "CMS_PORTAL_URL", "CMS_SERVER_URL"):
        env.pop(name, None)
    log_path = tmp_path / "runcms.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runcms", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def serving() -> bool:
        assert process.poll() is None, log_path.read_text()
        if "OCPP endpoint" not in log_path.read_text():
            return False
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
        except requests.ConnectionError:
            return False
        return True

    assert until_sync(serving, within=120, every=0.2, quiet=True), log_path.read_text()
    yield port, log_path, env
    process.terminate()
    process.wait(timeout=30)


def _login(port: int, email: str, password: str) -> requests.Session:
    """Log in through allauth's login page, as a person would."""
    browser = requests.Session()
    page = browser.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    landed = browser.post(
        f"http://127.0.0.1:{port}/accounts/login/",
        data={"login": email, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": f"http://127.0.0.1:{port}/accounts/login/"},
        timeout=10,
    )
    assert "/accounts/confirm-email/" not in landed.url, "the first admin was sent to confirm the e-mail"
    assert landed.url == f"http://127.0.0.1:{port}/", landed.url
    return browser


def test_first_start_creates_an_admin_who_logs_into_the_portal(embedded_system):
    port, log_path, _ = embedded_system
    output = log_path.read_text()
    assert "Created operator admin admin@localhost" in output
    assert "Created the default invoice issuer" in output
    assert "subprotocols ocpp2.0.1, ocpp1.6" in output
    assert "Database:      embedded PostgreSQL" in output
    assert f"Station files: http://127.0.0.1:{port}/" in output
    # Periodic jobs run in-process: beat finds the tasks registered instead of sending them nowhere.
    until_sync(lambda: "Sending due task" in log_path.read_text(), within=20, every=0.2, quiet=True)
    output = log_path.read_text()
    assert "Sending due task" in output
    assert "AlwaysEagerIgnored" not in output

    health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
    assert health == {"status": "ok", "database": "ok", "redis": "not configured"}

    browser = _login(port, "admin@localhost", ADMIN_PASSWORD)
    admin = browser.get(f"http://127.0.0.1:{port}/admin/", timeout=10)
    assert "Voltgrid administration" in admin.text
    assert browser.get(f"http://127.0.0.1:{port}/static/css/app.css", timeout=5).status_code == 200


class RecordingStation(ChargePoint16):
    """Answers GetDiagnostics, keeping the upload address the server gave."""

    diagnostics_locations: list[str]

    @on("GetDiagnostics")
    async def on_get_diagnostics(self, location, **_):
        self.diagnostics_locations.append(location)
        return call_result.GetDiagnostics(file_name="diagnostics.zip")


async def test_a_station_charges_and_the_session_is_stored_and_analysed(embedded_system):
    port, _, env = embedded_system
    # manage.py commands beside the running system attach to its embedded PostgreSQL.
    _manage(env, "create_station", "EMB-1", "--password", STATION_PASSWORD)
    _manage(env, "create_idtoken", "EMBTAG1")
    api_token = _manage(env, "api_token", "admin@localhost").strip()
    now = datetime.now(UTC).isoformat()

    async with ocpp_connection(LiveServer(port), "EMB-1", STATION_PASSWORD, client_class=RecordingStation) as station:
        station.diagnostics_locations = []
        # suppress=False: a CALLERROR from the server raises instead of passing for an answer.
        boot = await station.call(
            call.BootNotification(charge_point_vendor="Voltgrid", charge_point_model="Embedded"), suppress=False
        )
        assert boot.status == "Accepted"
        await station.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing"), suppress=False
        )
        started = await station.call(
            call.StartTransaction(connector_id=1, id_tag="EMBTAG1", meter_start=1000, timestamp=now), suppress=False
        )
        assert started.id_tag_info["status"] == "Accepted"
        await station.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=started.transaction_id,
                meter_value=[
                    {
                        "timestamp": now,
                        "sampled_value": [
                            {"value": "3500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
                        ],
                    }
                ],
            ),
            suppress=False,
        )
        stopped = await station.call(
            call.StopTransaction(
                transaction_id=started.transaction_id,
                meter_stop=8400,
                timestamp=datetime.now(UTC).isoformat(),
                id_tag="EMBTAG1",
            ),
            suppress=False,
        )
        assert stopped.id_tag_info["status"] == "Accepted"

        # A diagnostics job: the station is told to upload to the address runcms listens on, not port 8000.
        created = await asyncio.to_thread(
            requests.post,
            f"http://127.0.0.1:{port}/api/maintenance/jobs/",
            json={"kind": "diagnostics", "stations": ["EMB-1"]},
            headers={"Authorization": f"Token {api_token}"},
            timeout=30,
        )
        assert created.status_code == 202, created.text
        await until(lambda: station.diagnostics_locations, within=30, every=0.1, quiet=True)
    assert station.diagnostics_locations
    assert station.diagnostics_locations[0].startswith(f"http://127.0.0.1:{port}/"), station.diagnostics_locations

    with psycopg.connect(
        host=env["EMBEDDED_POSTGRES_DIR"], user="postgres", dbname=embedded_postgres.DATABASE_NAME
    ) as database:
        stored = database.execute(
            "SELECT meter_start, meter_stop, stopped_at IS NOT NULL FROM charging_sessions_transaction"
            " WHERE id_tag = 'EMBTAG1'"
        ).fetchall()
        errors = database.execute("SELECT count(*) FROM stations_ocppmessage WHERE message_type = 4").fetchone()[0]
    assert stored == [(1000, 8400, True)]
    assert errors == 0

    browser = await asyncio.to_thread(_login, port, "admin@localhost", ADMIN_PASSWORD)
    usage = await asyncio.to_thread(browser.get, f"http://127.0.0.1:{port}/analytics/usage/", timeout=60)
    assert usage.status_code == 200
    assert "Usage" in usage.text


def test_the_simulator_finds_the_running_system_and_says_only_what_happened(embedded_system):
    port, _, env = embedded_system
    # No --url, no --port, no CMS_SERVER_URL: the simulator connects where runcms says it listens.
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "simulate",
            "--create",
            "-n",
            "2",
            "--prefix",
            "EMBSIM-",
            "--duration",
            "4",
            "--connectors",
            "1",
            "--session-seconds",
            "1",
            "--idle-seconds",
            "0.1-0.2",
            "--meter-interval",
            "0.3",
            "--report",
            "0",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"against ws://127.0.0.1:{port}/ocpp" in result.stdout
    done = result.stdout.splitlines()[-1]
    assert done.startswith("Done: 2 boots") and " 0 errored" in done and "(0 CALLERROR, 0 unanswered)" in done
    # The in-process jobs of --create are not traced, kombu does not warn: nothing went wrong, nothing is said.
    assert not [line for line in result.stderr.splitlines() if "celery" in line or "kombu" in line], result.stderr


FLEET_STATIONS = 10
FLEET_CONNECTORS = 2
FLEET_TAGS = [f"FLEETTAG{n:02d}" for n in range(1, FLEET_STATIONS * FLEET_CONNECTORS + 1)]
# Through the system's own services, as an operator would set it up: a public tariff whose start fee bills
# even a short session, and one driver per connector, who owns a card and has money in the wallet.
FLEET_SETUP = f"""
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import IdTokenEvent
from accounts.services import id_token_create
from billing.models import Tariff, WalletEntry
from billing.services.wallet import wallet_post

tariff = Tariff.objects.create(
    name="Fleet test", valid_from=timezone.now() - timedelta(hours=1), tax_rate=Decimal("19"),
    price_per_kwh=Decimal("0.45"), start_fee=Decimal("0.50"),
)
for tag in {FLEET_TAGS!r}:
    driver = get_user_model().objects.create_user(email=tag.lower() + "@example.com", password="fleet-driver-pw")
    id_token_create(token=tag, data={{"owner": driver, "label": "Card"}}, source=IdTokenEvent.Source.COMMAND)
    wallet_post(user_id=driver.pk, amount=Decimal("50"), currency=tariff.currency, kind=WalletEntry.Kind.TOP_UP,
                reference="fleet-top-up:" + tag)
"""


def test_a_fleet_charges_for_a_while_and_every_session_is_stopped_priced_invoiced_and_analysed(embedded_system):
    """Issue 18's first hour, shortened: ten stations charging side by side on the embedded default."""
    port, _, env = embedded_system
    _manage(env, "shell", "-c", FLEET_SETUP)
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "simulate",
            "--create",
            "--stations",
            str(FLEET_STATIONS),
            "--connectors",
            str(FLEET_CONNECTORS),
            "--prefix",
            "FLEET-",
            "--tags",
            ",".join(FLEET_TAGS),
            "--duration",
            "45",
            "--session-seconds",
            "3-6",
            "--idle-seconds",
            "0.5-2",
            "--meter-interval",
            "1",
            "--report",
            "0",
            "--seed",
            "18",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    done = result.stdout.splitlines()[-1]
    summary = re.search(
        r"(\d+) boots, (\d+) sessions started, (\d+) completed, (\d+) refused, (\d+) errored"
        r".*\((\d+) CALLERROR, (\d+) unanswered\)",
        done,
    )
    assert summary, done
    boots, started, completed, refused, errored, call_errors, unanswered = map(int, summary.groups())
    # One connection per station: none dropped, and none needed again to end a session at the stop.
    assert boots == FLEET_STATIONS, (done, result.stderr)
    assert (refused, errored, call_errors, unanswered) == (0, 0, 0, 0), (done, result.stderr)
    # Several sessions per station, and the fleet ended each one it started.
    assert completed >= 2 * FLEET_STATIONS, done
    assert started == completed, done

    fleet = "FROM charging_sessions_transaction t JOIN stations_station s ON s.id = t.station_id"
    fleet_charges = f"{fleet} JOIN billing_sessioncharge c ON c.transaction_id = t.id"
    with psycopg.connect(
        host=env["EMBEDDED_POSTGRES_DIR"], user="postgres", dbname=embedded_postgres.DATABASE_NAME, autocommit=True
    ) as database:

        def one(sql: str):
            return database.execute(sql).fetchone()[0]

        # The frame log is written in batches: wait until it holds every stop the fleet sent.
        until_sync(
            lambda: (
                one(
                    "SELECT count(*) FROM stations_ocppmessage m JOIN stations_station s ON s.id = m.station_id"
                    " WHERE s.ocpp_id LIKE 'FLEET-%' AND m.direction = 'in' AND m.action = 'StopTransaction'"
                )
                >= completed
            ),
            within=30,
            every=0.2,
            what="every StopTransaction in the frame log",
        )
        server_errors = database.execute(
            "SELECT m.action, m.error_code, m.payload FROM stations_ocppmessage m"
            " JOIN stations_station s ON s.id = m.station_id"
            " WHERE s.ocpp_id LIKE 'FLEET-%' AND m.direction = 'out' AND m.message_type = 4"
        ).fetchall()
        assert server_errors == []

        assert one(f"SELECT count(*) {fleet} WHERE s.ocpp_id LIKE 'FLEET-%'") == completed
        assert one(f"SELECT count(*) {fleet} WHERE s.ocpp_id LIKE 'FLEET-%' AND t.stopped_at IS NULL") == 0
        # Pricing runs as an in-process job after each stop's commit.
        until_sync(
            lambda: one(f"SELECT count(*) {fleet_charges} WHERE s.ocpp_id LIKE 'FLEET-%'") == completed,
            within=60,
            every=0.2,
            what="a charge for every session",
        )
        charges = database.execute(
            f"SELECT c.status, c.energy_wh > 0, t.meter_stop > t.meter_start, c.gross_amount > 0,"
            f" c.invoice_id IS NOT NULL,"
            f" EXISTS (SELECT 1 FROM billing_invoiceline l WHERE l.session_charge_id = c.id)"
            f" {fleet_charges} WHERE s.ocpp_id LIKE 'FLEET-%'"
        ).fetchall()
    # A session that delivered energy is billed on its receipt; one whose meter did not move (a car that had not
    # drawn yet when the fleet stopped) is free, as the tariff says, and needs no receipt.
    billed, free = ("billable", True, True, True, True, True), ("free", False, False, False, False, False)
    assert set(charges) <= {billed, free}, charges
    assert charges.count(billed) >= 2 * FLEET_STATIONS, charges

    _manage(env, "analytics_rebuild")
    browser = _login(port, "admin@localhost", ADMIN_PASSWORD)
    for name in ("usage", "utilisation", "reliability", "energy", "money"):
        page = browser.get(f"http://127.0.0.1:{port}/analytics/{name}/", timeout=60)
        assert page.status_code == 200, (name, page.text[:500])
    usage = browser.get(f"http://127.0.0.1:{port}/analytics/usage/export/sessions.csv", timeout=60)
    assert usage.status_code == 200, usage.text
    rows = list(csv.DictReader(io.StringIO(usage.text)))
    assert sum(int(row["Sessions"]) for row in rows) >= completed, usage.text

"""The charge point simulator against a real daphne server: sessions end to end, and commands it answers."""

import asyncio
import io
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command

from accounts.models import IdToken, IdTokenEvent
from accounts.services import id_token_create
from sessions.models import MeterSample, Transaction
from simulator import DEFAULT_PASSWORD, Car, SimulatedStation, Simulation, SimulatorConfig, ocpp_url
from stations.models import ConnectorStatusEvent, Station
from stations.protocol.commands import station_call
from stations.protocol.outbound import remote_start_session_wait
from tests.conftest import ROOT
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _short_response_timeout(settings):
    """The caller's wait for a station (the server under test already uses 5 s): a lost answer fails fast."""
    settings.CMS_OCPP_RESPONSE_TIMEOUT = 5


# Seconds instead of minutes, so that a test sees whole sessions.
FAST = {
    "session_seconds": (0.6, 0.6),
    "idle_seconds": (0.05, 0.1),
    "meter_interval": 0.15,
    "step_delay": 0.05,
    "reconnect_delay": 0.2,
    "seed": 7,
}


def config_for(server, **overrides) -> SimulatorConfig:
    settings = {"connectors": 1, "id_tags": ("SIMTAG01",), **FAST, **overrides}
    return SimulatorConfig(url=f"{server.ws_url}/ocpp", **settings)


@sync_to_async
def register(ocpp_id="SIM-001", tags=("SIMTAG01",)):
    station = Station.objects.filter(ocpp_id=ocpp_id).first()
    if station is None:
        call_command("create_station", ocpp_id, password=DEFAULT_PASSWORD, stdout=io.StringIO())
    for tag in tags:
        id_token_create(token=tag, source=IdTokenEvent.Source.COMMAND)
    return Station.objects.get(ocpp_id=ocpp_id)


def running(station_ids, config):
    return Simulation(station_ids, config).running()


class FileServer:
    """A local HTTP server standing for a firmware host and a diagnostics inbox: GET serves ``files`` by path,
    POST and PUT keep the body under the path; anything else answers 404."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.received: dict[str, bytes] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = server.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def do_POST(self):
                accepted = self.path.startswith("/inbox/")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if accepted:
                    server.received[self.path] = body
                self.send_response(201 if accepted else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


FIRMWARE = b"\x7fVGFW" + bytes(range(256)) * 4


@pytest.fixture
def file_server():
    server = FileServer({"/2.0.0": FIRMWARE})
    yield server
    server.stop()


async def test_a_simulated_station_boots_and_drivers_charge_end_to_end(daphne_server):
    station = await register()
    stats = await Simulation(["SIM-001"], config_for(daphne_server)).run(duration=2.2)

    assert stats.boots == 1
    assert stats.sessions_completed >= 1 and stats.sessions_refused == 0
    assert stats.calls_failed == 0
    await station.arefresh_from_db()
    assert (station.vendor, station.model, station.firmware_version) == ("Voltgrid", "Simulator AC22", "1.0.0")
    sessions = [t async for t in Transaction.objects.filter(station=station).order_by("started_at")]
    assert len(sessions) == stats.sessions_started
    # Every session ended cleanly: the driver left, or the run ended (the station stops what it charges).
    assert {t.status for t in sessions} == {"completed"} and not any(t.meter_mismatch for t in sessions)
    assert {t.stop_reason for t in sessions} <= {"EVDisconnected", "Local"}
    assert sessions[0].stop_reason == "EVDisconnected" and sessions[0].energy_wh > 0
    assert {t.id_tag for t in sessions} == {"SIMTAG01"}
    assert sum(t.energy_wh for t in sessions) == stats.energy_wh
    measurands = {m async for m in MeterSample.objects.filter(station=station).values_list("measurand", flat=True)}
    assert {"Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage", "SoC"} <= measurands
    statuses = [
        s
        async for s in ConnectorStatusEvent.objects.filter(station=station, connector_id=1)
        .order_by("timestamp")
        .values_list("status", flat=True)
    ]
    assert statuses[:4] == ["Available", "Preparing", "Charging", "Finishing"]
    assert await until(lambda: Station.objects.filter(pk=station.pk, is_online=False).aexists())


async def test_an_unknown_tag_is_refused_and_nothing_is_charged(daphne_server):
    station = await register(tags=())
    stats = await Simulation(["SIM-001"], config_for(daphne_server, id_tags=("NOBODY",))).run(duration=0.8)
    assert stats.sessions_refused >= 1 and stats.sessions_started == 0
    assert not await Transaction.objects.filter(station=station).aexists()


async def test_remote_start_and_stop_from_the_csms(daphne_server):
    station = await register()
    async with running(["SIM-001"], config_for(daphne_server, autostart=False)) as simulation:
        start = await station_call(
            station=station, action="RemoteStartTransaction", payload={"connectorId": 1, "idTag": "SIMTAG01"}
        )
        assert (start.status, start.response) == ("answered", {"status": "Accepted"})
        session = await remote_start_session_wait(command=start, wait=5)
        assert session is not None and session.connector_id == 1 and session.id_tag == "SIMTAG01"

        busy = await station_call(station=station, action="RemoteStartTransaction", payload={"idTag": "SIMTAG01"})
        assert busy.response == {"status": "Rejected"}  # its only connector is taken

        stop = await station_call(
            station=station, action="RemoteStopTransaction", payload={"transactionId": session.pk}
        )
        assert (stop.response, stop.transaction_id) == ({"status": "Accepted"}, session.pk)
        ended = await until(lambda: Transaction.objects.filter(pk=session.pk, status="completed").afirst())
        assert ended.stop_reason == "Remote"
        unknown = await station_call(station=station, action="RemoteStopTransaction", payload={"transactionId": 999999})
        assert unknown.response == {"status": "Rejected"}
        assert simulation.stats().commands_answered == 4


async def test_a_charging_profile_limits_the_power_the_station_draws(daphne_server):
    station = await register()
    async with running(["SIM-001"], config_for(daphne_server, autostart=False)) as simulation:
        simulated = simulation.stations[0]
        start = await station_call(station=station, action="RemoteStartTransaction", payload={"idTag": "SIMTAG01"})
        session = await remote_start_session_wait(command=start, wait=5)
        profile = {
            "chargingProfileId": 5,
            "transactionId": session.pk,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.5}]},
        }
        limited = await station_call(
            station=station, action="SetChargingProfile", payload={"connectorId": 1, "csChargingProfiles": profile}
        )
        assert limited.response == {"status": "Accepted"}
        assert simulated.power_limit_w(1) == pytest.approx(6.5 * 230 * 3)
        await asyncio.sleep(0.4)
        assert 0 < simulated.connectors[1].power_w <= 6.5 * 230 * 3

        composite = await station_call(
            station=station,
            action="GetCompositeSchedule",
            payload={"connectorId": 1, "duration": 600, "chargingRateUnit": "A"},
        )
        assert composite.response["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 6.5}]
        cleared = await station_call(station=station, action="ClearChargingProfile", payload={"id": 5})
        assert cleared.response == {"status": "Accepted"}
        assert simulated.power_limit_w(1) == 22_000


async def test_reset_ends_the_session_and_the_station_reconnects_and_boots_again(daphne_server):
    station = await register()
    async with running(["SIM-001"], config_for(daphne_server, autostart=False)) as simulation:
        simulated = simulation.stations[0]
        start = await station_call(station=station, action="RemoteStartTransaction", payload={"idTag": "SIMTAG01"})
        session = await remote_start_session_wait(command=start, wait=5)
        reset = await station_call(station=station, action="Reset", payload={"type": "Hard"})
        assert reset.response == {"status": "Accepted"}
        await until(lambda: simulated.stats.boots == 2)
        ended = await Transaction.objects.aget(pk=session.pk)
        assert (ended.status, ended.stop_reason) == ("completed", "HardReset")
        # Commands reach the new connection.
        assert (await station_call(station=station, action="ClearCache", payload={})).status == "answered"


async def test_a_new_authorization_key_is_used_on_the_next_connection(daphne_server):
    station = await register()
    new_password = "brand-new-secret-20b"  # 16 to 20 bytes, sent hex-encoded
    async with running(["SIM-001"], config_for(daphne_server, autostart=False)) as simulation:
        simulated = simulation.stations[0]

        @sync_to_async
        def change_password():
            station.set_password(new_password)
            station.save(update_fields=["password_hash"])

        await change_password()
        changed = await station_call(
            station=station,
            action="ChangeConfiguration",
            payload={"key": "AuthorizationKey", "value": new_password.encode().hex()},
        )
        assert changed.response == {"status": "Accepted"}
        await until(lambda: simulated.stats.boots == 2)
    assert simulated.password == new_password


COMMANDS = [
    ("ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}, {"status": "Accepted"}),
    ("ChangeAvailability", {"connectorId": 2, "type": "Operative"}, {"status": "Accepted"}),
    ("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "30"}, {"status": "Accepted"}),
    ("ChangeConfiguration", {"key": "NumberOfConnectors", "value": "4"}, {"status": "Rejected"}),
    ("ChangeConfiguration", {"key": "NoSuchKey", "value": "1"}, {"status": "NotSupported"}),
    (
        "GetConfiguration",
        {"key": ["MeterValueSampleInterval", "Nope"]},
        {
            "configurationKey": [{"key": "MeterValueSampleInterval", "readonly": False, "value": "30"}],
            "unknownKey": ["Nope"],
        },
    ),
    ("ClearCache", {}, {"status": "Accepted"}),
    ("ClearChargingProfile", {"id": 99}, {"status": "Unknown"}),
    ("DataTransfer", {"vendorId": "Voltgrid", "data": "ping"}, {"status": "Accepted", "data": "ping"}),
    ("DataTransfer", {"vendorId": "com.other"}, {"status": "UnknownVendorId"}),
    ("GetLocalListVersion", {}, {"listVersion": 0}),
    (
        "SendLocalList",
        {
            "listVersion": 3,
            "updateType": "Full",
            "localAuthorizationList": [{"idTag": "SIMTAG01", "idTagInfo": {"status": "Accepted"}}],
        },
        {"status": "Accepted"},
    ),
    ("SendLocalList", {"listVersion": 3, "updateType": "Differential"}, {"status": "VersionMismatch"}),
    ("GetLocalListVersion", {}, {"listVersion": 3}),
    (
        "ReserveNow",
        {"connectorId": 1, "expiryDate": "2099-01-01T00:00:00Z", "idTag": "SIMTAG01", "reservationId": 4},
        {"status": "Accepted"},
    ),
    (
        "ReserveNow",
        {"connectorId": 1, "expiryDate": "2099-01-01T00:00:00Z", "idTag": "OTHER", "reservationId": 5},
        {"status": "Occupied"},
    ),
    ("CancelReservation", {"reservationId": 4}, {"status": "Accepted"}),
    ("CancelReservation", {"reservationId": 4}, {"status": "Rejected"}),
    ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}, {"status": "Accepted"}),
    ("TriggerMessage", {"requestedMessage": "Heartbeat"}, {"status": "Accepted"}),
    ("UnlockConnector", {"connectorId": 1}, {"status": "Unlocked"}),
    ("UnlockConnector", {"connectorId": 7}, {"status": "NotSupported"}),
    ("RemoteStopTransaction", {"transactionId": 1}, {"status": "Rejected"}),
    (
        "SetChargingProfile",
        {
            "connectorId": 0,
            "csChargingProfiles": {
                "chargingProfileId": 1,
                "stackLevel": 0,
                "chargingProfilePurpose": "ChargePointMaxProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": {
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0}],
                },
            },
        },
        {"status": "Accepted"},
    ),
    # FILES: the file server's address (firmware is downloaded, and diagnostics uploaded, for real).
    ("GetDiagnostics", {"location": "FILES/inbox/first/"}, None),
    ("UpdateFirmware", {"location": "FILES/2.0.0", "retrieveDate": "2020-01-01T00:00:00Z"}, {}),
]


async def test_the_simulator_answers_every_csms_command_sensibly(daphne_server, file_server):
    station = await register()
    config = config_for(daphne_server, autostart=False, connectors=2)
    async with running(["SIM-001"], config) as simulation:
        simulated = simulation.stations[0]
        for action, payload, answer in COMMANDS:
            if "location" in payload:
                payload = {**payload, "location": payload["location"].replace("FILES", file_server.url)}
            command = await station_call(station=station, action=action, payload=payload)
            assert command.status == "answered", (action, command.error_description)
            if answer is not None:
                assert command.response == answer, action
        assert simulated.connectors[2].operative and simulated.power_limit_w(1) == 11_000
        location = f"{file_server.url}/inbox/second/"
        assert (
            (await station_call(station=station, action="GetDiagnostics", payload={"location": location}))
            .response["fileName"]
            .startswith("diagnostics-SIM-001-")
        )
        # The firmware update ends in a reboot into the new version, reported as Installed.
        await until(lambda: Station.objects.filter(pk=station.pk, firmware_version="2.0.0").aexists())
        await until(lambda: Station.objects.filter(pk=station.pk, firmware_status="Installed").aexists())
        await until(lambda: Station.objects.filter(pk=station.pk, diagnostics_status="Uploaded").aexists())
        await until(lambda: len(file_server.received) == 2, what="both diagnostics uploads")
    assert simulated.stats.boots == 2
    assert simulated.downloaded_firmware == FIRMWARE
    assert set(file_server.received) == {"/inbox/first/", "/inbox/second/"}
    assert b"SIM-001 Voltgrid Simulator AC22" in file_server.received["/inbox/second/"]


@pytest.mark.parametrize("location", ["FILES/missing.bin", "http://127.0.0.1:1/fw-9.bin", "ftp://fw.example.com/9"])
async def test_a_firmware_download_that_fails_is_reported_and_nothing_is_installed(
    daphne_server, file_server, location
):
    station = await register()
    payload = {"location": location.replace("FILES", file_server.url), "retrieveDate": "2020-01-01T00:00:00Z"}
    async with running(["SIM-001"], config_for(daphne_server, autostart=False)) as simulation:
        simulated = simulation.stations[0]
        assert (await station_call(station=station, action="UpdateFirmware", payload=payload)).status == "answered"
        await until(lambda: Station.objects.filter(pk=station.pk, firmware_status="DownloadFailed").aexists())
        await asyncio.sleep(0.2)  # long enough for an install the station must not start
        assert (simulated.firmware_status, simulated.firmware_version) == ("DownloadFailed", "1.0.0")
    assert simulated.stats.boots == 1 and simulated.downloaded_firmware is None


@pytest.mark.parametrize("location", ["FILES/not-an-inbox/", "http://127.0.0.1:1/inbox/", "ftp://diag.example.com/"])
async def test_a_diagnostics_upload_that_fails_is_reported_as_failed(daphne_server, file_server, location):
    station = await register()
    payload = {"location": location.replace("FILES", file_server.url)}
    async with running(["SIM-001"], config_for(daphne_server, autostart=False)):
        assert (await station_call(station=station, action="GetDiagnostics", payload=payload)).status == "answered"
        await until(lambda: Station.objects.filter(pk=station.pk, diagnostics_status="UploadFailed").aexists())
    assert not file_server.received


async def test_a_start_the_server_refuses_counts_as_refused_not_started(daphne_server):
    station = await register(tags=())
    async with running(["SIM-001"], config_for(daphne_server, autostart=False)) as simulation:
        simulated = simulation.stations[0]
        # As after a remote start (no Authorize first): the server hears of the unknown tag at StartTransaction.
        await simulated.start_session(1, "NOBODY", remote=True)
    stats = simulation.stats()
    assert (stats.sessions_started, stats.sessions_refused, stats.sessions_completed, stats.sessions_errored) == (
        0,
        1,
        0,
        0,
    )
    assert stats.energy_wh == 0
    refused = await Transaction.objects.aget(station=station)
    assert (refused.status, refused.id_tag, refused.stop_reason) == ("refused", "NOBODY", "DeAuthorized")


async def test_a_stop_answered_with_a_callerror_counts_as_errored_not_completed(daphne_server):
    await register()
    async with running(["SIM-001"], config_for(daphne_server, autostart=False)) as simulation:
        simulated = simulation.stations[0]
        session = simulated.start_session(1, "SIMTAG01", remote=True)
        await until(lambda: simulated.stats.sessions_started == 1)
        # Not a transaction id: the server answers the stop with PropertyConstraintViolation.
        simulated.connectors[1].transaction_id = 2**63
        simulated.stop_session(1, "Local")
        await session
    stats = simulation.stats()
    assert (stats.sessions_started, stats.sessions_completed, stats.sessions_errored, stats.call_errors) == (1, 0, 1, 1)
    assert stats.energy_wh == 0


def test_the_server_url_follows_the_server_when_none_is_given(tmp_path):
    address_file = tmp_path / "server-url"
    assert ocpp_url(environ={}, address_file=address_file) == "ws://127.0.0.1:8000/ocpp"
    assert ocpp_url(environ={"PORT": "18201"}) == "ws://127.0.0.1:18201/ocpp"  # as runcms reads it
    address_file.write_text("http://192.0.2.7:18201\n")  # a running runcms
    assert ocpp_url(environ={}, address_file=address_file) == "ws://192.0.2.7:18201/ocpp"
    assert ocpp_url(environ={"CMS_SERVER_URL": "https://cms.example.com"}, address_file=address_file) == (
        "wss://cms.example.com/ocpp"
    )
    assert ocpp_url(port=18300, environ={}, address_file=address_file) == "ws://127.0.0.1:18300/ocpp"
    assert ocpp_url(host="::1", port=18300, environ={}) == "ws://[::1]:18300/ocpp"


def test_the_car_charges_at_full_power_then_tapers_to_its_target():
    car = Car(battery_wh=50_000, max_power_w=11_000, soc=50, target_soc=100)
    assert car.power_w() == 11_000
    car.charge(17_500)  # +35 %
    assert car.soc == pytest.approx(85)
    assert car.power_w() == pytest.approx(11_000 * 0.75)
    car.charge(50_000)
    assert car.soc == 100 and car.power_w() == 0


def test_simulator_classes_are_importable_without_a_server():
    station = SimulatedStation("X-1", SimulatorConfig(connectors=3, seed=1))
    assert sorted(station.connectors) == [1, 2, 3]
    assert station.power_limit_w(1) == 22_000
    assert Simulation.station_ids("SIM-", 3) == ["SIM-001", "SIM-002", "SIM-003"]


def test_the_simulator_package_imports_nothing_of_the_server():
    """It runs anywhere a station would: no Django settings, none of the server's apps."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, simulator; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "simulator" in loaded
    assert not {"django", "cms", "stations", "sessions", "accounts", "billing", "analytics"} & set(loaded)


def test_simulate_command_creates_its_stations_and_tags_and_runs(daphne_server, capsys):
    out = io.StringIO()
    call_command(
        "simulate",
        "--create",
        "-n",
        "2",
        "--prefix",
        "DEMO-",
        "--tags",
        "DEMOTAG1",
        "--url",
        f"{daphne_server.ws_url}/ocpp",
        "--duration",
        "1.5",
        "--connectors",
        "1",
        "--session-seconds",
        "0.5",
        "--idle-seconds",
        "0.05-0.1",
        "--meter-interval",
        "0.2",
        "--report",
        "0",
        "--seed",
        "3",
        stdout=out,
    )
    assert "Registered 2 station(s) and 1 tag(s)." in out.getvalue()
    assert "Done: 2 boots" in out.getvalue()
    assert set(Station.objects.filter(ocpp_id__startswith="DEMO-").values_list("ocpp_id", flat=True)) == {
        "DEMO-001",
        "DEMO-002",
    }
    assert IdToken.objects.filter(token="DEMOTAG1").exists()
    assert Transaction.objects.filter(station__ocpp_id__startswith="DEMO-", status="completed").exists()
    # A second run with --create keeps the stations and the tag.
    call_command(
        "simulate",
        "--create",
        "-n",
        "2",
        "--prefix",
        "DEMO-",
        "--tags",
        "DEMOTAG1",
        "--url",
        f"{daphne_server.ws_url}/ocpp",
        "--duration",
        "0.3",
        "--report",
        "0",
        stdout=io.StringIO(),
    )
    assert Station.objects.filter(ocpp_id__startswith="DEMO-").count() == 2


def test_simulate_command_finds_the_server_by_its_port_and_prints_one_short_line_per_event(
    daphne_server, celery_eager, caplog, capsys
):
    port = daphne_server.http_url.rsplit(":", 1)[1]
    arguments = [
        "-n",
        "1",
        "--prefix",
        "QUIET-",
        "--tags",
        "QUIETTAG",
        "--port",
        port,
        "--duration",
        "1.5",
        "--connectors",
        "1",
        "--session-seconds",
        "0.4",
        "--idle-seconds",
        "0.05-0.1",
        "--meter-interval",
        "0.2",
        "--report",
        "0",
        "--seed",
        "3",
    ]
    out = io.StringIO()
    call_command("simulate", "--create", *arguments, stdout=out)
    assert f"against ws://127.0.0.1:{port}/ocpp" in out.getvalue()
    assert "Done: 1 boots" in out.getvalue() and " 0 errored" in out.getvalue()
    # The new tag's local-list job ran in-process without a trace; nothing went wrong, so nothing was said.
    assert not [record for record in caplog.records if record.name.split(".")[0] in ("celery", "kombu", "accounts")]
    assert capsys.readouterr().err == ""

    call_command("simulate", *arguments, "-v", "2", stdout=io.StringIO())
    events = capsys.readouterr().err.splitlines()
    assert any(line.endswith(" QUIET-001 booted") for line in events), events
    assert any(" QUIET-001 session completed " in line for line in events), events
    assert all(len(line) < 200 for line in events), events

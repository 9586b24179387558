"""The charge point simulator against a real daphne server: sessions end to end, and commands it answers."""

import asyncio
import io

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command

from accounts.models import IdToken, IdTokenEvent
from accounts.services import id_token_create
from sessions.models import MeterSample, Transaction
from stations.models import ConnectorStatusEvent, Station
from stations.protocol.commands import station_call
from stations.protocol.outbound import remote_start_session_wait
from stations.simulator import DEFAULT_PASSWORD, Car, SimulatedStation, Simulation, SimulatorConfig
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
    statuses = [s async for s in ConnectorStatusEvent.objects.filter(station=station, connector_id=1)
                .order_by("timestamp").values_list("status", flat=True)]
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
            "chargingProfileId": 5, "transactionId": session.pk, "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
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
            station=station, action="GetCompositeSchedule",
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
            station=station, action="ChangeConfiguration",
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
    ("GetConfiguration", {"key": ["MeterValueSampleInterval", "Nope"]}, {
        "configurationKey": [{"key": "MeterValueSampleInterval", "readonly": False, "value": "30"}],
        "unknownKey": ["Nope"],
    }),
    ("ClearCache", {}, {"status": "Accepted"}),
    ("ClearChargingProfile", {"id": 99}, {"status": "Unknown"}),
    ("DataTransfer", {"vendorId": "Voltgrid", "data": "ping"}, {"status": "Accepted", "data": "ping"}),
    ("DataTransfer", {"vendorId": "com.other"}, {"status": "UnknownVendorId"}),
    ("GetLocalListVersion", {}, {"listVersion": 0}),
    ("SendLocalList", {"listVersion": 3, "updateType": "Full", "localAuthorizationList": [
        {"idTag": "SIMTAG01", "idTagInfo": {"status": "Accepted"}}]}, {"status": "Accepted"}),
    ("SendLocalList", {"listVersion": 3, "updateType": "Differential"}, {"status": "VersionMismatch"}),
    ("GetLocalListVersion", {}, {"listVersion": 3}),
    ("ReserveNow", {"connectorId": 1, "expiryDate": "2099-01-01T00:00:00Z", "idTag": "SIMTAG01", "reservationId": 4},
     {"status": "Accepted"}),
    ("ReserveNow", {"connectorId": 1, "expiryDate": "2099-01-01T00:00:00Z", "idTag": "OTHER", "reservationId": 5},
     {"status": "Occupied"}),
    ("CancelReservation", {"reservationId": 4}, {"status": "Accepted"}),
    ("CancelReservation", {"reservationId": 4}, {"status": "Rejected"}),
    ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}, {"status": "Accepted"}),
    ("TriggerMessage", {"requestedMessage": "Heartbeat"}, {"status": "Accepted"}),
    ("UnlockConnector", {"connectorId": 1}, {"status": "Unlocked"}),
    ("UnlockConnector", {"connectorId": 7}, {"status": "NotSupported"}),
    ("RemoteStopTransaction", {"transactionId": 1}, {"status": "Rejected"}),
    ("SetChargingProfile", {"connectorId": 0, "csChargingProfiles": {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "ChargePointMaxProfile",
        "chargingProfileKind": "Absolute", "chargingSchedule": {
            "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0}]}}},
     {"status": "Accepted"}),
    ("GetDiagnostics", {"location": "ftp://diag.example.com/"}, None),
    ("UpdateFirmware", {"location": "https://fw.example.com/2.0.0", "retrieveDate": "2020-01-01T00:00:00Z"}, {}),
]


async def test_the_simulator_answers_every_csms_command_sensibly(daphne_server):
    station = await register()
    config = config_for(daphne_server, autostart=False, connectors=2)
    async with running(["SIM-001"], config) as simulation:
        simulated = simulation.stations[0]
        for action, payload, answer in COMMANDS:
            command = await station_call(station=station, action=action, payload=payload)
            assert command.status == "answered", (action, command.error_description)
            if answer is not None:
                assert command.response == answer, action
        assert simulated.connectors[2].operative and simulated.power_limit_w(1) == 11_000
        assert (await station_call(station=station, action="GetDiagnostics", payload={"location": "ftp://x/"})
                ).response["fileName"].startswith("diagnostics-SIM-001-")
        # The firmware update ends in a reboot into the new version, reported as Installed.
        await until(lambda: Station.objects.filter(pk=station.pk, firmware_version="2.0.0").aexists())
        await until(lambda: Station.objects.filter(pk=station.pk, firmware_status="Installed").aexists())
        await until(lambda: Station.objects.filter(pk=station.pk, diagnostics_status="Uploaded").aexists())
    assert simulated.stats.boots == 2


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


def test_simulate_command_creates_its_stations_and_tags_and_runs(daphne_server, capsys):
    out = io.StringIO()
    call_command(
        "simulate", "--create", "-n", "2", "--prefix", "DEMO-", "--tags", "DEMOTAG1", "--url",
        f"{daphne_server.ws_url}/ocpp", "--duration", "1.5", "--connectors", "1", "--session-seconds", "0.5",
        "--idle-seconds", "0.05-0.1", "--meter-interval", "0.2", "--report", "0", "--seed", "3", stdout=out,
    )
    assert "Registered 2 station(s) and 1 tag(s)." in out.getvalue()
    assert "Done: 2 boots" in out.getvalue()
    assert set(Station.objects.filter(ocpp_id__startswith="DEMO-").values_list("ocpp_id", flat=True)) == {
        "DEMO-001", "DEMO-002",
    }
    assert IdToken.objects.filter(token="DEMOTAG1").exists()
    assert Transaction.objects.filter(station__ocpp_id__startswith="DEMO-", status="completed").exists()
    # A second run with --create keeps the stations and the tag.
    call_command("simulate", "--create", "-n", "2", "--prefix", "DEMO-", "--tags", "DEMOTAG1", "--url",
                 f"{daphne_server.ws_url}/ocpp", "--duration", "0.3", "--report", "0", stdout=io.StringIO())
    assert Station.objects.filter(ocpp_id__startswith="DEMO-").count() == 2

"""The simulated OCPP 2.0.1 station against a real daphne server: boot, device model, sessions, the offline queue,
and the commands it answers; and a fleet of both versions at once."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from sessions.models import MeterSample, Transaction, TransactionEvent
from simulator import SimulatedStation201, Simulation, SimulatorConfig, mixed_versions
from stations.models import ConnectorStatusEvent, DeviceModelVariable, Station
from stations.protocol.commands import station_call
from stations.protocol.outbound import remote_start_session_wait
from tests.test_simulator import FAST, register
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _short_response_timeout(settings):
    settings.CMS_OCPP_RESPONSE_TIMEOUT = 5


def config_for(server, **overrides) -> SimulatorConfig:
    return SimulatorConfig(
        url=f"{server.ws_url}/ocpp", **{"connectors": 1, "id_tags": ("SIMTAG01",), **FAST, **overrides}
    )


def running(station_ids, config, versions=None):
    versions = versions or dict.fromkeys(station_ids, "2.0.1")
    return Simulation(station_ids, config, versions=versions).running()


async def sessions_of(station) -> list[Transaction]:
    return [t async for t in Transaction.objects.filter(station=station).order_by("started_at")]


async def test_it_boots_reports_its_device_model_and_drivers_charge(daphne_server):
    station = await register()
    config = config_for(daphne_server, session_seconds=(1.0, 1.0))
    stats = await Simulation(["SIM-001"], config, versions={"SIM-001": "2.0.1"}).run(duration=2.5)

    assert stats.boots == 1 and stats.call_errors == 0 and stats.calls_failed == 0
    assert stats.sessions_completed >= 1 and stats.sessions_refused == 0
    await station.arefresh_from_db()
    assert (station.ocpp_version, station.vendor, station.model) == ("2.0.1", "Voltgrid", "Simulator AC22")
    # The CSMS asked for the whole device model at the first boot; every variable is stored (ten per part).
    simulated = SimulatedStation201("SIM-001", config_for(daphne_server))
    assert await DeviceModelVariable.objects.filter(station=station).acount() == len(simulated.variables)
    password = await DeviceModelVariable.objects.aget(station=station, variable_name="BasicAuthPassword")
    assert (password.value, password.mutability, password.max_limit) == (None, "WriteOnly", 40)
    assert await DeviceModelVariable.objects.filter(station=station, component_name="EVSE", evse_id=1).aexists()

    sessions = await sessions_of(station)
    assert len(sessions) == stats.sessions_started
    assert {t.status for t in sessions} == {"completed"} and not any(t.meter_mismatch for t in sessions)
    assert sessions[0].stop_reason == "EVDisconnected" and sessions[0].energy_wh > 0
    assert {(t.id_tag, t.connector_id) for t in sessions} == {("SIMTAG01", 1)}
    assert sum(t.energy_wh for t in sessions) == stats.energy_wh
    events = [e async for e in TransactionEvent.objects.filter(transaction=sessions[0]).order_by("seq_no")]
    assert [e.seq_no for e in events] == list(range(len(events)))
    assert (events[0].event_type, events[0].trigger_reason, events[0].id_token) == ("Started", "Authorized", "SIMTAG01")
    assert events[1].charging_state == "Charging" and {e.event_type for e in events[1:-1]} == {"Updated"}
    assert (events[-1].event_type, events[-1].stopped_reason) == ("Ended", "EVDisconnected")
    assert not any(e.offline for e in events)
    measurands = {
        m async for m in MeterSample.objects.filter(transaction=sessions[0]).values_list("measurand", flat=True)
    }
    assert {"Energy.Active.Import.Register", "Power.Active.Import", "SoC"} <= measurands
    statuses = [
        s
        async for s in ConnectorStatusEvent.objects.filter(station=station, connector_id=1)
        .order_by("timestamp")
        .values_list("status", flat=True)
    ]
    # The station's StatusNotifications, and between them its chargingState in 1.6's words.
    assert [s for s in statuses if s in ("Available", "Occupied")][:3] == ["Available", "Occupied", "Available"]
    assert "Charging" in statuses


async def test_a_pending_station_answers_report_requests_and_boots_again_after_the_interval(node_servers):
    server = await sync_to_async(node_servers)(CMS_OCPP_HEARTBEAT_INTERVAL="1")
    station = await register()
    await Station.objects.filter(pk=station.pk).aupdate(registration_status="Pending")
    simulation = Simulation(["SIM-001"], config_for(server, autostart=False), versions={"SIM-001": "2.0.1"})
    simulated = simulation.stations[0]
    run = asyncio.create_task(simulation.run())
    try:
        await until(lambda: simulated.registration_status == "Pending")
        # B02.FR.09: while Pending, the CSMS may ask for a report, and the station sends it.
        report = await station_call(
            station=station, action="GetBaseReport", payload={"requestId": 3, "reportBase": "SummaryInventory"}
        )
        assert report.response == {"status": "Accepted"}
        await until(lambda: _count(station, 3, 1 + len(simulated.connectors)), what="the summary stored")
        assert not simulated.booted.is_set()
        await Station.objects.filter(pk=station.pk).aupdate(registration_status="Accepted")
        await until(lambda: simulated.booted.is_set(), within=5, what="accepted at the next boot")
    finally:
        simulation.stop()
        await run
    assert simulated.stats.boots == 1 and simulated.stats.call_errors == 0


async def test_events_of_a_disconnection_are_queued_and_sent_offline_in_order_counted_once(daphne_server):
    station = await register()
    config = config_for(daphne_server, autostart=False, reconnect_delay=1.0, meter_interval=0.1)
    async with running(["SIM-001"], config) as simulation:
        simulated = simulation.stations[0]
        session = simulated.start_session(1, "SIMTAG01")
        await until(lambda: simulated.stats.sessions_started == 1)
        await simulated._websocket.close()  # the network drops; the car charges on
        await until(lambda: not simulated.booted.is_set())
        await asyncio.sleep(0.35)
        offline_energy_from = int(simulated.connectors[1].energy_wh)
        simulated.stop_session(1, "Local")  # the driver leaves while the station is offline
        await until(lambda: simulated.stats.boots == 2, within=10)
        await asyncio.wait_for(session, 10)
    assert simulated.stats.sessions_completed == 1 and simulated.stats.call_errors == 0

    [ended] = await sessions_of(station)
    assert (ended.status, ended.stop_reason, ended.meter_mismatch) == ("completed", "Local", False)
    assert ended.energy_wh == simulated.stats.energy_wh > 0
    assert ended.meter_stop >= offline_energy_from
    events = [e async for e in TransactionEvent.objects.filter(transaction=ended).order_by("seq_no")]
    assert [e.seq_no for e in events] == list(range(len(events)))  # none lost, none stored twice
    offline = [e for e in events if e.offline]
    assert len(offline) >= 2 and offline[-1].event_type == "Ended"
    # Offline events come after the online ones, in the order they happened.
    assert [e.offline for e in events] == sorted(e.offline for e in events)
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)
    # The energy register samples are stored once each: one per event that carried one.
    registers = await MeterSample.objects.filter(transaction=ended, measurand="Energy.Active.Import.Register").acount()
    assert registers == len(events)


async def test_an_unknown_token_is_refused_at_authorize_and_nothing_is_charged(daphne_server):
    station = await register(tags=())
    stats = await Simulation(
        ["SIM-001"], config_for(daphne_server, id_tags=("NOBODY",)), versions={"SIM-001": "2.0.1"}
    ).run(duration=0.8)
    assert stats.sessions_refused >= 1 and stats.sessions_started == 0
    assert not await Transaction.objects.filter(station=station).aexists()


async def test_a_refused_id_token_info_ends_the_transaction(daphne_server):
    station = await register(tags=())
    async with running(["SIM-001"], config_for(daphne_server, autostart=False)) as simulation:
        simulated = simulation.stations[0]
        # As after a remote start without Authorize: the CSMS refuses the token in its answer to Started.
        simulated._remote_starts[1] = 77
        await asyncio.wait_for(simulated.start_session(1, "NOBODY", remote=True), 10)
    stats = simulation.stats()
    assert (stats.sessions_started, stats.sessions_refused, stats.sessions_completed) == (0, 1, 0)
    refused = await Transaction.objects.aget(station=station)
    assert (refused.status, refused.id_tag, refused.stop_reason, refused.remote_start_id) == (
        "refused",
        "NOBODY",
        "DeAuthorized",
        77,
    )


async def test_remote_start_and_stop_from_the_csms(daphne_server):
    station = await register()
    async with running(["SIM-001"], config_for(daphne_server, autostart=False)) as simulation:
        start = await station_call(
            station=station,
            action="RequestStartTransaction",
            payload={"idToken": {"idToken": "SIMTAG01", "type": "Central"}, "remoteStartId": 41, "evseId": 1},
        )
        assert (start.status, start.response) == ("answered", {"status": "Accepted"})
        session = await remote_start_session_wait(command=start, wait=5)
        assert session is not None and (session.connector_id, session.id_tag, session.remote_start_id) == (
            1,
            "SIMTAG01",
            41,
        )
        busy = await station_call(
            station=station,
            action="RequestStartTransaction",
            payload={"idToken": {"idToken": "SIMTAG01", "type": "Central"}, "remoteStartId": 42},
        )
        assert busy.response == {"status": "Rejected"}
        stop = await station_call(
            station=station, action="RequestStopTransaction", payload={"transactionId": session.ocpp_transaction_id}
        )
        assert stop.response == {"status": "Accepted"}
        ended = await until(lambda: Transaction.objects.filter(pk=session.pk, status="completed").afirst())
        assert ended.stop_reason == "Remote" and ended.id_token_type == "Central"
        unknown = await station_call(station=station, action="RequestStopTransaction", payload={"transactionId": "x"})
        assert unknown.response == {"status": "Rejected"}
    assert simulation.stats().commands_answered >= 4


def component(name, variable, instance=None, evse=None):
    return {
        "component": {"name": name, **({"evse": {"id": evse}} if evse else {})},
        "variable": {"name": variable, **({"instance": instance} if instance else {})},
    }


async def test_variables_are_read_and_written_and_a_new_password_is_used_on_reconnect(daphne_server):
    station = await register()
    new_password = "a-brand-new-password-0123"
    async with running(["SIM-001"], config_for(daphne_server, autostart=False)) as simulation:
        simulated = simulation.stations[0]
        await until(lambda: DeviceModelVariable.objects.filter(station=station).aexists())
        got = await station_call(
            station=station,
            action="GetVariables",
            payload={
                "getVariableData": [
                    component("OCPPCommCtrlr", "HeartbeatInterval"),
                    component("SecurityCtrlr", "BasicAuthPassword"),
                    component("EVSE", "Power", evse=1),
                    component("Nowhere", "Nothing"),
                    component("TxCtrlr", "Nothing"),
                ]
            },
        )
        results = [(r["attributeStatus"], r.get("attributeValue")) for r in got.response["getVariableResult"]]
        assert results == [
            ("Accepted", str(simulated.heartbeat_interval())),
            ("Rejected", None),  # write-only
            ("Accepted", "22000"),
            ("UnknownComponent", None),
            ("UnknownVariable", None),
        ]

        def setting(name, variable, value, instance=None):
            return {**component(name, variable, instance), "attributeValue": value}

        set_items = await station_call(
            station=station,
            action="SetVariables",
            payload={
                "setVariableData": [
                    setting("DeviceDataCtrlr", "ItemsPerMessage", "4", "GetReport"),
                    setting("SampledDataCtrlr", "TxUpdatedInterval", "soon"),
                    setting("ChargingStation", "Model", "Other"),
                ]
            },
        )
        assert [r["attributeStatus"] for r in set_items.response["setVariableResult"]] == [
            "Accepted",
            "Rejected",
            "Rejected",
        ]
        # A report now comes in parts of four: the ConfigurationInventory's writable variables.
        writable = [v for v in simulated.variables.values() if v.mutability != "ReadOnly"]
        report = await station_call(
            station=station, action="GetBaseReport", payload={"requestId": 7, "reportBase": "ConfigurationInventory"}
        )
        assert report.response == {"status": "Accepted"}
        await until(
            lambda: DeviceModelVariable.objects.filter(station=station, report_request_id=7).acount(),
            what="the report stored",
        )
        await until(
            lambda: _count(station, 7, len(writable)), what=f"{len(writable)} variables of report 7 in 4-item parts"
        )
        empty = await station_call(
            station=station,
            action="GetReport",
            payload={"requestId": 8, "componentVariable": [{"component": {"name": "Nowhere"}}]},
        )
        assert empty.response == {"status": "EmptyResultSet"}

        @sync_to_async
        def change_password():
            station.set_password(new_password)
            station.save(update_fields=["password_hash"])

        await change_password()
        changed = await station_call(
            station=station,
            action="SetVariables",
            payload={"setVariableData": [setting("SecurityCtrlr", "BasicAuthPassword", new_password)]},
        )
        assert changed.response["setVariableResult"][0]["attributeStatus"] == "Accepted"
        await until(lambda: simulated.stats.boots == 2)
    assert simulated.password == new_password


async def _count(station, request_id, expected) -> bool:
    return await DeviceModelVariable.objects.filter(station=station, report_request_id=request_id).acount() == expected


COMMANDS = [
    ("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 2}}, {"status": "Accepted"}),
    ("ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 2}}, {"status": "Accepted"}),
    ("ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 9}}, {"status": "Rejected"}),
    ("UnlockConnector", {"evseId": 1, "connectorId": 1}, {"status": "Unlocked"}),
    ("UnlockConnector", {"evseId": 7, "connectorId": 1}, {"status": "UnknownConnector"}),
    ("TriggerMessage", {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}}, None),
    ("TriggerMessage", {"requestedMessage": "Heartbeat"}, {"status": "Accepted"}),
    ("TriggerMessage", {"requestedMessage": "MeterValues", "evse": {"id": 1}}, {"status": "Accepted"}),
    ("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"}, {"status": "NotImplemented"}),
    ("Reset", {"type": "Immediate", "evseId": 1}, {"status": "Rejected"}),
]


async def test_the_station_answers_the_csms_commands_sensibly(daphne_server):
    station = await register()
    async with running(["SIM-001"], config_for(daphne_server, autostart=False, connectors=2)) as simulation:
        simulated = simulation.stations[0]
        for action, payload, answer in COMMANDS:
            command = await station_call(station=station, action=action, payload=payload)
            assert command.status == "answered", (action, command.error_description)
            if answer is not None:
                assert command.response == answer, action
        assert simulated.connectors[2].operative
        await until(lambda: ConnectorStatusEvent.objects.filter(station=station, status="Unavailable").aexists())

        # While charging, the cable stays locked; a reset ends the transaction and the station boots again.
        session = simulated.start_session(1, "SIMTAG01")
        await until(lambda: simulated.stats.sessions_started == 1)
        locked = await station_call(station=station, action="UnlockConnector", payload={"evseId": 1, "connectorId": 1})
        assert locked.response == {"status": "OngoingAuthorizedTransaction"}
        reset = await station_call(station=station, action="Reset", payload={"type": "Immediate"})
        assert reset.response == {"status": "Accepted"}
        await until(lambda: simulated.stats.boots == 2)
        await session
    ended = await Transaction.objects.aget(station=station)
    assert (ended.status, ended.stop_reason) == ("completed", "ImmediateReset")


async def test_a_fleet_of_both_versions_charges_at_once(daphne_server):
    ids = Simulation.station_ids("MIX-", 4)
    versions = mixed_versions(ids, 0.5)
    assert sorted(versions.values()) == ["1.6", "1.6", "2.0.1", "2.0.1"]
    for ocpp_id in ids:
        await register(ocpp_id, tags=())
    await register("MIX-001", tags=("SIMTAG01", "SIMTAG02", "SIMTAG03", "SIMTAG04"))
    tags = ("SIMTAG01", "SIMTAG02", "SIMTAG03", "SIMTAG04")
    config = config_for(daphne_server, id_tags=tags, session_seconds=(1.0, 1.0))
    stats = await Simulation(ids, config, versions=versions).run(duration=4.5)

    assert stats.boots == 4 and stats.call_errors == 0 and stats.sessions_errored == 0
    stations = {s.ocpp_id: s async for s in Station.objects.filter(ocpp_id__in=ids)}
    assert {ocpp_id: s.ocpp_version for ocpp_id, s in stations.items()} == versions
    for ocpp_id in ids:
        done = [t async for t in Transaction.objects.filter(station=stations[ocpp_id], status="completed")]
        assert done and sum(t.energy_wh for t in done) > 0, ocpp_id
    assert await Transaction.objects.filter(status="completed").acount() == stats.sessions_completed


def test_mixed_versions_spreads_the_share_evenly():
    ids = Simulation.station_ids("S-", 10)
    assert [n for n, v in mixed_versions(ids, 0.3).items() if v == "2.0.1"] == ["S-004", "S-007", "S-010"]
    assert set(mixed_versions(ids, 0).values()) == {"1.6"} and set(mixed_versions(ids, 1).values()) == {"2.0.1"}
    with pytest.raises(ValueError):
        mixed_versions(ids, 1.5)

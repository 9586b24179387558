"""OCPP 2.0.1 over the wire: the `ocpp` library's 2.0.1 charge point against the running server, each message
both ways, and the unhappy paths (credentials, Pending boot, unknown EVSE, bad payloads)."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
import websockets
from asgiref.sync import sync_to_async
from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from accounts.models import IdToken
from monitoring.models import Alert
from sessions.models import MeterSample
from stations.models import Connector, ConnectorStatusEvent, DeviceModelVariable, Station, StationCommand
from stations.protocol.commands import station_call
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import basic_auth_header, handshake_status, ocpp_connection
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)

V201 = ("ocpp2.0.1",)
NOW = "2026-03-01T10:00:00Z"


def evse_variable(evse_id, name="AvailabilityState", value="Available", connector_id=None):
    evse = {"id": evse_id, **({"connector_id": connector_id} if connector_id else {})}
    component = {"name": "Connector" if connector_id else "EVSE", "evse": evse}
    return {
        "component": component,
        "variable": {"name": name},
        "variable_attribute": [{"value": value, "mutability": "ReadOnly"}],
        "variable_characteristics": {
            "data_type": "OptionList",
            "values_list": "Available,Occupied,Faulted",
            "supports_monitoring": True,
        },
    }


# A two-EVSE station, the second EVSE with two connectors, and one writable variable with limits.
REPORT = [
    evse_variable(1),
    evse_variable(2),
    evse_variable(2, connector_id=1),
    evse_variable(2, connector_id=2),
    {
        "component": {"name": "OCPPCommCtrlr"},
        "variable": {"name": "HeartbeatInterval"},
        "variable_attribute": [
            {"type": "Actual", "value": "300", "mutability": "ReadWrite", "persistent": True, "constant": False},
            {"type": "MaxSet", "value": "3600", "mutability": "ReadOnly"},
        ],
        "variable_characteristics": {
            "data_type": "integer",
            "unit": "s",
            "min_limit": 10,
            "max_limit": 3600,
            "supports_monitoring": False,
        },
    },
]


class Station201(ChargePoint):
    """A 2.0.1 station that answers GetBaseReport with its REPORT in two NotifyReport parts."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.report_requests = []

    @on(Action.get_base_report)
    def on_get_base_report(self, request_id, report_base, **_):
        self.report_requests.append((request_id, report_base))
        return call_result.GetBaseReport(status="Accepted")

    @after(Action.get_base_report)
    async def send_report(self, request_id, **_):
        parts = [REPORT[:3], REPORT[3:]]
        for seq_no, part in enumerate(parts):
            await self.call(
                call.NotifyReport(
                    request_id=request_id,
                    generated_at=NOW,
                    seq_no=seq_no,
                    report_data=part,
                    tbc=seq_no < len(parts) - 1,
                )
            )


def boot(reason="PowerUp"):
    return call.BootNotification(
        charging_station={
            "vendor_name": "Kempower",
            "model": "S-Series",
            "serial_number": "KP-9",
            "firmware_version": "1.42.0",
            "modem": {"iccid": "8931", "imsi": "2040"},
        },
        reason=reason,
    )


def v201_connection(server, ocpp_id="CS-1", client_class=Station201, subprotocols=V201):
    return ocpp_connection(server, ocpp_id, STATION_PASSWORD, subprotocols=subprotocols, client_class=client_class)


async def whole_report_stored() -> bool:
    return await DeviceModelVariable.objects.acount() == len(REPORT) + 1  # HeartbeatInterval has two attributes


async def booted_with_device_model(cp) -> None:
    await cp.call(boot())
    await until(whole_report_stored, what="both report parts stored")


@pytest.fixture
def station(make_station):
    return make_station("CS-1")


# Handshake


async def test_offering_both_versions_chooses_2_0_1_and_records_it(daphne_server, station):
    async with v201_connection(daphne_server, subprotocols=("ocpp1.6", "ocpp2.0.1")) as cp:
        assert cp.websocket.subprotocol == "ocpp2.0.1"
        await until(lambda: Station.objects.filter(ocpp_id="CS-1", is_online=True).aexists(), what="online")
    assert (await Station.objects.aget(ocpp_id="CS-1")).ocpp_version == "2.0.1"


async def test_offering_only_1_6_still_gets_1_6(daphne_server, station):
    async with ocpp_connection(daphne_server, "CS-1", STATION_PASSWORD, subprotocols=("ocpp1.6",)) as cp:
        assert cp.websocket.subprotocol == "ocpp1.6"


async def test_missing_wrong_or_unknown_credentials_get_401_with_a_basic_challenge(daphne_server, station):
    # OCPP 2.0.1 Part 2, A00.FR.207 and the profile's handshake: 401 Unauthorized.
    assert await handshake_status(daphne_server, "CS-1", subprotocols=V201) == 401
    wrong = basic_auth_header("CS-1", "wrong-password")
    assert await handshake_status(daphne_server, "CS-1", wrong, subprotocols=V201) == 401
    other_user = basic_auth_header("CS-2", STATION_PASSWORD)
    assert await handshake_status(daphne_server, "CS-1", other_user, subprotocols=V201) == 401
    assert await handshake_status(daphne_server, "NOBODY", basic_auth_header("NOBODY", "x"), subprotocols=V201) == 401
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"{daphne_server.ws_url}/ocpp/CS-1", subprotocols=list(V201)):
            pass
    assert refused.value.response.headers["WWW-Authenticate"].startswith("Basic ")
    # A 1.6 handshake keeps daphne's 403 (tests/ocpp/test_handshake.py).
    assert await handshake_status(daphne_server, "CS-1", wrong, subprotocols=("ocpp1.6",)) == 403


# B Provisioning


async def test_accepted_boot_stores_the_station_and_asks_once_for_its_device_model(daphne_server, station):
    async with v201_connection(daphne_server) as cp:
        answer = await cp.call(boot())
        assert (answer.status, answer.interval) == ("Accepted", 300)
        await until(whole_report_stored, what="both report parts stored")
        assert cp.report_requests[0][1] == "FullInventory"
        heartbeat = await cp.call(call.Heartbeat())
        assert datetime.fromisoformat(heartbeat.current_time) > datetime.now(UTC) - timedelta(minutes=1)
    # Answered at once; the writer records it a moment later (stations.protocol.heartbeats).
    heard = Station.objects.filter(pk=station.pk, last_heartbeat_at__isnull=False)
    await until(heard.aexists, what="heartbeat recorded")
    stored = await Station.objects.aget(pk=station.pk)
    assert (stored.vendor, stored.model, stored.serial_number, stored.firmware_version) == (
        "Kempower",
        "S-Series",
        "KP-9",
        "1.42.0",
    )
    assert (stored.iccid, stored.imsi, stored.last_heartbeat_at is not None) == ("8931", "2040", True)

    interval = await DeviceModelVariable.objects.aget(variable_name="HeartbeatInterval", attribute_type="Actual")
    assert (interval.component_name, interval.value, interval.mutability) == ("OCPPCommCtrlr", "300", "ReadWrite")
    assert (interval.data_type, interval.unit, interval.min_limit, interval.max_limit) == ("integer", "s", 10, 3600)
    assert (interval.persistent, interval.constant, interval.supports_monitoring) == (True, False, False)
    maximum = await DeviceModelVariable.objects.aget(variable_name="HeartbeatInterval", attribute_type="MaxSet")
    assert maximum.value == "3600"
    connector = await DeviceModelVariable.objects.aget(component_name="Connector", evse_id=2, connector_id=2)
    assert (connector.values_list, connector.supports_monitoring) == ("Available,Occupied,Faulted", True)

    # The device model is known now: the next boot asks for nothing.
    async with v201_connection(daphne_server) as cp:
        await cp.call(boot(reason="RemoteReset"))
        await asyncio.sleep(0.5)
        assert cp.report_requests == []
    assert await StationCommand.objects.filter(action="GetBaseReport").acount() == 1


async def test_a_report_part_describing_known_variables_again_updates_them(daphne_server, station):
    async with v201_connection(daphne_server) as cp:
        await booted_with_device_model(cp)
        changed = {**REPORT[4], "variable_attribute": [{"type": "Actual", "value": "60", "mutability": "ReadWrite"}]}
        await cp.call(call.NotifyReport(request_id=9, generated_at=NOW, seq_no=0, report_data=[changed]))
    interval = await DeviceModelVariable.objects.aget(variable_name="HeartbeatInterval", attribute_type="Actual")
    assert (interval.value, interval.report_request_id) == ("60", 9)
    assert await DeviceModelVariable.objects.acount() == len(REPORT) + 1


async def test_pending_station_may_only_boot_until_the_csms_asks_for_a_report(daphne_server, make_station):
    await sync_to_async(make_station)("CS-1", registration_status=Station.RegistrationStatus.PENDING)
    async with v201_connection(daphne_server) as cp:
        assert (await cp.call(boot())).status == "Pending"
        for message in (
            call.Heartbeat(),
            call.StatusNotification(timestamp=NOW, connector_status="Available", evse_id=1, connector_id=1),
            call.NotifyReport(request_id=1, generated_at=NOW, seq_no=0, report_data=[REPORT[0]]),
        ):
            with pytest.raises(OCPPError) as refused:
                await cp.call(message, suppress=False)
            assert refused.value.code == "SecurityError"
        assert cp.report_requests == []  # a Pending boot is not asked for the device model by itself

        # B02.FR.09: the NotifyReport parts answering the CSMS's own GetBaseReport are taken while Pending.
        station = await Station.objects.aget(ocpp_id="CS-1")
        command = await station_call(
            station=station, action="GetBaseReport", payload={"requestId": 5, "reportBase": "FullInventory"}
        )
        assert (command.status, command.response) == ("answered", {"status": "Accepted"})
        await until(whole_report_stored, what="report stored while Pending")


async def test_rejected_station_gets_rejected_and_may_send_nothing_else(daphne_server, make_station):
    await sync_to_async(make_station)("CS-1", registration_status=Station.RegistrationStatus.REJECTED)
    async with v201_connection(daphne_server) as cp:
        assert (await cp.call(boot())).status == "Rejected"
        with pytest.raises(OCPPError) as refused:
            await cp.call(call.Heartbeat(), suppress=False)
        assert refused.value.code == "SecurityError"


# C Authorization


@pytest.fixture
def tokens(db):
    group = IdToken.objects.create(token="FLEET-1", type=IdToken.Type.CENTRAL)
    expiry = datetime(2030, 1, 1, tzinfo=UTC)
    IdToken.objects.create(token="04A2B3C4", type=IdToken.Type.ISO14443, parent=group, expires_at=expiry)
    IdToken.objects.create(token="E0040100", type=IdToken.Type.ISO15693)
    IdToken.objects.create(token="NL-TNM-C00122045-K", type=IdToken.Type.EMAID)
    IdToken.objects.create(token="APP-77", type=IdToken.Type.CENTRAL)
    IdToken.objects.create(token="1234", type=IdToken.Type.KEY_CODE)
    IdToken.objects.create(token="PARKING-9", type=IdToken.Type.LOCAL)
    IdToken.objects.create(token="00:1A:2B:3C:4D:5E", type=IdToken.Type.MAC_ADDRESS)
    IdToken.objects.create(token="STOLEN", status=IdToken.Status.BLOCKED)


@pytest.mark.parametrize(
    ("id_token", "token_type"),
    [
        ("04a2b3c4", "ISO14443"),
        ("E0040100", "ISO15693"),
        ("NL-TNM-C00122045-K", "eMAID"),
        ("APP-77", "Central"),
        ("1234", "KeyCode"),
        ("PARKING-9", "Local"),
        ("00:1A:2B:3C:4D:5E", "MacAddress"),
        ("", "NoAuthorization"),
    ],
)
async def test_every_id_token_type_is_authorized_by_the_same_rules(
    daphne_server, station, tokens, id_token, token_type
):
    async with v201_connection(daphne_server) as cp:
        await cp.call(boot())
        answer = await cp.call(call.Authorize(id_token={"id_token": id_token, "type": token_type}))
    assert answer.id_token_info["status"] == "Accepted"
    assert answer.id_token_info["personal_message"]["format"] == "UTF8"
    assert answer.id_token_info["language1"] == "en"


async def test_authorize_answers_group_expiry_and_why_a_token_is_refused(daphne_server, station, tokens):
    async with v201_connection(daphne_server) as cp:
        await cp.call(boot())
        member = await cp.call(call.Authorize(id_token={"id_token": "04A2B3C4", "type": "ISO14443"}))
        blocked = await cp.call(call.Authorize(id_token={"id_token": "STOLEN", "type": "ISO14443"}))
        unknown = await cp.call(call.Authorize(id_token={"id_token": "NOBODY", "type": "ISO14443"}))
    info = member.id_token_info
    assert info["group_id_token"] == {"id_token": "FLEET-1", "type": "Central"}
    assert datetime.fromisoformat(info["cache_expiry_date_time"]) == datetime(2030, 1, 1, tzinfo=UTC)
    assert blocked.id_token_info["status"] == "Blocked"
    assert blocked.id_token_info["personal_message"]["content"] == "This card is blocked."
    assert unknown.id_token_info["status"] == "Unknown"


# G Availability


async def test_status_of_each_evse_is_kept_apart_and_an_unknown_evse_is_refused(daphne_server, station):
    async with v201_connection(daphne_server) as cp:
        await booted_with_device_model(cp)
        await cp.call(call.StatusNotification(timestamp=NOW, connector_status="Occupied", evse_id=1, connector_id=1))
        await cp.call(
            call.StatusNotification(
                timestamp="2026-03-01T10:01:00Z", connector_status="Faulted", evse_id=2, connector_id=2
            )
        )
        with pytest.raises(OCPPError) as refused:
            await cp.call(
                call.StatusNotification(timestamp=NOW, connector_status="Available", evse_id=3, connector_id=1),
                suppress=False,
            )
    assert refused.value.code == "PropertyConstraintViolation"
    assert refused.value.details == {"path": "/evseId"}
    statuses = {c.connector_id: c.status async for c in Connector.objects.filter(station=station)}
    assert statuses == {1: "Occupied", 2: "Faulted"}
    assert await ConnectorStatusEvent.objects.filter(connector_id=3).acount() == 0


# J Metering


async def test_meter_values_of_an_evse_with_multiplier_and_signature_kept_as_received(daphne_server, station):
    signed = {
        "signed_meter_data": "T0NNRi1TaWduZWQ=",
        "signing_method": "ECDSA-secp256r1-SHA256",
        "encoding_method": "OCMF",
        "public_key": "MFkwEwYHKo",
    }
    now = datetime.now(UTC).isoformat()
    sampled = {
        "value": 12.5,
        "measurand": "Energy.Active.Import.Register",
        "context": "Sample.Clock",
        "unit_of_measure": {"unit": "Wh", "multiplier": 3},
        "signed_meter_value": signed,
    }
    async with v201_connection(daphne_server) as cp:
        await cp.call(boot())
        await cp.call(call.MeterValues(evse_id=1, meter_value=[{"timestamp": now, "sampled_value": [sampled]}]))
    sample = await MeterSample.objects.aget(measurand="Energy.Active.Import.Register")
    assert (sample.connector_id, sample.value, sample.unit, sample.transaction_id) == (1, 12500, "Wh", None)
    assert json.loads(sample.signed_data) == {
        "signedMeterData": "T0NNRi1TaWduZWQ=",
        "signingMethod": "ECDSA-secp256r1-SHA256",
        "encodingMethod": "OCMF",
        "publicKey": "MFkwEwYHKo",
    }
    connector = await Connector.objects.aget(station=station, connector_id=1)
    assert connector.energy_register_wh == 12500


# A Security, L Firmware, N log upload, P DataTransfer


async def test_security_event_firmware_log_status_and_data_transfer(daphne_server, station):
    async with v201_connection(daphne_server) as cp:
        await cp.call(boot())
        await cp.call(call.SecurityEventNotification(type="TamperDetectionActivated", timestamp=NOW, tech_info="lid"))
        await cp.call(call.FirmwareStatusNotification(status="Downloading", request_id=3))
        await cp.call(call.LogStatusNotification(status="Uploaded", request_id=4))
        transfer = await cp.call(call.DataTransfer(vendor_id="com.unknown", message_id="x", data="payload"))
    alert = await Alert.objects.aget(station=station, kind=Alert.Kind.SECURITY_EVENT)
    assert (alert.subject, alert.severity, alert.is_open) == ("TamperDetectionActivated", "critical", True)
    stored = await Station.objects.aget(pk=station.pk)
    assert (stored.firmware_status, stored.diagnostics_status) == ("Downloading", "Uploaded")
    assert transfer.status == "UnknownVendorId"


# N Diagnostics and the reports without a model yet


async def test_notify_event_updates_the_device_model_and_an_evse_fault_reaches_its_status(daphne_server, station):
    event = {
        "event_id": 1,
        "timestamp": NOW,
        "trigger": "Delta",
        "actual_value": "Faulted",
        "event_notification_type": "HardWiredNotification",
        "component": {"name": "EVSE", "evse": {"id": 2}},
        "variable": {"name": "AvailabilityState"},
    }
    async with v201_connection(daphne_server) as cp:
        await booted_with_device_model(cp)
        await cp.call(call.NotifyEvent(generated_at=NOW, seq_no=0, event_data=[event]))
    state = await DeviceModelVariable.objects.aget(component_name="EVSE", evse_id=2)
    assert state.value == "Faulted"
    assert (await Connector.objects.aget(station=station, connector_id=2)).status == "Faulted"


async def test_reports_without_a_model_are_answered(daphne_server, station):
    async with v201_connection(daphne_server) as cp:
        await cp.call(boot())
        await cp.call(call.NotifyMonitoringReport(request_id=1, seq_no=0, generated_at=NOW))
        await cp.call(call.NotifyCustomerInformation(data="none", seq_no=0, generated_at=NOW, request_id=2))
        await cp.call(call.NotifyDisplayMessages(request_id=3))
        await cp.call(call.ReservationStatusUpdate(reservation_id=4, reservation_update_status="Expired"))
        needs = await cp.call(call.NotifyEVChargingNeeds(charging_needs={"requested_energy_transfer": "DC"}, evse_id=1))
        schedule = await cp.call(
            call.NotifyEVChargingSchedule(
                time_base=NOW,
                evse_id=1,
                charging_schedule={
                    "id": 1,
                    "charging_rate_unit": "W",
                    "charging_schedule_period": [{"start_period": 0, "limit": 11000}],
                },
            )
        )
    assert (needs.status, schedule.status) == ("Processing", "Accepted")


# Bad payloads


async def test_a_payload_against_the_schema_gets_the_2_0_1_callerror(daphne_server, station):
    headers = basic_auth_header("CS-1", STATION_PASSWORD)
    async with websockets.connect(
        f"{daphne_server.ws_url}/ocpp/CS-1", subprotocols=list(V201), additional_headers=headers
    ) as ws:
        await ws.send(json.dumps([2, "b1", "BootNotification", {"reason": "PowerUp"}]))
        missing = json.loads(await asyncio.wait_for(ws.recv(), 5))
        await ws.send(
            json.dumps(
                [
                    2,
                    "b2",
                    "BootNotification",
                    {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V", "colour": "red"}},
                ]
            )
        )
        extra = json.loads(await asyncio.wait_for(ws.recv(), 5))
        await ws.send(json.dumps([2, "b3", "StartTransaction", {}]))
        other_version = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert missing[:3] == [4, "b1", "OccurenceConstraintViolation"]
    assert extra[:3] == [4, "b2", "FormatViolation"]
    assert other_version[:3] == [4, "b3", "NotImplemented"]

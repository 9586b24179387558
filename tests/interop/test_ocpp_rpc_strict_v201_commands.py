"""Every CSMS-initiated OCPP 2.0.1 command we build, sent to an independent strict peer (ocpp-rpc, Node.js).

ocpp-rpc in strict mode validates each CALL it is sent against the official 2.0.1 schemas and answers a
malformed one with a CALLERROR, so a builder of ``stations/protocol/v201/outbound.py`` that drifts from the
schema fails here even where our own schema check (the same files as our client library) would let it pass.
The peer's schema-valid answers are read back through ``outbound.answer_of``. The peer also runs a priced
session and sends the report parts the commands ask for, validating each CALLRESULT the CSMS returns.
"""

import asyncio
import json
import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from pki import crypto
from pki.models import IssuedCertificate
from stations.device_model import VariableRef
from stations.protocol import outbound
from stations.protocol.commands import CSMS_ACTIONS, station_call
from tests.factories import STATION_PASSWORD
from tests.pki.csr import csr_pem

NODE_PEER = Path(__file__).parent / "node"
V201 = "2.0.1"
TOKEN = "STRICT-TOKEN"
TRANSACTION = "TX-STRICT-1"
# What the CSMS can send that is built elsewhere than outbound.py (the firmware-publishing app).
NOT_BUILT_BY_OUTBOUND = {
    "PublishFirmware",
    "UnpublishFirmware",
}

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        shutil.which("node") is None or not (NODE_PEER / "node_modules" / "ocpp-rpc").exists(),
        reason="Node.js and `npm ci --prefix tests/interop/node` are needed (scripts/test installs them)",
    ),
]


def _tx_profile(purpose: str = "TxProfile") -> dict:
    return {
        "id": 31,
        "stackLevel": 0,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}
        ],
    }


def commands_to_send() -> dict[str, outbound.OutboundCall]:
    """Each verb of outbound.py with realistic arguments, under a name for the failure messages."""
    now = datetime.now(UTC).replace(microsecond=0)
    power = VariableRef("EVSE", "Power", evse_id=1, attribute_type="MaxSet")
    interval = VariableRef("SampledDataCtrlr", "TxUpdatedInterval")
    from accounts.selectors import LocalListEntry

    root = crypto.pem(crypto.ca_generate(common_name="Strict root", organization="Interop", valid_days=1, now=now)[0])
    return {
        "variables_get": outbound.variables_get(V201, variables=[interval, power]),
        "variables_set": outbound.variables_set(V201, variables=[(interval, "60"), (power, "11000")]),
        "report_base": outbound.report(V201, request_id=11, base="ConfigurationInventory"),
        "report_criteria": outbound.report(V201, request_id=12, criteria=["Problem", "Available"], variables=[power]),
        "network_profile_set": outbound.network_profile_set(
            V201,
            slot=1,
            connection_data={
                "ocppVersion": "OCPP20",
                "ocppTransport": "JSON",
                "ocppCsmsUrl": "wss://csms.example.com/ocpp",
                "messageTimeout": 30,
                "securityProfile": 2,
                "ocppInterface": "Wired0",
            },
        ),
        "reset_station": outbound.reset(V201, hard=True),
        "reset_evse": outbound.reset(V201, hard=False, evse_id=1),
        "unlock": outbound.unlock(V201, connector_id=1),
        "unlock_evse_connector": outbound.unlock(V201, evse_id=1, connector_id=1),
        "availability_station": outbound.change_availability(V201, operative=False),
        "availability_evse": outbound.change_availability(V201, operative=True, connector_id=1),
        "availability_evse_connector": outbound.change_availability(V201, operative=False, evse_id=1, connector_id=1),
        "password_set": outbound.password_set(V201, password="NewStationPassword2026"),
        "transaction_status": outbound.transaction_status(V201, transaction_id=TRANSACTION),
        "transaction_status_queue": outbound.transaction_status(V201),
        "cost_updated": outbound.cost_updated(V201, total_cost=Decimal("6.66"), transaction_id=TRANSACTION),
        "monitor_set": outbound.monitor_set(
            V201,
            component="EVSE",
            variable="Power",
            type="UpperThreshold",
            value=Decimal("22000"),
            severity=4,
            evse_id=1,
            monitor_id=7,
        ),
        "monitor_set_delta": outbound.monitor_set(
            V201,
            component="SampledDataCtrlr",
            variable="TxUpdatedInterval",
            type="Delta",
            value=5,
            severity=8,
            transaction=True,
        ),
        "monitors_clear": outbound.monitors_clear(V201, monitor_ids=[100, 101]),
        "monitoring_base_set": outbound.monitoring_base_set(V201, base="FactoryDefault"),
        "monitoring_level_set": outbound.monitoring_level_set(V201, severity=5),
        "monitoring_report": outbound.monitoring_report(V201, criteria=["ThresholdMonitoring", "DeltaMonitoring"]),
        "monitoring_report_all": outbound.monitoring_report(V201),
        "display_message_set": outbound.display_message_set(
            V201,
            message_id=5,
            priority="NormalCycle",
            content="Welcome",
            language="en",
            state="Idle",
            starts_at=now,
            ends_at=now + timedelta(hours=1),
        ),
        "display_message_set_transaction": outbound.display_message_set(
            V201,
            message_id=6,
            priority="InFront",
            content="<b>6.66 EUR</b>",
            format="HTML",
            transaction_id=TRANSACTION,
        ),
        "display_messages_get": outbound.display_messages_get(V201, message_ids=[5, 6], priority="NormalCycle"),
        "display_messages_get_all": outbound.display_messages_get(V201),
        "display_message_clear": outbound.display_message_clear(V201, message_id=5),
        "customer_information_token": outbound.customer_information(V201, report=True, clear=False, id_token=TOKEN),
        "customer_information_identifier": outbound.customer_information(
            V201, report=True, clear=True, customer_identifier="customer-42"
        ),
        "customer_information_certificate": outbound.customer_information(
            V201,
            report=False,
            clear=True,
            customer_certificate={
                "hashAlgorithm": "SHA256",
                "issuerNameHash": "a" * 64,
                "issuerKeyHash": "b" * 64,
                "serialNumber": "0F1E",
            },
        ),
        "local_list_full": outbound.local_list_send(
            V201,
            version=2,
            full=True,
            entries=[
                LocalListEntry(TOKEN, "ISO14443", "Accepted", now + timedelta(days=30), "GROUP-1"),
                LocalListEntry("BLOCKED-1", "Central", "Blocked", None, None),
            ],
        ),
        "local_list_differential_empty": outbound.local_list_send(V201, version=3, full=False, entries=[]),
        "local_list_version": outbound.local_list_version(V201),
        "local_list_settings_read": outbound.local_list_settings_read(V201),
        "charging_profiles_report": outbound.charging_profiles_report(
            V201, request_id=21, evse_id=1, purpose="TxDefaultProfile", stack_level=0
        ),
        "charging_profiles_report_all": outbound.charging_profiles_report(V201, request_id=22),
        "reserve": outbound.reserve(
            V201,
            reservation_id=9,
            expires_at=now + timedelta(minutes=30),
            id_token=TOKEN,
            id_token_type="ISO14443",
            connector_id=1,
            parent_id="GROUP-1",
        ),
        "reserve_any": outbound.reserve(
            V201, reservation_id=10, expires_at=now + timedelta(minutes=30), id_token=TOKEN
        ),
        "reservation_cancel": outbound.reservation_cancel(V201, reservation_id=9),
        "remote_start": outbound.remote_start(V201, id_token=TOKEN, connector_id=1, charging_profile=_tx_profile()),
        "remote_start_anywhere": outbound.remote_start(V201, id_token=TOKEN, id_token_type="ISO14443"),
        "remote_stop": outbound.remote_stop(V201, transaction_id=TRANSACTION),
        "trigger_status": outbound.trigger_message(V201, message="StatusNotification", connector_id=1),
        "trigger_log_status": outbound.trigger_message(V201, message="DiagnosticsStatusNotification"),
        "trigger_heartbeat": outbound.trigger_message(V201, message="Heartbeat"),
        "data_transfer": outbound.data_transfer(
            V201, vendor_id="com.voltgrid", message_id="ping", data={"sent": now.isoformat()}
        ),
        "get_log": outbound.diagnostics_upload(
            V201,
            location="https://logs.example.com/upload",
            request_id=4,
            start_time=(now - timedelta(days=1)).isoformat(),
            stop_time=now.isoformat(),
            retries=2,
            retry_interval=60,
        ),
        "update_firmware": outbound.firmware_update(
            V201,
            location="https://firmware.example.com/strict-1.1.0.bin",
            retrieve_date=now.isoformat(),
            request_id=5,
            retries=3,
            retry_interval=120,
        ),
        "charging_profile_set": outbound.charging_profile_set(
            V201,
            connector_id=1,
            profile=_tx_profile("TxDefaultProfile")
            | {"chargingProfileKind": "Absolute"}
            | {"chargingSchedule": [_tx_profile()["chargingSchedule"][0] | {"startSchedule": now.isoformat()}]},
        ),
        "charging_profile_clear_id": outbound.charging_profile_clear(V201, profile_id=31),
        "charging_profile_clear_criteria": outbound.charging_profile_clear(
            V201, connector_id=1, purpose="TxDefaultProfile", stack_level=0
        ),
        "composite_schedule": outbound.composite_schedule(V201, connector_id=1, duration=3600, rate_unit="W"),
        "clear_cache": outbound.clear_cache(V201),
        "certificate_signed": outbound.certificate_signed(V201, certificate_chain=root),
        "certificate_install": outbound.certificate_install(
            V201, certificate_type="CSMSRootCertificate", certificate=root
        ),
        "certificate_delete": outbound.certificate_delete(
            V201,
            hash_data={
                "hashAlgorithm": "SHA256",
                "issuerNameHash": "a" * 64,
                "issuerKeyHash": "b" * 64,
                "serialNumber": "1f",
            },
        ),
        "installed_certificate_ids": outbound.installed_certificate_ids(V201),
        "installed_certificate_ids_csms": outbound.installed_certificate_ids(
            V201, certificate_type="CSMSRootCertificate"
        ),
    }


async def _ready(peer) -> None:
    """Wait for the peer's session to end (it prints READY); else fail with what it printed."""
    try:
        line = await asyncio.wait_for(peer.stdout.readline(), 30)
    except TimeoutError:
        line = b""
    if line != b"READY\n":
        peer.kill()
        out, err = await peer.communicate()
        pytest.fail(f"The peer did not get ready: {(line + out + err).decode()}")


async def _finished(peer) -> tuple[bytes, bytes]:
    """Close the peer's stdin (it disconnects and prints what it saw); fail with its output if it hangs."""
    peer.stdin.close()
    try:
        await asyncio.wait_for(peer.wait(), 30)
    except TimeoutError:
        peer.kill()
        await peer.wait()
        pytest.fail(f"The peer did not finish: {(await peer.stdout.read() + await peer.stderr.read()).decode()}")
    return await peer.stdout.read(), await peer.stderr.read()


@pytest.fixture
def priced(db, driver):
    """The public tariff, for the session's final cost (TransactionEvent Ended's totalCost) and running cost."""
    from accounts.models import IdToken
    from billing.models import Operator, Tariff

    Operator.objects.create(name="Voltgrid", is_default=True, timezone="UTC", invoicing_mode="monthly")
    Tariff.objects.create(
        name="Standard",
        currency="EUR",
        tax_rate=Decimal("19"),
        valid_from=datetime(2020, 1, 1, tzinfo=UTC),
        price_per_kwh=Decimal("0.40"),
        price_per_minute=Decimal("0.10"),
        start_fee=Decimal("1.00"),
    )
    IdToken.objects.create(token=TOKEN, owner=driver)


async def test_every_2_0_1_command_is_schema_valid_to_a_strict_peer_and_its_answer_is_read(
    daphne_server, make_station, priced
):
    from monitoring.models import CustomerInformationRequest, DisplayMessage, VariableMonitor
    from smartcharging.models import EVChargingNeeds, ReportedChargingProfile
    from stations.device_model import variables_get, variables_set
    from stations.models import StationCommand

    station = await sync_to_async(make_station)("STRICT-CMD")
    to_send = commands_to_send()
    peer = await asyncio.create_subprocess_exec(
        "node",
        "strict_station_201_commands.mjs",
        f"{daphne_server.ws_url}/ocpp",
        "STRICT-CMD",
        STATION_PASSWORD,
        TOKEN,
        TRANSACTION,
        csr_pem("STRICT-CMD"),
        cwd=NODE_PEER,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await _ready(peer)
        sent = {
            name: await station_call(station=station, action=action, payload=payload)
            for name, (action, payload) in to_send.items()
        }
        # The device model's own senders (split by ItemsPerMessage) too.
        refs = [VariableRef("SampledDataCtrlr", "TxUpdatedInterval"), VariableRef("EVSE", "Power", evse_id=1)]
        read = await variables_get(station=station, variables=refs)
        written = await variables_set(station=station, values=[(refs[0], "30")])
        out, err = await _finished(peer)
    finally:
        if peer.returncode is None:
            peer.kill()
            await peer.wait()
    assert peer.returncode == 0, out.decode() + err.decode()
    peer_saw = json.loads(out.decode().splitlines()[-1])

    # Nothing either way failed the independent validator: our CALLs, and our CALLRESULTs to its messages.
    assert peer_saw["failures"] == []
    not_answered = {
        name: (c.status, c.error_code, c.error_description)
        for name, c in sent.items()
        if c.status != StationCommand.Status.ANSWERED
    }
    assert not_answered == {}
    # Every 2.0.1 action outbound.py can build reached the peer, as built.
    assert {action for action, _ in to_send.values()} == CSMS_ACTIONS[V201] - NOT_BUILT_BY_OUTBOUND
    received = [(call["method"], call["params"]) for call in peer_saw["received"]]
    for name, (action, payload) in to_send.items():
        assert (action, json.loads(json.dumps(payload, default=str))) in received, name

    answers = {name: outbound.answer_of(V201, command) for name, command in sent.items()}
    assert {name for name, answer in answers.items() if answer.outcome != outbound.Outcome.ACCEPTED} == set()
    assert answers["local_list_version"].data == {"version": 3}
    assert answers["transaction_status"].data == {"ongoing_indicator": False, "messages_in_queue": False}
    assert answers["get_log"].data == {"file_name": "diagnostics.log"}
    assert answers["composite_schedule"].data["schedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 11000}
    ]
    assert answers["data_transfer"].data == {"data": {"echo": to_send["data_transfer"].payload["data"]}}
    assert [result["status"] for result in answers["monitor_set"].data["results"]] == ["Accepted"]
    assert [result["id"] for result in answers["monitors_clear"].data["results"]] == [100, 101]
    assert [(r["component"], r["variable"], r["value"]) for r in answers["variables_get"].data["results"]] == [
        ("SampledDataCtrlr", "TxUpdatedInterval", "42"),
        ("EVSE", "Power", "42"),
    ]
    assert [r["status"] for r in answers["password_set"].data["results"]] == ["Accepted"]
    assert [(result.status, result.value) for result in read.results] == [("Accepted", "42"), ("Accepted", "42")]
    assert [result.status for result in written.results] == ["Accepted"]

    # The station's own messages, each answered schema-valid (failures above) and stored.
    station_answers = peer_saw["answers"]
    assert station_answers["BootNotification"]["status"] == "Accepted"
    assert station_answers["TransactionEventStarted"]["idTokenInfo"]["status"] == "Accepted"
    assert Decimal(str(station_answers["TransactionEventEnded"]["totalCost"])) > 0
    assert station_answers["NotifyEVChargingNeeds"] == {"status": "Processing"}
    for report in ("NotifyMonitoringReport", "NotifyDisplayMessages", "ReportChargingProfiles"):
        assert station_answers[report] == [{}, {}], report
    assert station_answers["NotifyCustomerInformation"] == [{}, {}]
    assert station_answers["ReservationStatusUpdate"] == [{}, {}]
    # Its CSR, answered at once, came back signed by our CA (CertificateSigned, strictly valid).
    assert station_answers["SignCertificate"] == {"status": "Accepted"}
    ours = to_send["certificate_signed"].payload["certificateChain"]
    [chain] = [
        p["certificateChain"]
        for method, p in received
        if method == "CertificateSigned" and p["certificateChain"] != ours
    ]
    issued = await IssuedCertificate.objects.select_related("authority").aget(station=station)
    assert chain == issued.certificate_pem and issued.delivery == "accepted"
    crypto.certificate_load(chain).verify_directly_issued_by(crypto.certificate_load(issued.authority.certificate_pem))
    assert answers["installed_certificate_ids"].data["certificates"][0]["certificate_type"] == "CSMSRootCertificate"
    # The running cost the CSMS sent by itself after the metered Updated event, besides ours.
    assert [method for method, _ in received].count("CostUpdated") == 2
    assert await VariableMonitor.objects.filter(station=station, monitor_id=7).aexists()
    assert await DisplayMessage.objects.filter(station=station, message_id=5).aexists()
    assert await CustomerInformationRequest.objects.filter(station=station).acount() == 2
    assert await ReportedChargingProfile.objects.filter(report__station=station, profile_id=31).acount() == 2
    assert await EVChargingNeeds.objects.filter(station=station).aexists()

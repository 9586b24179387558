"""ISO 15118 Plug & Charge over OCPP 2.0.1, from the `ocpp` library's client (which checks every frame against the
official schemas) to a daphne of this module's own with the test contract provider: a session started by the
contract alone, stored and priced for the eMAID's owner; revoked and unknown contracts; the certificate request
and OCSP round trips; and Plug & Charge off by default (the shared server)."""

import base64
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from cryptography import x509
from cryptography.x509 import ocsp
from ocpp.v201 import call

from accounts.models import IdToken
from billing.models import Operator, SessionCharge, Tariff
from plugandcharge.providers import testing
from sessions.models import Transaction
from tests.conftest import module_daphne, settle_before_teardown
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection

pytestmark = pytest.mark.django_db(transaction=True)

GOOD, REVOKED, UNKNOWN = "DEVGRC00000001", "DEVGRC00000666", "DEVGRC00000777"
T0 = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
EXI_REQUEST = base64.b64encode(b"\x80\x98\x02\x10CertificateInstallationReq of an EV").decode()


@pytest.fixture(scope="module")
def pnc_server(django_db_setup, django_db_blocker):
    """A daphne of this module's own, with the test PKI as its contract provider."""
    yield from module_daphne(django_db_blocker, CMS_PNC_PROVIDER="plugandcharge.providers.testing.TestingProvider")


@pytest.fixture(autouse=True)
def pnc_server_settles(request):
    """Its last writes end before the flush, as ``server_settles_before_teardown`` does for the shared server."""
    yield from settle_before_teardown(request, "pnc_server")


@pytest.fixture
def station(make_station):
    return make_station("PNC-1")


@pytest.fixture
def contract(driver):
    """The driver's contract, as their account lists it."""
    return IdToken.objects.create(token=GOOD, type=IdToken.Type.EMAID, owner=driver)


@pytest.fixture
def tariff(db):
    Operator.objects.create(name="Voltgrid", is_default=True, timezone="UTC")
    Tariff.objects.create(
        name="Standard",
        currency="EUR",
        tax_rate=Decimal("19"),
        valid_from=datetime(2020, 1, 1, tzinfo=UTC),
        price_per_kwh=Decimal("0.40"),
    )


def connect(server):
    return ocpp_connection(server, "PNC-1", STATION_PASSWORD, subprotocols=("ocpp2.0.1",))


def emaid_token(emaid):
    return {"id_token": emaid, "type": "eMAID"}


def authorize_by_hash_data(emaid):
    """What a station sends for a contract it cannot check itself: the OCSP data of its certificate."""
    return call.Authorize(id_token=emaid_token(emaid), iso15118_certificate_hash_data=[testing.ocsp_request(emaid)])


def authorize_by_certificate(emaid):
    return call.Authorize(id_token=emaid_token(emaid), certificate=testing.contract_certificate_pem(emaid))


def event(event_type, seq_no, minutes, wh, **fields):
    context = "Transaction.End" if event_type == "Ended" else "Transaction.Begin"
    return call.TransactionEvent(
        event_type=event_type,
        timestamp=(T0 + timedelta(minutes=minutes)).isoformat(),
        trigger_reason="Authorized" if event_type == "Started" else "EVCommunicationLost",
        seq_no=seq_no,
        transaction_info={"transaction_id": "PNC-TX-1", **fields.pop("transaction_info", {})},
        meter_value=[
            {
                "timestamp": (T0 + timedelta(minutes=minutes)).isoformat(),
                "sampled_value": [{"value": wh, "context": context, "measurand": "Energy.Active.Import.Register"}],
            }
        ],
        **fields,
    )


async def test_a_plug_and_charge_session_starts_without_a_card_and_is_priced_for_the_contract_owner(
    pnc_server, station, contract, driver, tariff
):
    async with connect(pnc_server) as cp:
        authorized = await cp.call(authorize_by_hash_data(GOOD))
        started = await cp.call(event("Started", 0, 0, 10_000, id_token=emaid_token(GOOD), evse={"id": 1}))
        ended = await cp.call(event("Ended", 1, 30, 15_000, transaction_info={"stopped_reason": "EVDisconnected"}))
    assert (authorized.certificate_status, authorized.id_token_info["status"]) == ("Accepted", "Accepted")
    assert started.id_token_info["status"] == "Accepted"
    session = await Transaction.objects.select_related("id_token__owner").aget(ocpp_transaction_id="PNC-TX-1")
    assert (session.id_token.type, session.id_token.owner, session.energy_wh) == ("eMAID", driver, 5000)
    charge = await SessionCharge.objects.aget(transaction=session)
    # 5 kWh at 0.40 EUR, plus 19 % tax.
    assert Decimal(str(ended.total_cost)) == charge.gross_amount == Decimal("2.38")
    assert charge.user_id == driver.pk


@pytest.mark.parametrize("authorize", [authorize_by_hash_data, authorize_by_certificate])
async def test_a_revoked_contract_is_blocked(pnc_server, station, driver, authorize):
    await IdToken.objects.acreate(token=REVOKED, type=IdToken.Type.EMAID, owner=driver)
    async with connect(pnc_server) as cp:
        answer = await cp.call(authorize(REVOKED))
    assert (answer.certificate_status, answer.id_token_info["status"]) == ("CertificateRevoked", "Blocked")


async def test_a_valid_contract_no_account_holds_is_unknown(pnc_server, station, contract):
    async with connect(pnc_server) as cp:
        answer = await cp.call(authorize_by_certificate(UNKNOWN))
        mismatched = await cp.call(
            call.Authorize(id_token=emaid_token(GOOD), certificate=testing.contract_certificate_pem(UNKNOWN))
        )
    assert (answer.certificate_status, answer.id_token_info["status"]) == ("Accepted", "Unknown")
    # The certificate of one contract does not authorise another's eMAID.
    assert (mismatched.certificate_status, mismatched.id_token_info["status"]) == ("CertChainError", "Invalid")


async def test_the_ev_certificate_request_is_answered_with_the_providers_response(pnc_server, station):
    async with connect(pnc_server) as cp:
        answer = await cp.call(
            call.Get15118EVCertificate(
                iso15118_schema_version="urn:iso:15118:2:2013:MsgDef", action="Install", exi_request=EXI_REQUEST
            )
        )
        refused = await cp.call(
            call.Get15118EVCertificate(iso15118_schema_version="", action="Update", exi_request="not base64!")
        )
    assert answer.status == "Accepted"
    issued = x509.load_der_x509_certificate(base64.b64decode(answer.exi_response))
    assert issued.issuer == testing.root()[1].subject
    assert (refused.status, refused.exi_response) == ("Failed", "")
    assert refused.status_info == {"reason_code": "ProviderFailed", "additional_info": "The EXI request is not base64."}


@pytest.mark.parametrize(
    ("emaid", "changes", "status"),
    [
        (GOOD, {}, ocsp.OCSPCertStatus.GOOD),
        (REVOKED, {}, ocsp.OCSPCertStatus.REVOKED),
        (GOOD, {"issuerNameHash": "ab" * 32}, ocsp.OCSPCertStatus.UNKNOWN),
    ],
)
async def test_certificate_status_answers_with_the_ocsp_response(pnc_server, station, emaid, changes, status):
    data = {**testing.ocsp_request(emaid), **changes}
    async with connect(pnc_server) as cp:
        answer = await cp.call(call.GetCertificateStatus(ocsp_request_data=data))
    assert answer.status == "Accepted"
    response = ocsp.load_der_ocsp_response(base64.b64decode(answer.ocsp_result))
    assert (response.certificate_status, response.serial_number) == (status, int(data["serialNumber"], 16))


async def test_an_unreadable_ocsp_request_fails_with_the_reason(pnc_server, station):
    data = {**testing.ocsp_request(GOOD), "serialNumber": "zz"}
    async with connect(pnc_server) as cp:
        answer = await cp.call(call.GetCertificateStatus(ocsp_request_data=data))
    assert (answer.status, answer.ocsp_result) == ("Failed", None)
    assert answer.status_info["additional_info"] == "The serial number and hashes must be hexadecimal."


async def test_plug_and_charge_is_off_without_a_provider(daphne_server, station, contract):
    async with connect(daphne_server) as cp:
        certificate = await cp.call(
            call.Get15118EVCertificate(iso15118_schema_version="", action="Install", exi_request=EXI_REQUEST)
        )
        authorized = await cp.call(authorize_by_hash_data(GOOD))
        # The same contract by its eMAID alone (no certificate data): the accounts rules as for any token.
        plain = await cp.call(call.Authorize(id_token=emaid_token(GOOD)))
    assert certificate.status == "Failed" and "CMS_PNC_PROVIDER" in certificate.status_info["additional_info"]
    assert (authorized.certificate_status, authorized.id_token_info["status"]) == ("CertChainError", "Invalid")
    assert (plain.certificate_status, plain.id_token_info["status"]) == (None, "Accepted")

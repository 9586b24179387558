"""SignCertificate → CertificateSigned against the real server, from the `ocpp` library's clients of both versions:
the station's CSR is answered at once, its certificate follows as a command and verifies against our CA; a bad
CSR is answered Rejected and recorded as a security event; the same CSR sent again gets the same certificate."""

import pytest
from asgiref.sync import sync_to_async
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from monitoring.models import Alert
from pki import crypto
from pki.models import IssuedCertificate
from stations.models import Station, StationCommand
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection
from tests.pki.csr import certificates_of, csr_pem, key_of, tampered
from tests.pki.v2g import v2g_pki
from tests.waiting import until

SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
BOTH_VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1"])


class Station16(ChargePoint16):
    chains: list

    @on(Action16.certificate_signed)
    def on_certificate_signed(self, certificate_chain, **_):
        self.chains.append((None, certificate_chain))  # 1.6 signs only the charge point's own certificate
        return result16.CertificateSigned(status="Accepted")

    async def sign(self, csr, certificate_type=None):
        return await self.call(call16.SignCertificate(csr=csr))

    @on(Action16.extended_trigger_message)
    def on_trigger(self, requested_message, **_):
        return result16.ExtendedTriggerMessage(status="Accepted")

    @after(Action16.extended_trigger_message)
    async def renew(self, requested_message, **_):
        if requested_message == "SignChargePointCertificate":
            self.renewal_key = key_of()
            await self.sign(csr_pem(self.id, key=self.renewal_key))


class Station201(ChargePoint201):
    chains: list

    @on(Action201.certificate_signed)
    def on_certificate_signed(self, certificate_chain, certificate_type=None, **_):
        self.chains.append((certificate_type, certificate_chain))
        return result201.CertificateSigned(status="Accepted")

    async def sign(self, csr, certificate_type=None):
        return await self.call(call201.SignCertificate(csr=csr, certificate_type=certificate_type))

    @on(Action201.trigger_message)
    def on_trigger(self, requested_message, **_):
        return result201.TriggerMessage(status="Accepted")

    @after(Action201.trigger_message)
    async def renew(self, requested_message, **_):
        if requested_message == "SignChargingStationCertificate":
            self.renewal_key = key_of()
            await self.sign(csr_pem(self.id, key=self.renewal_key), "ChargingStationCertificate")


CLIENTS = {"1.6": Station16, "2.0.1": Station201}


@pytest.fixture(autouse=True)
def _short_response_timeout(settings):
    settings.CMS_OCPP_RESPONSE_TIMEOUT = 5


def connected(server, version):
    client_class = type(f"Signing{version}", (CLIENTS[version],), {"chains": []})
    return ocpp_connection(
        server, "CP-1", STATION_PASSWORD, subprotocols=(SUBPROTOCOL[version],), client_class=client_class
    )


async def wait_online():
    await until(
        lambda: Station.objects.filter(ocpp_id="CP-1", is_online=True).exclude(channel_name="").aexists(),
        within=5,
        what="CP-1 online",
        every=0.02,
    )


async def delivered(client, count=1):
    await until(lambda: len(client.chains) >= count, within=10, what="CertificateSigned", every=0.05)
    return client.chains[count - 1]


@pytest.mark.django_db(transaction=True)
@BOTH_VERSIONS
@pytest.mark.parametrize("kind", ["ec256", "rsa2048"])
async def test_a_station_csr_comes_back_signed_by_our_ca(daphne_server, make_station, version, kind):
    await sync_to_async(make_station)("CP-1")
    key = key_of(kind)
    async with connected(daphne_server, version) as client:
        await wait_online()
        answer = await client.sign(csr_pem("CP-1", key=key))
        assert answer.status == "Accepted"
        certificate_type, chain = await delivered(client)

    assert certificate_type == (None if version == "1.6" else "ChargingStationCertificate")
    [leaf] = certificates_of(chain)
    issued = await IssuedCertificate.objects.select_related("authority").aget(station__ocpp_id="CP-1")
    ca = crypto.certificate_load(issued.authority.certificate_pem)
    leaf.verify_directly_issued_by(ca)
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
    assert crypto.serial_hex(leaf.serial_number) == issued.serial_number
    assert issued.fingerprint_sha256 == crypto.fingerprint(leaf)
    assert issued.not_after == leaf.not_valid_after_utc
    await until(
        lambda: IssuedCertificate.objects.filter(pk=issued.pk, delivery="accepted").aexists(),
        within=5,
        what="the delivery recorded",
    )
    issued = await IssuedCertificate.objects.select_related("delivery_command").aget(pk=issued.pk)
    assert issued.delivery_command.action == "CertificateSigned"
    assert issued.delivery_command.status == StationCommand.Status.ANSWERED


@pytest.mark.django_db(transaction=True)
async def test_a_201_v2g_certificate_is_signed_for_the_secc_id_by_the_v2g_ca(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1")
    v2g = await sync_to_async(v2g_pki)()
    async with connected(daphne_server, "2.0.1") as client:
        await wait_online()
        answer = await client.sign(csr_pem("DEABCS0000000000000000000000000000001"), "V2GCertificate")
        assert answer.status == "Accepted"
        certificate_type, chain = await delivered(client)
    assert certificate_type == "V2GCertificate"
    leaf, sub_ca_2, sub_ca_1 = certificates_of(chain)  # up to the V2G root, which the EV holds
    assert (sub_ca_2, sub_ca_1) == (v2g.sub_ca_2, v2g.sub_ca_1)
    leaf.verify_directly_issued_by(v2g.sub_ca_2)
    [common_name] = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert common_name.value == "DEABCS0000000000000000000000000000001"
    usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.SERVER_AUTH]  # the SECC is the TLS server to the car, no client
    issued = await IssuedCertificate.objects.select_related("authority").aget()
    assert issued.authority.purpose == "v2g"


@pytest.mark.django_db(transaction=True)
async def test_without_a_v2g_ca_an_secc_csr_is_rejected_and_the_station_ca_signs_nothing(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1")
    async with connected(daphne_server, "2.0.1") as client:
        await wait_online()
        answer = await client.sign(csr_pem("CP-2"), "V2GCertificate")
    assert answer.status == "Rejected"
    assert "pki_import_ca --v2g" in answer.status_info["additional_info"]
    assert client.chains == []
    assert not await IssuedCertificate.objects.aexists()


@pytest.mark.django_db(transaction=True)
@BOTH_VERSIONS
@pytest.mark.parametrize(
    ("bad_csr", "reason"),
    [
        (lambda: csr_pem("CP-2"), "must be the station's id"),
        (lambda: csr_pem("CP-1", key=key_of("rsa1024")), "RSA key of 1024 bits"),
        (lambda: tampered(csr_pem("CP-1")), "signature does not verify"),
    ],
    ids=["wrong CN", "weak key", "bad signature"],
)
async def test_a_bad_csr_is_rejected_and_recorded_as_a_security_event(
    daphne_server, make_station, version, bad_csr, reason
):
    await sync_to_async(make_station)("CP-1")
    async with connected(daphne_server, version) as client:
        await wait_online()
        answer = await client.sign(bad_csr())
        assert answer.status == "Rejected"
        if version == "2.0.1":
            assert answer.status_info["reason_code"] == "InvalidCSR"
    assert client.chains == []
    assert not await IssuedCertificate.objects.aexists()
    alert = await Alert.objects.aget(station__ocpp_id="CP-1", kind=Alert.Kind.SECURITY_EVENT)
    assert alert.subject == "CertificateSigningRequestRefused"
    assert reason in alert.details["tech_info"]


@pytest.mark.django_db(transaction=True)
@BOTH_VERSIONS
async def test_the_same_csr_sent_again_gets_the_same_certificate(daphne_server, make_station, version):
    await sync_to_async(make_station)("CP-1")
    csr = csr_pem("CP-1")
    async with connected(daphne_server, version) as client:
        await wait_online()
        assert (await client.sign(csr)).status == "Accepted"
        first = (await delivered(client, 1))[1]
        assert (await client.sign(csr)).status == "Accepted"
        again = (await delivered(client, 2))[1]
    assert first == again
    assert await IssuedCertificate.objects.acount() == 1


@pytest.fixture
def admin_api(operator_admin):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=operator_admin).key}")
    return client


def post(api, path, data=None):
    return sync_to_async(api.post, thread_sensitive=False)(
        f"/api/stations/CP-1/certificates/{path}", data or {}, format="json"
    )


@pytest.mark.django_db(transaction=True)
@BOTH_VERSIONS
async def test_the_operator_asks_for_a_new_certificate_and_the_station_gets_one_for_its_new_key(
    daphne_server, make_station, admin_api, version
):
    await sync_to_async(make_station)("CP-1")
    async with connected(daphne_server, version) as client:
        await wait_online()
        response = await post(admin_api, "renew/")
        assert response.status_code == 200, response.json()
        assert response.json()["outcome"] == "accepted"
        expected = "ExtendedTriggerMessage" if version == "1.6" else "TriggerMessage"
        assert response.json()["command"]["action"] == expected
        _, chain = await delivered(client)
    [leaf] = certificates_of(chain)
    assert leaf.public_key().public_numbers() == client.renewal_key.public_key().public_numbers()


@pytest.mark.django_db(transaction=True)
async def test_a_certificate_is_sent_again_on_request_and_a_16_station_gets_no_v2g_renewal(
    daphne_server, make_station, admin_api
):
    await sync_to_async(make_station)("CP-1")
    async with connected(daphne_server, "1.6") as client:
        await wait_online()
        assert (await client.sign(csr_pem("CP-1"))).status == "Accepted"
        _, first = await delivered(client)
        issued = await IssuedCertificate.objects.aget()
        again = await post(admin_api, f"{issued.serial_number}/deliver/")
        assert again.status_code == 200, again.json()
        assert again.json()["delivery"] == "accepted"
        assert (await delivered(client, 2))[1] == first
        refused = await post(admin_api, "renew/", {"certificate_type": "V2GCertificate"})
        assert refused.status_code == 400
        assert "OCPP 1.6 has no V2GCertificate" in refused.json()["detail"]

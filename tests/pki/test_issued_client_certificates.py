"""The CSMS's own CA behind security profile 3, over real TLS: a certificate it signed for a station's CSR logs that
station in at daphne's ``mtls:`` endpoint (the CA file written by ``pki_export_ca``) and stops doing so once
revoked; an ISO 15118 SECC (V2G) certificate, whose CN the CSMS cannot check, never logs any station in."""

import pytest
from asgiref.sync import sync_to_async
from cryptography.hazmat.primitives import serialization

from pki import services
from stations.models import Station
from tests.conftest import module_daphne, settle_before_teardown
from tests.ocpp.certificates import station_pki
from tests.ocpp.test_client_certificates import REFUSED, boot, client_context, handshake, station_client
from tests.pki.csr import csr_pem, key_of
from tests.pki.v2g import v2g_pki

pytestmark = pytest.mark.django_db(transaction=True)

PROFILE_3 = Station.SecurityProfile.TLS_CLIENT_CERTIFICATE
BOTH_VERSIONS = pytest.mark.parametrize("subprotocol", ["ocpp2.0.1", "ocpp1.6"])


@pytest.fixture
def tls(tmp_path):
    """The server's certificate and the CA stations trust it by (the station side is the CSMS's CA, below)."""
    return station_pki(tmp_path)


@pytest.fixture
def client_ca_file(transactional_db, tmp_path, settings):
    """The CSMS's CA, generated and exported where daphne's client verification reads it."""
    path = services.ca_export(path=str(tmp_path / "client-ca.pem"))
    settings.CMS_OCPP_CLIENT_CA_FILE = str(path)
    return path


@pytest.fixture
def mtls_server(django_db_blocker, tls, client_ca_file):
    endpoint = f"mtls:{{port}}:interface=127.0.0.1:privateKey={tls.server.key_path}:certKey={tls.server.cert_path}"
    yield from module_daphne(django_db_blocker, endpoint, CMS_OCPP_CLIENT_CA_FILE=str(client_ca_file))


@pytest.fixture(autouse=True)
def mtls_server_settles(request):
    yield from settle_before_teardown(request, "mtls_server")


class Held:
    """A certificate the CSMS issued and the key it was requested with, as files a TLS client loads."""

    def __init__(self, directory, name, issued, key):
        self.cert_path, self.key_path = directory / f"{name}.pem", directory / f"{name}.key"
        self.cert_path.write_text(issued.certificate_pem)
        self.key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


def signed(station, common_name, directory, name, certificate_type="ChargingStationCertificate") -> Held:
    key = key_of()
    issued = services.certificate_sign_request(
        station=station, csr=csr_pem(common_name, key=key), certificate_type=certificate_type
    )
    return Held(directory, name, issued, key)


@BOTH_VERSIONS
async def test_a_certificate_our_ca_signed_logs_its_station_in_until_revoked(
    mtls_server, tls, make_station, tmp_path, subprotocol
):
    station = await sync_to_async(make_station)("CP-1", password=None, security_profile=PROFILE_3)
    held = await sync_to_async(signed)(station, "CP-1", tmp_path, "cp1")
    async with station_client(mtls_server, "CP-1", client_context(tls, held), subprotocol) as client:
        assert await boot(client, subprotocol) == "Accepted"

    issued = await station.issued_certificates.aget()
    await sync_to_async(services.certificate_revoke)(certificate=issued, reason="keyCompromise")
    assert await handshake(mtls_server, "CP-1", client_context(tls, held), subprotocol) == REFUSED[subprotocol]


async def test_a_v2g_certificate_never_logs_a_station_in(mtls_server, tls, make_station, tmp_path):
    """A station may ask for an SECC certificate of any CN (its SECC-ID): were it signed by the station CA, any
    station could so get a client certificate naming another and log in as it."""
    await sync_to_async(make_station)("CP-1", password=None, security_profile=PROFILE_3)
    other = await sync_to_async(make_station)("CP-2")
    await sync_to_async(v2g_pki)()
    secc = await sync_to_async(signed)(other, "CP-1", tmp_path, "secc", "V2GCertificate")
    assert await handshake(mtls_server, "CP-1", client_context(tls, secc), "ocpp2.0.1") == "tls"

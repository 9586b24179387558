"""Security profile 3, daphne terminating TLS itself (the ``mtls:`` endpoint): a station logs in with a client
certificate of the station CA whose CN is its id, no password; an expired certificate, one of another CA, or none
fails the TLS handshake; a certificate of another station is refused like wrong credentials; a profile-3
station never falls back to its password, and a station of profile 1 or 2 still needs its password."""

import asyncio
import contextlib
import ssl

import pytest
import websockets
from asgiref.sync import sync_to_async
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from stations.models import Station
from tests.conftest import module_daphne, settle_before_teardown
from tests.factories import STATION_PASSWORD
from tests.ocpp.certificates import station_pki
from tests.ocpp_client import basic_auth_header

pytestmark = pytest.mark.django_db(transaction=True)

PROFILE_3 = Station.SecurityProfile.TLS_CLIENT_CERTIFICATE
REFUSED = {"ocpp1.6": 403, "ocpp2.0.1": 401}  # what each version answers wrong credentials with
BOTH_VERSIONS = pytest.mark.parametrize("subprotocol", ["ocpp2.0.1", "ocpp1.6"])


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return station_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(autouse=True)
def station_ca_configured(settings, pki):
    """This process creates profile-3 stations, which takes a configured station CA."""
    settings.CMS_OCPP_CLIENT_CA_FILE = str(pki.station_ca.cert_path)


@pytest.fixture(scope="module")
def mtls_server(django_db_setup, django_db_blocker, pki):
    """daphne with the documented ``mtls:`` endpoint; the CA file comes from the environment, as in production."""
    endpoint = f"mtls:{{port}}:interface=127.0.0.1:privateKey={pki.server.key_path}:certKey={pki.server.cert_path}"
    yield from module_daphne(django_db_blocker, endpoint, CMS_OCPP_CLIENT_CA_FILE=str(pki.station_ca.cert_path))


@pytest.fixture(scope="module")
def mtls_optional_server(django_db_setup, django_db_blocker, pki):
    """The ``mtls:`` endpoint with ``clientCertificate=optional``: every profile on one port."""
    endpoint = (
        f"mtls:{{port}}:interface=127.0.0.1:privateKey={pki.server.key_path}:certKey={pki.server.cert_path}"
        f":caCerts={pki.station_ca.cert_path}:clientCertificate=optional"
    )
    yield from module_daphne(django_db_blocker, endpoint)


@pytest.fixture(autouse=True)
def mtls_servers_settle(request):
    """Their last writes (offline marks, message log, node lease) end before the flush, whose TRUNCATE would
    otherwise deadlock with them, as ``server_settles_before_teardown`` does for the shared server."""
    for server_fixture in ("mtls_server", "mtls_optional_server"):
        if server_fixture in request.fixturenames:
            yield from settle_before_teardown(request, server_fixture)
            return
    yield


def client_context(pki, issued=None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.server_ca.cert_path))
    if issued is not None:
        context.load_cert_chain(str(issued.cert_path), str(issued.key_path))
    return context


@contextlib.asynccontextmanager
async def station_client(server, ocpp_id, context, subprotocol, password=None):
    """The `ocpp` library's charge point of the offered version, connected over TLS with ``context``."""
    from ocpp.v16 import ChargePoint as ChargePoint16
    from ocpp.v201 import ChargePoint as ChargePoint201

    headers = basic_auth_header(ocpp_id, password) if password else {}
    async with websockets.connect(
        f"{server.ws_url}/ocpp/{ocpp_id}", subprotocols=[subprotocol], additional_headers=headers, ssl=context
    ) as ws:
        client = (ChargePoint201 if ws.subprotocol == "ocpp2.0.1" else ChargePoint16)(ocpp_id, ws)
        task = asyncio.create_task(client.start())
        try:
            yield client
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def boot(client, subprotocol) -> str:
    if subprotocol == "ocpp1.6":
        answer = await client.call(call16.BootNotification(charge_point_vendor="Voltgrid", charge_point_model="M3"))
    else:
        station = {"vendor_name": "Voltgrid", "model": "M3"}
        answer = await client.call(call201.BootNotification(charging_station=station, reason="PowerUp"))
    return answer.status


async def handshake(server, ocpp_id, context, subprotocol, password=None) -> int | str:
    """101 when accepted, the HTTP status of a refused upgrade, or "tls" when the TLS handshake itself failed."""
    headers = basic_auth_header(ocpp_id, password) if password else {}
    try:
        async with websockets.connect(
            f"{server.ws_url}/ocpp/{ocpp_id}", subprotocols=[subprotocol], additional_headers=headers, ssl=context
        ):
            return 101
    except websockets.InvalidStatus as refused:
        return refused.response.status_code
    except (ssl.SSLError, ConnectionError, EOFError, websockets.InvalidMessage):
        return "tls"


@BOTH_VERSIONS
async def test_profile_3_station_boots_with_its_certificate_alone(mtls_server, pki, make_station, subprotocol):
    await sync_to_async(make_station)("CP-1", password=None, security_profile=PROFILE_3)
    async with station_client(mtls_server, "CP-1", client_context(pki, pki.valid), subprotocol) as client:
        assert await boot(client, subprotocol) == "Accepted"
        station = await Station.objects.aget(ocpp_id="CP-1")
        assert station.is_online and station.last_boot_at is not None


@BOTH_VERSIONS
async def test_expired_foreign_or_no_certificate_fails_at_tls(mtls_server, pki, make_station, subprotocol):
    await sync_to_async(make_station)("CP-1", password=None, security_profile=PROFILE_3)
    for issued in (pki.expired, pki.other_ca, None):
        assert await handshake(mtls_server, "CP-1", client_context(pki, issued), subprotocol) == "tls"
    assert not await Station.objects.filter(is_online=True).aexists()
    assert await handshake(mtls_server, "CP-1", client_context(pki, pki.valid), subprotocol) == 101


@BOTH_VERSIONS
async def test_certificate_of_another_station_is_refused_like_wrong_credentials(
    mtls_server, pki, make_station, subprotocol
):
    await sync_to_async(make_station)("CP-1", security_profile=PROFILE_3)
    await sync_to_async(make_station)("CP-2", security_profile=PROFILE_3)
    context = client_context(pki, pki.other_station)
    assert await handshake(mtls_server, "CP-1", context, subprotocol) == REFUSED[subprotocol]
    # Not even with CP-1's password: a profile-3 station never logs in with one.
    assert await handshake(mtls_server, "CP-1", context, subprotocol, STATION_PASSWORD) == REFUSED[subprotocol]
    assert await handshake(mtls_server, "CP-2", context, subprotocol) == 101  # the certificate's own station


@BOTH_VERSIONS
async def test_profile_2_station_with_a_certificate_still_needs_its_password(
    mtls_server, pki, make_station, subprotocol
):
    await sync_to_async(make_station)("CP-1", security_profile=Station.SecurityProfile.TLS_BASIC_AUTH)
    context = client_context(pki, pki.valid)
    assert await handshake(mtls_server, "CP-1", context, subprotocol) == REFUSED[subprotocol]
    assert await handshake(mtls_server, "CP-1", context, subprotocol, STATION_PASSWORD) == 101


@BOTH_VERSIONS
async def test_profile_3_station_is_refused_with_its_password_on_ws(daphne_server, pki, make_station, subprotocol):
    await sync_to_async(make_station)("CP-1", security_profile=PROFILE_3)
    headers = basic_auth_header("CP-1", STATION_PASSWORD)
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(
            f"{daphne_server.ws_url}/ocpp/CP-1", subprotocols=[subprotocol], additional_headers=headers
        ):
            pass
    assert refused.value.response.status_code == REFUSED[subprotocol]


@BOTH_VERSIONS
async def test_optional_client_certificates_serve_every_profile_on_one_port(
    mtls_optional_server, pki, make_station, subprotocol
):
    await sync_to_async(make_station)("CP-1", security_profile=PROFILE_3)
    await sync_to_async(make_station)("CP-7", security_profile=Station.SecurityProfile.TLS_BASIC_AUTH)
    server, anonymous = mtls_optional_server, client_context(pki)
    assert await handshake(server, "CP-7", anonymous, subprotocol, STATION_PASSWORD) == 101
    assert await handshake(server, "CP-1", client_context(pki, pki.valid), subprotocol) == 101
    assert await handshake(server, "CP-1", anonymous, subprotocol, STATION_PASSWORD) == REFUSED[subprotocol]
    assert await handshake(server, "CP-1", client_context(pki, pki.expired), subprotocol) == "tls"

"""Per-station security profile: a station of profile 2 is refused on plain ws:// and taken over TLS (wss:// to
daphne, or https at a trusted TLS proxy); lowering a profile takes a deliberate confirmation."""

import ssl

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from monitoring.models import Alert
from stations.consumers import connection_is_tls
from stations.models import Station
from tests.conftest import LiveServer, _free_port, _start_daphne
from tests.factories import STATION_PASSWORD
from tests.interop.conftest import _write_certificates
from tests.ocpp_client import basic_auth_header, handshake_status

PROXIED = {"X-Forwarded-Proto": "https"}
BOTH_VERSIONS = pytest.mark.parametrize("subprotocol", ["ocpp2.0.1", "ocpp1.6"])


def credentials(ocpp_id="CP-1", password=STATION_PASSWORD, **extra) -> dict:
    return {**basic_auth_header(ocpp_id, password), **extra}


# Which connections count as TLS (no server, no database)


def scope(scheme=None, **headers):
    found = {"headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()]}
    return found if scheme is None else {**found, "scheme": scheme}


def test_wss_is_tls_and_ws_or_no_scheme_is_not(settings):
    settings.SECURE_PROXY_SSL_HEADER = None
    assert connection_is_tls(scope("wss"))
    assert not connection_is_tls(scope("ws"))
    assert not connection_is_tls(scope())  # ASGI's default scheme is ws


def test_forwarded_proto_counts_only_from_a_trusted_proxy(settings):
    settings.SECURE_PROXY_SSL_HEADER = None
    assert not connection_is_tls(scope("ws", **{"X-Forwarded-Proto": "https"}))
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert connection_is_tls(scope("ws", **{"X-Forwarded-Proto": "https"}))
    assert connection_is_tls(scope("ws", **{"X-Forwarded-Proto": "https, http"}))  # the nearest proxy first
    assert not connection_is_tls(scope("ws", **{"X-Forwarded-Proto": "http"}))
    assert not connection_is_tls(scope("ws"))


# The handshake, on a real daphne server

server_db = pytest.mark.django_db(transaction=True)


@server_db
@BOTH_VERSIONS
async def test_profile_2_station_is_refused_on_plain_ws_with_a_security_alert(daphne_server, make_station, subprotocol):
    await sync_to_async(make_station)("CP-1", security_profile=Station.SecurityProfile.TLS_BASIC_AUTH)

    assert await handshake_status(daphne_server, "CP-1", credentials(), subprotocols=(subprotocol,)) == 403

    alert = await Alert.objects.aget(station__ocpp_id="CP-1", kind=Alert.Kind.SECURITY_EVENT)
    assert alert.subject == "InsecureConnectionRefused"
    assert "unencrypted" in alert.summary
    assert not await Station.objects.filter(ocpp_id="CP-1", is_online=True).aexists()


@server_db
async def test_profile_2_station_with_a_wrong_password_gets_the_usual_credentials_refusal(daphne_server, make_station):
    """The id's existence and profile are not told to whoever does not know the password."""
    await sync_to_async(make_station)("CP-1", security_profile=Station.SecurityProfile.TLS_BASIC_AUTH)
    wrong = credentials(password="not-the-password")
    assert await handshake_status(daphne_server, "CP-1", wrong, subprotocols=("ocpp2.0.1",)) == 401
    assert not await Alert.objects.filter(station__ocpp_id="CP-1").aexists()


@server_db
async def test_profile_1_station_still_connects_on_plain_ws(daphne_server, make_station):
    station = await sync_to_async(make_station)("CP-1")
    assert station.security_profile == Station.SecurityProfile.BASIC_AUTH  # the default: stations work as before
    assert await handshake_status(daphne_server, "CP-1", credentials(), subprotocols=("ocpp2.0.1",)) == 101


@server_db
async def test_forwarded_proto_header_is_ignored_when_the_proxy_is_not_trusted(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1", security_profile=Station.SecurityProfile.TLS_BASIC_AUTH)
    headers = credentials(**PROXIED)
    assert await handshake_status(daphne_server, "CP-1", headers, subprotocols=("ocpp2.0.1",)) == 403


@server_db
@BOTH_VERSIONS
async def test_profile_2_station_is_accepted_through_a_trusted_tls_proxy(node_servers, make_station, subprotocol):
    server = await sync_to_async(node_servers)(BEHIND_TLS_PROXY="1")
    await sync_to_async(make_station)("CP-1", security_profile=Station.SecurityProfile.TLS_BASIC_AUTH)

    assert await handshake_status(server, "CP-1", credentials(**PROXIED), subprotocols=(subprotocol,)) == 101
    # The same server still refuses the station when the proxy says it came over plain http.
    plain = credentials(**{"X-Forwarded-Proto": "http"})
    assert await handshake_status(server, "CP-1", plain, subprotocols=(subprotocol,)) == 403


@pytest.fixture
def tls_server(django_db_blocker, transactional_db, tmp_path):
    """daphne serving wss:// directly (the README's security profile 2 set-up)."""
    ca, cert, key = _write_certificates(tmp_path)
    port = _free_port()
    endpoint = f"ssl:{port}:interface=127.0.0.1:privateKey={key}:certKey={cert}"
    process, log = _start_daphne(django_db_blocker, ["-e", endpoint], port)
    server = LiveServer(port)
    server.ws_url, server.ca_path = f"wss://127.0.0.1:{port}", ca
    yield server
    process.terminate()
    process.wait(timeout=10)
    log.close()


@server_db
async def test_profile_2_station_is_accepted_over_wss(tls_server, make_station):
    await sync_to_async(make_station)("CP-1", security_profile=Station.SecurityProfile.TLS_BASIC_AUTH)
    context = ssl.create_default_context(cafile=str(tls_server.ca_path))
    async with websockets.connect(
        f"{tls_server.ws_url}/ocpp/CP-1", subprotocols=["ocpp2.0.1"], additional_headers=credentials(), ssl=context
    ) as ws:
        assert ws.subprotocol == "ocpp2.0.1"


# Changing the profile: raising is free, lowering takes a confirmation


@pytest.fixture
def admin_api(operator_admin):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=operator_admin).key}")
    return client


@pytest.mark.django_db
def test_api_shows_raises_and_lowers_the_profile_only_with_the_flag(admin_api, make_station):
    make_station("CP-1")
    assert admin_api.get("/api/stations/CP-1/").json()["security_profile"] == 1

    raised = admin_api.patch("/api/stations/CP-1/", {"security_profile": 2}, format="json")
    assert raised.status_code == 200, raised.json()
    assert raised.json()["security_profile"] == 2

    refused = admin_api.patch("/api/stations/CP-1/", {"security_profile": 1, "name": "Gate"}, format="json")
    assert refused.status_code == 400
    assert "confirm" in refused.json()["security_profile"][0]
    station = Station.objects.get(ocpp_id="CP-1")
    assert (station.security_profile, station.name) == (2, "")  # nothing of the request was applied

    lowered = admin_api.patch(
        "/api/stations/CP-1/", {"security_profile": 1, "confirm_lower_security_profile": True}, format="json"
    )
    assert lowered.status_code == 200, lowered.json()
    assert Station.objects.get(ocpp_id="CP-1").security_profile == 1


@pytest.mark.django_db
def test_api_refuses_profile_3_while_no_station_ca_is_configured(admin_api, make_station, settings):
    settings.CMS_OCPP_CLIENT_CA_FILE = ""
    make_station("CP-1")
    response = admin_api.patch("/api/stations/CP-1/", {"security_profile": 3}, format="json")
    assert response.status_code == 400
    assert "CMS_OCPP_CLIENT_CA_FILE" in str(response.json()["security_profile"])
    created = admin_api.post(
        "/api/stations/", {"id": "CP-2", "password": STATION_PASSWORD, "security_profile": 3}, format="json"
    )
    assert created.status_code == 400
    assert "CMS_OCPP_CLIENT_CA_FILE" in str(created.json()["security_profile"])


@pytest.mark.django_db
def test_api_sets_profile_3_once_the_station_ca_is_configured(admin_api, make_station, settings, tmp_path):
    settings.CMS_OCPP_CLIENT_CA_FILE = str(_write_certificates(tmp_path)[0])
    make_station("CP-1")
    response = admin_api.patch("/api/stations/CP-1/", {"security_profile": 3}, format="json")
    assert response.status_code == 200, response.json()
    assert Station.objects.get(ocpp_id="CP-1").security_profile == 3
    created = admin_api.post(
        "/api/stations/", {"id": "CP-2", "password": STATION_PASSWORD, "security_profile": 3}, format="json"
    )
    assert created.status_code == 201, created.json()
    # Its certificate is its credential: no password needed (profiles 1 and 2 still need one).
    certificate_only = admin_api.post("/api/stations/", {"id": "CP-3", "security_profile": 3}, format="json")
    assert certificate_only.status_code == 201, certificate_only.json()
    assert not Station.objects.get(ocpp_id="CP-3").password_hash
    no_password = admin_api.post("/api/stations/", {"id": "CP-4", "security_profile": 2}, format="json")
    assert no_password.status_code == 400 and "password" in no_password.json()


@pytest.mark.django_db
def test_api_creates_a_station_of_profile_2(admin_api):
    created = admin_api.post(
        "/api/stations/", {"id": "CP-2", "password": STATION_PASSWORD, "security_profile": 2}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert Station.objects.get(ocpp_id="CP-2").security_profile == 2


@pytest.mark.django_db
def test_portal_shows_the_profile_and_lowers_it_only_when_confirmed(operator_admin, make_station):
    make_station("CP-1", security_profile=Station.SecurityProfile.TLS_BASIC_AUTH)
    client = Client()
    client.force_login(operator_admin)
    page = client.get("/operator/stations/CP-1/").content.decode()
    assert "2: TLS and Basic auth" in page
    assert "Rotate password" in page

    url = "/operator/stations/CP-1/security-profile/"
    refused = client.post(url, {"security_profile": "1"}, follow=True).content.decode()
    assert "Not changed" in refused
    assert Station.objects.get(ocpp_id="CP-1").security_profile == 2

    client.post(url, {"security_profile": "1", "confirm_lower": "on"})
    assert Station.objects.get(ocpp_id="CP-1").security_profile == 1


@pytest.mark.django_db
def test_portal_profile_change_needs_a_command_role(django_user_model, make_station):
    make_station("CP-1")
    client = Client()
    client.force_login(django_user_model.objects.create_user(email="driver@example.com", password="x-pass-123456"))
    response = client.post("/operator/stations/CP-1/security-profile/", {"security_profile": "2"})
    assert response.status_code == 403
    assert Station.objects.get(ocpp_id="CP-1").security_profile == 1


@pytest.mark.django_db
def test_portal_offers_profile_3_only_once_the_station_ca_is_configured(
    operator_admin, make_station, settings, tmp_path
):
    make_station("CP-1")
    client = Client()
    client.force_login(operator_admin)
    settings.CMS_OCPP_CLIENT_CA_FILE = ""
    assert '<option value="3" disabled>' in client.get("/operator/stations/CP-1/").content.decode()
    refused = client.post("/operator/stations/CP-1/security-profile/", {"security_profile": "3"}, follow=True)
    assert "CMS_OCPP_CLIENT_CA_FILE" in refused.content.decode()
    assert Station.objects.get(ocpp_id="CP-1").security_profile == 1

    settings.CMS_OCPP_CLIENT_CA_FILE = str(_write_certificates(tmp_path)[0])
    assert '<option value="3">' in client.get("/operator/stations/CP-1/").content.decode()
    client.post("/operator/stations/CP-1/security-profile/", {"security_profile": "3"})
    assert Station.objects.get(ocpp_id="CP-1").security_profile == 3

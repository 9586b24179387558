"""Security profile 3 behind a TLS proxy: the proxy verifies the client certificate and forwards it
(``X-SSL-Client-Verify: SUCCESS``, ``X-SSL-Client-Cert``); daphne trusts the headers only with
``BEHIND_TLS_PROXY=1``, and checks the certificate once more against the CA file and its dates. A real HAProxy
with the configuration of docs/deploy.md carries `ocpp` clients of both versions; the header contract itself is
then held to directly (nginx's URL-encoded PEM, and what a misconfigured proxy might pass on)."""

import base64
import contextlib
import shutil
import socket
import ssl
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
from asgiref.sync import sync_to_async

from stations.models import Station
from tests.conftest import ROOT, LiveServer, _free_port
from tests.factories import STATION_PASSWORD
from tests.ocpp.certificates import station_pki
from tests.ocpp.test_client_certificates import REFUSED, boot, handshake, station_client
from tests.ocpp_client import basic_auth_header, handshake_status
from tests.waiting import until_sync

pytestmark = pytest.mark.django_db(transaction=True)

PROFILE_3 = Station.SecurityProfile.TLS_CLIENT_CERTIFICATE
BOTH_VERSIONS = pytest.mark.parametrize("subprotocol", ["ocpp2.0.1", "ocpp1.6"])
HAPROXY_CONFIG = ROOT / "deploy" / "haproxy-tls-client-certificates.cfg"


@pytest.fixture
def pki(tmp_path, settings):
    found = station_pki(tmp_path)
    settings.CMS_OCPP_CLIENT_CA_FILE = str(found.station_ca.cert_path)
    return found


@pytest.fixture
def proxied_node(node_servers, pki):
    """A daphne node that trusts its TLS proxy, with the station CA to check forwarded certificates against."""
    return node_servers(BEHIND_TLS_PROXY="1", CMS_OCPP_CLIENT_CA_FILE=str(pki.station_ca.cert_path))


@pytest.fixture
def haproxy(proxied_node, pki, tmp_path):
    """HAProxy terminating TLS in front of ``proxied_node`` with the shipped configuration (its paths and ports
    replaced by this test's)."""
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed")
    port = _free_port()
    bundle = tmp_path / "server-bundle.pem"
    bundle.write_text(pki.server.cert_path.read_text() + pki.server.key_path.read_text())
    config = (
        HAPROXY_CONFIG.read_text()
        .replace("0.0.0.0:443", f"127.0.0.1:{port}")
        .replace("/etc/voltgrid/server-bundle.pem", str(bundle))
        .replace("/etc/voltgrid/station-ca.pem", str(pki.station_ca.cert_path))
        .replace("127.0.0.1:8000", f"127.0.0.1:{proxied_node.port}")
    )
    (tmp_path / "haproxy.cfg").write_text(config)
    log = open(tmp_path / "haproxy.log", "w")
    process = subprocess.Popen(["haproxy", "-db", "-f", str(tmp_path / "haproxy.cfg")], stdout=log, stderr=log)

    def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"haproxy did not start: {Path(log.name).read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
        return False

    until_sync(listening, within=10, what="haproxy listening", every=0.1)
    server = LiveServer(port)
    server.ws_url = f"wss://127.0.0.1:{port}"
    yield server
    process.terminate()
    process.wait(timeout=10)
    log.close()


def client_context(pki, issued=None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.server_ca.cert_path))
    if issued is not None:
        context.load_cert_chain(str(issued.cert_path), str(issued.key_path))
    return context


@BOTH_VERSIONS
async def test_profile_3_station_boots_through_haproxy_with_its_certificate(haproxy, pki, make_station, subprotocol):
    await sync_to_async(make_station)("CP-1", password=None, security_profile=PROFILE_3)
    async with station_client(haproxy, "CP-1", client_context(pki, pki.valid), subprotocol) as client:
        assert await boot(client, subprotocol) == "Accepted"
    assert await handshake(haproxy, "CP-1", client_context(pki, pki.expired), subprotocol) == "tls"
    assert await handshake(haproxy, "CP-1", client_context(pki, pki.other_ca), subprotocol) == "tls"
    assert await handshake(haproxy, "CP-2", client_context(pki, pki.valid), subprotocol) == REFUSED[subprotocol]


def forwarded(issued, *, verify="SUCCESS", encoding="nginx") -> dict[str, str]:
    """The headers a TLS proxy sets: nginx's URL-encoded PEM, or HAProxy's base64 DER."""
    value = quote(issued.pem, safe="") if encoding == "nginx" else base64.b64encode(issued.der).decode()
    return {"X-Forwarded-Proto": "https", "X-SSL-Client-Verify": verify, "X-SSL-Client-Cert": value}


async def test_forwarded_certificate_is_checked_again_and_trusted_only_behind_the_proxy(
    proxied_node, daphne_server, pki, make_station
):
    await sync_to_async(make_station)("CP-1", security_profile=PROFILE_3)
    await sync_to_async(make_station)("CP-2", security_profile=PROFILE_3)

    async def status(server, ocpp_id, headers):
        return await handshake_status(server, ocpp_id, headers, subprotocols=("ocpp2.0.1",))

    assert await status(proxied_node, "CP-1", forwarded(pki.valid)) == 101
    assert await status(proxied_node, "CP-1", forwarded(pki.valid, encoding="haproxy")) == 101
    # What a proxy that did not verify, or verified against other rules, might pass on: none of it logs in.
    assert await status(proxied_node, "CP-1", forwarded(pki.valid, verify="FAILED:unable to verify")) == 401
    assert await status(proxied_node, "CP-1", forwarded(pki.expired)) == 401
    assert await status(proxied_node, "CP-1", forwarded(pki.other_ca)) == 401
    assert await status(proxied_node, "CP-1", forwarded(pki.other_station)) == 401
    assert await status(proxied_node, "CP-1", {**forwarded(pki.valid), "X-SSL-Client-Cert": "not-a-cert"}) == 401
    # A password is no way in for a profile-3 station, behind the proxy or not.
    password = basic_auth_header("CP-1", STATION_PASSWORD)
    assert await status(proxied_node, "CP-1", {"X-Forwarded-Proto": "https", **password}) == 401
    # Anyone can send these headers to a daphne that is not behind a proxy: they are ignored there.
    assert await status(daphne_server, "CP-2", forwarded(pki.other_station)) == 401

"""An independent charge point, the `test-ocpp` package, boots and heartbeats against our server.

It was not written by us: it checks our handshake (subprotocol, Basic auth), framing and answers from the
outside, over plain WebSocket (security profile 1) and over TLS (security profile 2).
"""

import subprocess
import sys

import pytest
from asgiref.sync import sync_to_async

from tests.factories import STATION_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


async def run_test_ocpp(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "test_ocpp", *args, "--timeout", "10"]
    return await sync_to_async(subprocess.run, thread_sensitive=False)(
        command, capture_output=True, text=True, timeout=60
    )


async def test_independent_client_boots_and_heartbeats_with_basic_auth(daphne_server, make_station):
    await sync_to_async(make_station)("PEER-1")
    result = await run_test_ocpp(f"{daphne_server.ws_url}/ocpp", "PEER-1", "--password", STATION_PASSWORD)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "Accepted" in result.stdout


async def test_independent_client_with_a_wrong_password_is_refused_at_the_handshake(daphne_server, make_station):
    await sync_to_async(make_station)("PEER-1")
    result = await run_test_ocpp(f"{daphne_server.ws_url}/ocpp", "PEER-1", "--password", "not-the-password")
    assert result.returncode == 1
    assert "FAILED" in result.stdout
    assert "SUCCESS" not in result.stdout


async def test_independent_client_boots_over_tls_security_profile_2(daphne_tls_server, make_station):
    await sync_to_async(make_station)("PEER-TLS")
    result = await run_test_ocpp(
        f"{daphne_tls_server.ws_url}/ocpp",
        "PEER-TLS",
        "--password",
        STATION_PASSWORD,
        "--ca",
        str(daphne_tls_server.ca_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


async def test_tls_client_that_does_not_trust_our_certificate_fails(daphne_tls_server, make_station):
    await sync_to_async(make_station)("PEER-TLS")
    result = await run_test_ocpp(f"{daphne_tls_server.ws_url}/ocpp", "PEER-TLS", "--password", STATION_PASSWORD)
    assert result.returncode == 1
    assert "SUCCESS" not in result.stdout

"""Failed station logins, throttled per station id and per remote address: past the limit the handshake is refused
with 429 (even with the right password) until the window ends, and the station gets a security alert. While Redis
is away nothing is counted and nobody is refused."""

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from monitoring.models import Alert
from stations import login_throttle
from tests.factories import STATION_PASSWORD
from tests.faults.conftest import redis_proxy  # noqa: F401 - the fault suite's Redis proxy
from tests.ocpp_client import basic_auth_header, handshake_status
from tests.test_cache_outage import cache_through  # noqa: F401

REFUSED = {"ocpp1.6": 403, "ocpp2.0.1": 401}
BOTH_VERSIONS = pytest.mark.parametrize("subprotocol", ["ocpp2.0.1", "ocpp1.6"])
server_db = pytest.mark.django_db(transaction=True)


async def status(server, ocpp_id, password, subprotocol) -> int:
    return await handshake_status(server, ocpp_id, basic_auth_header(ocpp_id, password), subprotocols=(subprotocol,))


@server_db
@BOTH_VERSIONS
async def test_guessing_one_station_s_password_is_throttled_with_429_and_alerted(
    node_servers, make_station, subprotocol
):
    server = await sync_to_async(node_servers)(
        CMS_OCPP_LOGIN_FAILURES_PER_STATION="3", CMS_OCPP_LOGIN_FAILURES_PER_ADDRESS="100"
    )
    await sync_to_async(make_station)("CP-1")
    await sync_to_async(make_station)("CP-2")
    for guess in range(2):
        assert await status(server, "CP-1", f"guess-{guess}", subprotocol) == REFUSED[subprotocol]
    assert not await Alert.objects.filter(station__ocpp_id="CP-1").aexists()  # not before the limit
    assert await status(server, "CP-1", "guess-3", subprotocol) == REFUSED[subprotocol]  # the limit's failure

    assert await status(server, "CP-1", STATION_PASSWORD, subprotocol) == 429  # the right one waits too
    assert await status(server, "CP-2", STATION_PASSWORD, subprotocol) == 101  # other stations are not held

    alert = await Alert.objects.aget(station__ocpp_id="CP-1", kind=Alert.Kind.SECURITY_EVENT)
    assert alert.subject == login_throttle.THROTTLED_EVENT
    assert "per station id" in alert.summary and "127.0.0.1" in alert.summary


@server_db
async def test_scanning_station_ids_from_one_address_is_throttled(node_servers, make_station):
    server = await sync_to_async(node_servers)(
        CMS_OCPP_LOGIN_FAILURES_PER_STATION="100", CMS_OCPP_LOGIN_FAILURES_PER_ADDRESS="4"
    )
    await sync_to_async(make_station)("CP-1")
    assert await status(server, "CP-1", STATION_PASSWORD, "ocpp2.0.1") == 101
    for number in range(4):
        assert await status(server, f"SCAN-{number}", "x" * 16, "ocpp2.0.1") == 401
    assert await status(server, "CP-1", STATION_PASSWORD, "ocpp2.0.1") == 429  # the address is held
    assert not await Alert.objects.aexists()  # unknown ids have no station to alert on: logged only


@server_db
async def test_a_refused_handshake_that_is_not_a_login_failure_is_not_counted(node_servers, make_station):
    server = await sync_to_async(node_servers)(CMS_OCPP_LOGIN_FAILURES_PER_STATION="1")
    await sync_to_async(make_station)("CP-1")
    headers = basic_auth_header("CP-1", STATION_PASSWORD)
    for _ in range(3):  # no subprotocol it speaks: refused before any credentials are looked at
        assert await handshake_status(server, "CP-1", headers, subprotocols=("ocpp1.5",)) == 403
    assert await status(server, "CP-1", STATION_PASSWORD, "ocpp1.6") == 101


@pytest.mark.django_db
@given(failures=st.integers(min_value=0, max_value=8), limit=st.integers(min_value=1, max_value=6))
@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_an_id_is_throttled_exactly_from_its_limit_th_failure_on(failures, limit):
    from django.core.cache import cache

    cache.clear()
    with override_settings(CMS_OCPP_LOGIN_FAILURES_PER_STATION=limit, CMS_OCPP_LOGIN_FAILURES_PER_ADDRESS=0):
        for _ in range(failures):
            login_throttle.login_failed(ocpp_id="CP-1", address="192.0.2.7", reason="test")
        assert login_throttle.login_throttled(ocpp_id="CP-1", address="192.0.2.7") == (failures >= limit)
        assert not login_throttle.login_throttled(ocpp_id="CP-2", address="192.0.2.7")


@pytest.mark.django_db
def test_while_redis_is_away_nothing_is_counted_nor_refused(cache_through, redis_proxy, monkeypatch, settings):  # noqa: F811
    settings.CMS_OCPP_LOGIN_FAILURES_PER_STATION = 2
    monkeypatch.setattr(login_throttle, "cache", cache_through)
    for _ in range(2):
        login_throttle.login_failed(ocpp_id="CP-1", address="192.0.2.7", reason="test")
    assert login_throttle.login_throttled(ocpp_id="CP-1", address="192.0.2.7")

    redis_proxy.cut()
    assert not login_throttle.login_throttled(ocpp_id="CP-1", address="192.0.2.7")
    for _ in range(3):
        login_throttle.login_failed(ocpp_id="CP-3", address="192.0.2.8", reason="test")  # no error, no count
    assert not login_throttle.login_throttled(ocpp_id="CP-3", address="192.0.2.8")

    redis_proxy.restore()
    assert login_throttle.login_throttled(ocpp_id="CP-1", address="192.0.2.7")  # the counts of before are back

"""The handshakes' logins read together (``security.station_logins``, a reconnect storm's path): each handshake gets
exactly what ``station_login`` alone gives it, with one database query and one round trip per cache read for the
whole batch."""

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from stations import login_throttle, security
from stations.hashers import VerifiedCredentials
from stations.models import Station
from tests.factories import STATION_PASSWORD

pytestmark = pytest.mark.django_db

PROFILE_3 = Station.SecurityProfile.TLS_CLIENT_CERTIFICATE


@pytest.fixture
def credentials(monkeypatch):
    """A fresh process's memory of verified credentials (the shared cache is Redis, as in production)."""
    fresh = VerifiedCredentials(size=100)
    monkeypatch.setattr("stations.services.verified_credentials", fresh)
    return fresh


def attempt(ocpp_id, password=STATION_PASSWORD, client="10.0.0.1"):
    return security.LoginAttempt(
        ocpp_id=ocpp_id,
        password=password.encode() if isinstance(password, str) else password,
        certificate=None,
        client=client,
    )


def outcome(login):
    return (login.station.ocpp_id if login.station else None, login.throttled)


@override_settings(CMS_OCPP_LOGIN_FAILURES_PER_STATION=100, CMS_OCPP_LOGIN_FAILURES_PER_ADDRESS=3)
def test_a_mixed_batch_gets_what_each_login_alone_gets(make_station, credentials):
    make_station("CP-KNOWN")
    make_station("CP-NEW")
    make_station("CP-OPEN", password=None)
    make_station("CP-P3")
    Station.objects.filter(ocpp_id="CP-P3").update(security_profile=PROFILE_3)  # its CA is not this test's
    security.station_login(**vars(attempt("CP-KNOWN")))  # verified before: in the cache
    attempts = [
        attempt("CP-KNOWN"),
        attempt("CP-NEW"),  # right, never verified
        attempt("CP-KNOWN", "a-wrong-password-000", client="10.0.0.2"),
        attempt("CP-KNOWN", None, client="10.0.0.3"),
        attempt("CP-NOPE", client="10.0.0.4"),  # unknown id
        attempt("CP-OPEN", None),  # a station without a password
        attempt("CP-P3", client="10.0.0.5"),  # profile 3 wants its certificate
        attempt("CP-NEW", client="10.0.0.66"),  # throttled, right password or not
    ]
    expected = [
        ("CP-KNOWN", False),
        ("CP-NEW", False),
        (None, False),
        (None, False),
        (None, False),
        ("CP-OPEN", False),
        (None, False),
        (None, True),
    ]
    one_by_one = lambda: [security.station_login(**vars(each)) for each in attempts]  # noqa: E731
    for each_way in (one_by_one, lambda: security.station_logins(attempts)):
        login_throttle.cache.clear()
        for _ in range(3):  # this address has reached its limit
            login_throttle.login_failed(ocpp_id="CP-X", address="10.0.0.66", reason="test")
        assert [outcome(login) for login in each_way()] == expected


def test_failures_in_one_batch_count_for_the_attempts_after_them(make_station, credentials):
    make_station("CP-1")
    with override_settings(CMS_OCPP_LOGIN_FAILURES_PER_STATION=3, CMS_OCPP_LOGIN_FAILURES_PER_ADDRESS=100):
        guesses = [attempt("CP-1", f"wrong-guess-{n:010d}") for n in range(5)]
        logins = security.station_logins([*guesses, attempt("CP-1")])
    assert [outcome(login) for login in logins] == [(None, False)] * 3 + [(None, True)] * 3


def test_one_station_twice_in_a_batch_gets_two_station_objects(make_station, credentials):
    make_station("CP-1")
    first, second = security.station_logins([attempt("CP-1"), attempt("CP-1")])
    assert first.station.pk == second.station.pk
    assert first.station is not second.station  # each connection changes its own


def test_a_batch_of_known_stations_is_one_query_and_one_read_of_each_cache(make_station, credentials):
    for number in range(30):
        make_station(f"CP-{number}")
    attempts = [attempt(f"CP-{number}") for number in range(30)]
    security.station_logins(attempts)  # now all verified before, in the shared cache
    restarted = VerifiedCredentials(size=100)  # a new process: nothing in its memory
    redis_server = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    before = redis_server.info("commandstats")
    with pytest.MonkeyPatch.context() as patch, CaptureQueriesContext(connection) as queries:
        patch.setattr("stations.services.verified_credentials", restarted)
        logins = security.station_logins(attempts)
    after = redis_server.info("commandstats")
    assert [login.station.ocpp_id for login in logins] == [f"CP-{number}" for number in range(30)]
    assert len(queries) == 1
    calls = {name: after[name]["calls"] - before.get(name, {"calls": 0})["calls"] for name in after}
    assert calls.get("cmdstat_mget") == 2  # the throttle's counts, the verified credentials
    assert calls.get("cmdstat_get", 0) == 0

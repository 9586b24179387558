"""The cache of verified station credentials: a reconnect skips the key derivation, and nothing else changes.

A wrong password, a rotated one, a forged or foreign cache entry: all are refused as without the cache.
"""

import hashlib

import pytest
from django.contrib.auth import hashers as django_hashers
from django.core.cache import cache
from django.test import override_settings

from stations import hashers
from stations.authorization_key import password_forms
from stations.hashers import VerifiedCredentials
from stations.services import station_authenticate, station_update
from tests.factories import STATION_PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-new-station-secret-0002"


@pytest.fixture
def derivations(monkeypatch):
    """How many times the full check (the key derivation) ran."""
    calls = []

    def counted(password, encoded, *args, **kwargs):
        calls.append(password)
        return django_hashers.check_password(password, encoded, *args, **kwargs)

    monkeypatch.setattr(hashers, "check_password", counted)
    return calls


@pytest.fixture
def credentials(monkeypatch):
    """A fresh process's cache (nothing verified in memory yet), used by station_authenticate."""
    fresh = VerifiedCredentials(size=100)
    monkeypatch.setattr("stations.services.verified_credentials", fresh)
    return fresh


def test_a_reconnect_is_not_derived_again(make_station, credentials, derivations):
    station = make_station("CP-1")
    assert station_authenticate(ocpp_id="CP-1", password=STATION_PASSWORD) == station
    assert station_authenticate(ocpp_id="CP-1", password=STATION_PASSWORD) == station
    assert derivations == [STATION_PASSWORD]


def test_another_node_or_a_restarted_one_finds_the_credential_in_the_shared_cache(make_station, derivations):
    station = make_station("CP-1")
    first, restarted = VerifiedCredentials(size=100), VerifiedCredentials(size=100)
    arguments = {"station_pk": station.pk, "password_hash": station.password_hash, "password": STATION_PASSWORD}
    assert first.matches(**arguments)
    assert restarted.matches(**arguments)
    assert len(derivations) == 1


def test_a_wrong_password_is_refused_after_the_right_one_was_cached(make_station, credentials, derivations):
    make_station("CP-1")
    assert station_authenticate(ocpp_id="CP-1", password=STATION_PASSWORD) is not None
    assert station_authenticate(ocpp_id="CP-1", password="not-the-password-at-all") is None
    assert station_authenticate(ocpp_id="CP-1", password=STATION_PASSWORD + "x") is None
    assert station_authenticate(ocpp_id="CP-1", password=None) is None
    # Each wrong one got the full check in every form it may arrive in (a 16-20 byte text may be a 1.6
    # AuthorizationKey's bytes), and none of them was remembered.
    wrong = ["not-the-password-at-all", STATION_PASSWORD + "x"]
    assert derivations == [STATION_PASSWORD, *(form for sent in wrong for form in password_forms(sent))]
    assert station_authenticate(ocpp_id="CP-1", password="not-the-password-at-all") is None


def test_a_rotation_invalidates_the_cached_credential(make_station, credentials):
    station = make_station("CP-1")
    assert station_authenticate(ocpp_id="CP-1", password=STATION_PASSWORD) is not None
    station_update(station=station, password=NEW_PASSWORD)
    assert station_authenticate(ocpp_id="CP-1", password=STATION_PASSWORD) is None
    assert station_authenticate(ocpp_id="CP-1", password=NEW_PASSWORD) == station
    # Nor does another process that cached the old password before the rotation accept it.
    assert (
        VerifiedCredentials(size=100).matches(
            station_pk=station.pk, password_hash=station.password_hash, password=STATION_PASSWORD
        )
        is False
    )


def test_the_same_password_set_again_is_a_new_credential(make_station, credentials, derivations):
    """A new salt makes a new stored hash: the entry of the old one matches nothing."""
    station = make_station("CP-1")
    assert station_authenticate(ocpp_id="CP-1", password=STATION_PASSWORD) is not None
    station_update(station=station, password=STATION_PASSWORD)
    assert station_authenticate(ocpp_id="CP-1", password=STATION_PASSWORD) is not None
    assert len(derivations) == 2


def test_the_cache_holds_no_guessable_digest_of_the_password(make_station, credentials):
    station = make_station("CP-1")
    assert station_authenticate(ocpp_id="CP-1", password=STATION_PASSWORD) is not None
    entry = cache.get(VerifiedCredentials._shared_key(station.pk))
    assert entry is not None and credentials._local[station.pk] == entry
    unkeyed = [STATION_PASSWORD, f"{station.password_hash}\0{STATION_PASSWORD}"]
    for text in unkeyed:
        assert entry not in (hashlib.sha256(text.encode()).hexdigest(), hashlib.sha512(text.encode()).hexdigest())
    # The entry depends on the server's secret: without it, it cannot be computed (nor a guess tested).
    with override_settings(SECRET_KEY="another-secret-key-of-enough-length-0123456789"):
        other = VerifiedCredentials(size=100)
        cache.delete(VerifiedCredentials._shared_key(station.pk))
        assert other.matches(station_pk=station.pk, password_hash=station.password_hash, password=STATION_PASSWORD)
        assert cache.get(VerifiedCredentials._shared_key(station.pk)) != entry


def test_an_entry_forged_in_the_shared_cache_lets_no_wrong_password_in(make_station, credentials):
    """Someone who can write to Redis but does not hold SECRET_KEY cannot make an entry that matches."""
    station = make_station("CP-1")
    wrong = "the-attackers-own-password"
    for forged in (
        hashlib.sha256(wrong.encode()).hexdigest(),
        hashlib.sha256(f"{station.password_hash}\0{wrong}".encode()).hexdigest(),
    ):
        cache.set(VerifiedCredentials._shared_key(station.pk), forged)
        assert station_authenticate(ocpp_id="CP-1", password=wrong) is None
    assert station_authenticate(ocpp_id="CP-1", password=STATION_PASSWORD) == station


def test_a_station_without_a_password_needs_none(make_station, credentials, derivations):
    station = make_station("CP-1", password=None)
    assert station_authenticate(ocpp_id="CP-1", password=None) == station
    assert derivations == []

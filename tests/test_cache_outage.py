"""The shared cache while Redis is away: requests are served without it, never answered 500."""

import pytest
from django.conf import settings

from cms.cache import DegradingRedisCache
from tests.faults.conftest import redis_proxy  # noqa: F401 - the fault suite's Redis proxy


@pytest.fixture
def cache_through(redis_proxy):  # noqa: F811
    cache = DegradingRedisCache(
        redis_proxy.through(settings.REDIS_URL),
        {"KEY_PREFIX": "cache-outage-test", "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}},
    )
    yield cache
    cache.clear()


def test_reads_miss_writes_are_dropped_and_locks_go_ahead_while_redis_is_away(cache_through, redis_proxy):  # noqa: F811
    cache_through.set("counter", 3)
    assert cache_through.get("counter") == 3
    assert cache_through.add("lock", 1) is True and cache_through.add("lock", 1) is False

    redis_proxy.cut()
    assert cache_through.get("counter", "missing") == "missing"
    cache_through.set("counter", 4)  # dropped, no error
    assert cache_through.add("lock", 1) is True  # the lock taker goes ahead
    assert cache_through.get_many(["counter", "lock"]) == {}
    with pytest.raises(ValueError):
        cache_through.incr("counter")  # as for a missing key: callers start a new count
    assert cache_through.delete("counter") is False

    redis_proxy.restore()
    assert cache_through.get("counter") == 3  # what was there before the outage is still there
    assert cache_through.incr("counter") == 4

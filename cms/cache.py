"""Django's Redis cache, degrading to "nothing cached" while Redis is away instead of failing the request.

The cache holds rate-limit counters and short locks only; nothing in it is the record of anything. When
Redis is unreachable a portal login, a driver's page or an API call must still be served (or refused for
its own reason), not answered 500: reads miss, writes are dropped, and ``add`` reports success so a lock
taker goes ahead (its command then fails on its own, clearly, if it needs Redis). Rate limits are not
enforced during an outage; that is logged once a minute at most.
"""

import logging
import time

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import SimpleLazyObject
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
LOG_EVERY_SECONDS = 60.0
_last_logged = 0.0


def _unreachable(error: BaseException) -> None:
    global _last_logged
    if time.monotonic() - _last_logged >= LOG_EVERY_SECONDS:
        _last_logged = time.monotonic()
        logger.error("cache unreachable: serving without it (rate limits off)", extra={"error": repr(error)})


class DegradingRedisCacheClient(RedisCacheClient):
    def _or(self, fallback, method, *args, **kwargs):
        try:
            return method(*args, **kwargs)
        except UNREACHABLE as error:
            _unreachable(error)
            return fallback

    def get(self, key, default):
        return self._or(default, super().get, key, default)

    def get_many(self, keys):
        return self._or({}, super().get_many, keys)

    def has_key(self, key):
        return self._or(False, super().has_key, key)

    def set(self, key, value, timeout):
        return self._or(None, super().set, key, value, timeout)

    def set_many(self, data, timeout):
        return self._or(None, super().set_many, data, timeout)

    def add(self, key, value, timeout):
        return self._or(True, super().add, key, value, timeout)

    def touch(self, key, timeout):
        return self._or(False, super().touch, key, timeout)

    def delete(self, key):
        return self._or(False, super().delete, key)

    def delete_many(self, keys):
        return self._or(None, super().delete_many, keys)

    def clear(self):
        return self._or(False, super().clear)

    def incr(self, key, delta):
        try:
            return super().incr(key, delta)
        except UNREACHABLE as error:
            _unreachable(error)
            raise ValueError(f"Key '{key}' not found (the cache is unreachable)") from error


class DegradingRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = DegradingRedisCacheClient


def process_cache():
    """One client of the default cache for the whole process, created on first use.

    ``django.core.cache.cache`` is one per context, and each call run through a thread pool from async code is
    a new context: a new Redis connection (its set-up alone about a millisecond of CPU) per handshake.
    """
    return SimpleLazyObject(lambda: caches.create_connection("default"))

"""Reading settings from the environment, and choosing embedded or server-backed services.

With nothing configured the whole system runs in one process on an embedded PostgreSQL server (data
under var/postgres, see cms/embedded_postgres.py) with an in-memory channel layer and in-process task
execution. ``DATABASE_URL`` names another PostgreSQL server; ``REDIS_URL`` moves the channel layer and
the Celery broker to Redis so that several daphne and worker processes share them.
"""

from collections.abc import Mapping
from pathlib import Path

import dj_database_url

from cms import embedded_postgres

TRUE_WORDS = {"1", "true", "yes", "on"}


def env_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    if name not in environ:
        return default
    return environ[name].strip().lower() in TRUE_WORDS


def env_list(environ: Mapping[str, str], name: str, default: list[str]) -> list[str]:
    if not environ.get(name):
        return default
    return [item.strip() for item in environ[name].split(",") if item.strip()]


def database_config(environ: Mapping[str, str], base_dir: Path) -> dict:
    url = environ.get("DATABASE_URL")
    if not url:
        return embedded_postgres.database_config(embedded_postgres.data_dir(environ, base_dir))
    config = dj_database_url.parse(url, conn_max_age=int(environ.get("DATABASE_CONN_MAX_AGE", "60")))
    config["CONN_HEALTH_CHECKS"] = True
    return config


# Redis connections of the channel layer and the cache. A pooled connection idle for a while is checked
# (PING) before use, and a command that meets a broken connection (Redis restarted meanwhile) is sent
# again on a new one: after an outage nothing fails once more on a stale socket. An unreachable Redis
# is found out within seconds, never by waiting for the operating system's TCP timeout.
REDIS_CONNECTION_OPTIONS = {"health_check_interval": 10, "socket_connect_timeout": 2, "socket_keepalive": True}
REDIS_RETRIES = 2


def channel_layers_config(environ: Mapping[str, str]) -> dict:
    url = environ.get("REDIS_URL")
    if not url:
        return {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff

    return {
        "default": {
            # channels_redis whose receive waits a Redis outage out: OCPP goes on from the database.
            "BACKEND": "stations.protocol.channel_layer.ResilientRedisChannelLayer",
            "CONFIG": {
                # channels_redis blocks on Redis for up to 5 s per receive; redis-py's default 5 s socket
                # timeout would kill an idle consumer (and its station's connection) mid-wait. redis-py's
                # pool refuses a 101st concurrent command: a reconnect storm of stations makes thousands.
                "hosts": [
                    {
                        "address": url,
                        "socket_timeout": 30,
                        "max_connections": 2000,
                        **REDIS_CONNECTION_OPTIONS,
                        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), REDIS_RETRIES),
                    }
                ],
                "prefix": environ.get("CHANNELS_PREFIX", "voltgrid"),
                "capacity": 1000,
                "expiry": 60,
            },
        }
    }


def cache_config(environ: Mapping[str, str]) -> dict:
    """Rate limits (logins, card claims) must hold across processes, so the cache is shared when Redis is."""
    url = environ.get("REDIS_URL")
    if not url:
        return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), REDIS_RETRIES)
    options = {**REDIS_CONNECTION_OPTIONS, "socket_timeout": 5, "retry": retry}
    return {
        "default": {
            "BACKEND": "cms.cache.DegradingRedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "cms",
            "OPTIONS": options,
        }
    }


def celery_config(environ: Mapping[str, str]) -> dict:
    """Broker and execution mode. Without a broker, tasks run in the calling process."""
    url = environ.get("CELERY_BROKER_URL") or environ.get("REDIS_URL")
    if not url:
        return {"broker_url": "memory://", "task_always_eager": True, "task_eager_propagates": True}
    return {"broker_url": url, "task_always_eager": False}

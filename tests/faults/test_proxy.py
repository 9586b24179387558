"""The fault proxy forwards, and a cut looks to its clients like the server going away and coming back."""

from urllib.parse import urlsplit

import psycopg
import pytest
import redis
from django.conf import settings

from tests.faults.proxy import FaultProxy


@pytest.fixture
def pg_proxy():
    db = settings.DATABASES["default"]
    with FaultProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)) as proxy:
        yield proxy


@pytest.fixture
def redis_proxy():
    url = settings.REDIS_URL
    parts = urlsplit(url)
    with FaultProxy(parts.hostname or "127.0.0.1", parts.port or 6379) as proxy:
        proxy.url = proxy.through(url)
        yield proxy


def _pg_connect(proxy):
    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=proxy.host,
        port=proxy.port,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname="postgres",
        connect_timeout=5,
    )


def test_postgres_through_the_proxy_goes_away_and_comes_back(pg_proxy):
    with _pg_connect(pg_proxy) as conn:
        assert conn.execute("SELECT 41 + 1").fetchone() == (42,)
        assert pg_proxy.live_connections == 1

        pg_proxy.cut()
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError, match="refused"):
        _pg_connect(pg_proxy)

    pg_proxy.restore()
    with _pg_connect(pg_proxy) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_redis_through_the_proxy_goes_away_and_comes_back(redis_proxy):
    client = redis.Redis.from_url(redis_proxy.url, socket_timeout=5, retry_on_timeout=False)
    client.set("fault-proxy-probe", "1")
    assert client.get("fault-proxy-probe") == b"1"

    redis_proxy.cut()
    with pytest.raises(redis.ConnectionError):
        client.get("fault-proxy-probe")
    with pytest.raises(redis.ConnectionError, match=r"111|refused"):
        redis.Redis.from_url(redis_proxy.url, socket_timeout=5).ping()

    redis_proxy.restore()
    assert client.get("fault-proxy-probe") == b"1"  # the client reconnects on its own
    client.delete("fault-proxy-probe")
    client.close()


def test_through_rewrites_only_host_and_port():
    proxy = FaultProxy("127.0.0.1", 5432)
    proxy.port = 40001
    assert proxy.through("postgres://postgres:pw@127.0.0.1:5432/vg") == "postgres://postgres:pw@127.0.0.1:40001/vg"
    assert proxy.through("redis://127.0.0.1:6379/6") == "redis://127.0.0.1:40001/6"

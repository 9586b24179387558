"""Which database, channel layer and task runner the settings choose, embedded or server-backed."""

import json
import os
import subprocess
import sys
from pathlib import Path

from cms.env import cache_config, celery_config, channel_layers_config, database_config, env_bool, env_list

BASE = Path("/srv/voltgrid")


def test_without_database_url_the_embedded_sqlite_database_is_used():
    config = database_config({}, BASE)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == "/srv/voltgrid/var/voltgrid.sqlite3"


def test_database_url_selects_postgresql_with_psycopg():
    config = database_config({"DATABASE_URL": "postgres://cms:pw@db.internal:5433/voltgrid"}, BASE)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"], config["PASSWORD"]) == (
        "db.internal", 5433, "voltgrid", "cms", "pw",
    )
    assert config["CONN_HEALTH_CHECKS"] is True


def test_without_redis_url_channels_and_celery_stay_in_process():
    assert channel_layers_config({})["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"
    assert celery_config({}) == {"broker_url": "memory://", "task_always_eager": True, "task_eager_propagates": True}


def test_redis_url_serves_the_channel_layer_and_the_celery_broker():
    environ = {"REDIS_URL": "redis://cache:6379/2"}
    layer = channel_layers_config(environ)["default"]
    assert layer["BACKEND"] == "stations.protocol.channel_layer.ResilientRedisChannelLayer"
    [host] = layer["CONFIG"]["hosts"]
    assert (host["address"], host["socket_timeout"], host["max_connections"]) == ("redis://cache:6379/2", 30, 2000)
    # Stale pooled connections are checked before use and a broken one is replaced, not failed once more.
    assert host["health_check_interval"] > 0 and host["retry"].get_retries() > 0
    assert celery_config(environ) == {"broker_url": "redis://cache:6379/2", "task_always_eager": False}


def test_the_cache_is_shared_through_redis_when_configured():
    assert cache_config({})["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    shared = cache_config({"REDIS_URL": "redis://cache:6379/2"})["default"]
    assert shared["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert shared["LOCATION"] == "redis://cache:6379/2"


def test_a_separate_celery_broker_url_wins_over_redis_url():
    environ = {"REDIS_URL": "redis://cache:6379/2", "CELERY_BROKER_URL": "amqp://guest@mq//"}
    assert celery_config(environ)["broker_url"] == "amqp://guest@mq//"


def test_boolean_and_list_variables():
    assert env_bool({"DEBUG": "yes"}, "DEBUG", False) is True
    assert env_bool({"DEBUG": "0"}, "DEBUG", True) is False
    assert env_bool({}, "DEBUG", True) is True
    assert env_list({"ALLOWED_HOSTS": "a.example, b.example,"}, "ALLOWED_HOSTS", []) == ["a.example", "b.example"]
    assert env_list({}, "ALLOWED_HOSTS", ["localhost"]) == ["localhost"]


def _settings_in_fresh_process(environ: dict) -> dict:
    script = (
        "import json, django; from django.conf import settings; django.setup();"
        "print(json.dumps({'db': settings.DATABASES['default']['ENGINE'],"
        "'layer': settings.CHANNEL_LAYERS['default']['BACKEND'], 'eager': settings.CELERY_TASK_ALWAYS_EAGER,"
        "'debug': settings.DEBUG, 'hosts': settings.ALLOWED_HOSTS}))"
    )
    keep = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    result = subprocess.run(
        [sys.executable, "-c", script], env={**keep, "DJANGO_SETTINGS_MODULE": "cms.settings", **environ},
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_real_settings_module_runs_embedded_with_nothing_configured():
    chosen = _settings_in_fresh_process({})
    assert chosen["db"] == "django.db.backends.sqlite3"
    assert chosen["layer"] == "channels.layers.InMemoryChannelLayer"
    assert chosen["eager"] is True
    assert chosen["debug"] is False


def test_the_real_settings_module_uses_postgresql_and_redis_when_configured():
    servers = {key: os.environ[key] for key in ("DATABASE_URL", "REDIS_URL")}
    chosen = _settings_in_fresh_process({**servers, "ALLOWED_HOSTS": "cms.example"})
    assert chosen["db"] == "django.db.backends.postgresql"
    assert chosen["layer"] == "stations.protocol.channel_layer.ResilientRedisChannelLayer"
    assert chosen["eager"] is False
    assert chosen["hosts"] == ["cms.example"]

"""Which database, channel layer and task runner the settings choose, embedded or server-backed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dj_database_url
import psycopg
import pytest

from cms import embedded_postgres
from cms.env import cache_config, celery_config, channel_layers_config, database_config, env_bool, env_list
from cms.management.commands.runcms import server_url

BASE = Path("/srv/voltgrid")


def test_without_database_url_the_embedded_postgresql_in_var_is_used_over_its_socket():
    config = database_config({}, BASE)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["NAME"], config["USER"]) == ("/srv/voltgrid/var/postgres", "voltgrid", "postgres")
    moved = database_config({"EMBEDDED_POSTGRES_DIR": "/data/pg"}, BASE)
    assert moved["HOST"] == "/data/pg"


def test_the_embedded_server_as_a_database_url_names_the_same_socket_directory():
    url = embedded_postgres.database_url(Path("/srv/voltgrid/var/test-postgres"))
    parsed = dj_database_url.parse(url)
    assert parsed["HOST"] == "/srv/voltgrid/var/test-postgres"
    assert (parsed["NAME"], parsed["USER"]) == ("voltgrid", "postgres")


def test_database_url_selects_postgresql_with_psycopg():
    config = database_config({"DATABASE_URL": "postgres://cms:pw@db.internal:5433/voltgrid"}, BASE)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"], config["PASSWORD"]) == (
        "db.internal",
        5433,
        "voltgrid",
        "cms",
        "pw",
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
    assert shared["BACKEND"] == "cms.cache.DegradingRedisCache"
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
        "db = settings.DATABASES['default'];"
        "print(json.dumps({'db': db['ENGINE'], 'db_host': db['HOST'],"
        "'layer': settings.CHANNEL_LAYERS['default']['BACKEND'], 'eager': settings.CELERY_TASK_ALWAYS_EAGER,"
        "'debug': settings.DEBUG, 'hosts': settings.ALLOWED_HOSTS}))"
    )
    keep = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**keep, "DJANGO_SETTINGS_MODULE": "cms.settings", **environ},
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_real_settings_module_runs_embedded_with_nothing_configured():
    chosen = _settings_in_fresh_process({})
    assert chosen["db"] == "django.db.backends.postgresql"
    assert chosen["db_host"] == str(Path(__file__).resolve().parent.parent / "var" / "postgres")
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


def test_the_embedded_server_starts_is_shared_and_stops_with_its_last_process(tmp_path):
    """What we use of embedded-postgres: start (initdb once, as a non-root user when we are root), attach,
    the handle list in the data directory, stop. Fails when the library changes under us."""
    directory = tmp_path / "pg"
    script = (
        "import sys, psycopg; from pathlib import Path; from cms import embedded_postgres as e;"
        "d = Path(sys.argv[1]); e.start(d);"
        "print(psycopg.connect(host=str(d), user='postgres', dbname='voltgrid').execute('show server_version')"
        ".fetchone()[0])"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script + "; sys.stdin.read()", str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert holder.stdout.readline().startswith("18.")
        assert json.loads((directory / ".handle_pids.json").read_text()) == [holder.pid]
        # A second process attaches to the running server and, not being the last, leaves it running.
        attached = subprocess.run(
            [sys.executable, "-c", script, str(directory)],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert attached.stdout.startswith("18.")
        assert json.loads((directory / ".handle_pids.json").read_text()) == [holder.pid]
        with psycopg.connect(host=str(directory), user="postgres", dbname="voltgrid") as still_up:
            assert still_up.execute("select 1").fetchone() == (1,)
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0
    assert not (directory / "postmaster.pid").exists()  # the last process out stopped it
    assert (directory / "PG_VERSION").exists()  # and the data stays for the next start


def test_a_killed_process_does_not_keep_the_embedded_server_from_stopping(tmp_path):
    """runcms killed with SIGKILL leaves its id in the handle list; the next start forgets it, so the next
    runcms is the last holder again and stops the server when it exits."""
    directory = tmp_path / "pg"
    embedded_postgres.start(directory, stop_at_exit=False)
    try:
        (directory / ".handle_pids.json").write_text(json.dumps([2**22 + 1]))  # beyond pid_max: no such process
        embedded_postgres.start(directory, stop_at_exit=False)
        assert json.loads((directory / ".handle_pids.json").read_text()) == []
    finally:
        embedded_postgres.stop(directory)
    assert not (directory / "postmaster.pid").exists()


def test_a_socket_path_too_long_for_unix_sockets_is_refused_with_the_way_out(tmp_path):
    with pytest.raises(SystemExit, match="EMBEDDED_POSTGRES_DIR"):
        embedded_postgres.start(tmp_path / ("x" * 120))


def test_the_server_url_is_the_address_runcms_listens_on():
    assert server_url("127.0.0.1", 18201) == "http://127.0.0.1:18201"
    assert server_url("::1", 18201) == "http://[::1]:18201"
    assert server_url("cms.example", 8080) == "http://cms.example:8080"
    # Listening everywhere: stations need a real address, not 0.0.0.0.
    for wildcard in ("0.0.0.0", "::"):
        url = server_url(wildcard, 18201)
        assert url.endswith(":18201") and "0.0.0.0" not in url and "[::]" not in url


def test_station_files_follow_the_server_unless_an_address_is_configured(monkeypatch):
    from stations.app_settings import app_settings

    for name in ("CMS_STATION_FILES_URL", "CMS_PORTAL_URL", "CMS_SERVER_URL"):
        monkeypatch.delenv(name, raising=False)
    assert app_settings.STATION_FILES_URL == "http://127.0.0.1:8000"
    monkeypatch.setenv("CMS_SERVER_URL", "http://10.0.0.5:18201")
    assert app_settings.STATION_FILES_URL == "http://10.0.0.5:18201"
    monkeypatch.setenv("CMS_PORTAL_URL", "https://cms.example/")
    assert app_settings.STATION_FILES_URL == "https://cms.example"
    monkeypatch.setenv("CMS_STATION_FILES_URL", "https://files.cms.example")
    assert app_settings.STATION_FILES_URL == "https://files.cms.example"

"""Shared fixtures: real PostgreSQL and Redis, a real daphne server, and OCPP clients from the `ocpp` library."""

import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from tests.factories import *  # noqa: F403 - factories are fixtures too
from tests.waiting import until_sync

ROOT = Path(__file__).resolve().parent.parent

# Markers a test gets from the fixtures it uses, so that a new test is marked without anyone remembering
# to: `-m "not server and not worker"` runs the tests that start no process.
FIXTURE_MARKERS = {
    "server": frozenset({"daphne_server", "node_servers", "daphne_tls_server", "embedded_system"}),
    "worker": frozenset({"worker", "real_broker", "pricing_worker"}),
}
# Fixtures that reach PostgreSQL (directly or through a server on the test database).
DATABASE_FIXTURES = frozenset({"db", "transactional_db", "django_db_setup", "live_server"})


def pytest_configure(config):
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql" or not settings.REDIS_URL:
        pytest.exit(
            "The tests run against real PostgreSQL and Redis: set DATABASE_URL and REDIS_URL, "
            "or run scripts/test, which sets them up.",
            returncode=2,
        )


def pytest_sessionstart(session):
    _flush_retries_a_deadlock()


def _flush_retries_a_deadlock() -> None:
    """A transactional test ends with ``flush`` (TRUNCATE of every table). A daphne child process may still be
    writing its last rows then (a frame, a disconnection's record): PostgreSQL breaks the deadlock by failing the
    TRUNCATE, and the next test would find this one's rows. The write has gone through by then; flush again."""
    from django.core.management.base import CommandError
    from django.core.management.commands import flush
    from psycopg.errors import DeadlockDetected

    handle = flush.Command.handle

    def handle_retrying_a_deadlock(self, **options):
        for attempt in range(3):
            try:
                return handle(self, **options)
            except CommandError as error:
                if attempt == 2 or not isinstance(error.__cause__ and error.__cause__.__cause__, DeadlockDetected):
                    raise

    flush.Command.handle = handle_retrying_a_deadlock


@pytest.hookimpl(tryfirst=True)  # before pytest's own hook deselects by marker
def pytest_collection_modifyitems(items):
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in FIXTURE_MARKERS.items():
            if used & fixtures:
                item.add_marker(marker)


def uses_database(request) -> bool:
    """Whether the test reaches the database (and so Redis too): pure tests run without either."""
    return request.node.get_closest_marker("django_db") is not None or bool(
        DATABASE_FIXTURES.intersection(request.fixturenames)
    )


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Django's default PBKDF2 costs ~0.2 s per user created or logged in; the suite makes hundreds."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


@pytest.fixture(autouse=True)
def _fresh_cache(request):
    """Rate limits count in the shared cache; one test's attempts must not throttle the next. A pure test
    (no database) makes no request through them: it is left alone, so that it runs without Redis."""
    if not uses_database(request):
        yield
        return
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def server_settles_before_teardown(request):
    yield from settle_before_teardown(request, "daphne_server")


def settle_before_teardown(request, server_fixture: str):
    """The body of an autouse fixture: after a test that used the daphne of ``server_fixture``, wait until it has
    finished with its connections (marked them offline, written their message log, released its node lease with
    the last of them) before the test database is flushed: the flush's TRUNCATE would otherwise race, and
    deadlock, with those last writes."""
    if server_fixture not in request.fixturenames:
        yield
        return
    server = request.getfixturevalue(server_fixture)
    request.getfixturevalue("transactional_db")  # set up first, so torn down after this fixture
    yield
    from stations.models import Node, Station

    def busy() -> bool:
        return Station.objects.filter(is_online=True).exists() or Node.objects.filter(pid=server.process.pid).exists()

    until_sync(lambda: not busy(), within=5.0, every=0.02, quiet=True)


def module_daphne(django_db_blocker, endpoint: str = "tcp:{port}:interface=127.0.0.1", **env: str):
    """The body of a module fixture: a daphne of the module's own, serving ``endpoint`` (a twisted endpoint
    description; ``{port}`` is filled in), with these settings in its environment."""
    port = _free_port()
    process, log = _start_daphne(django_db_blocker, ["-e", endpoint.format(port=port)], port, **env)
    server = LiveServer(port)
    server.process = process
    if endpoint.startswith(("ssl:", "mtls:")):
        server.ws_url = f"wss://127.0.0.1:{port}"
    yield server
    _stop_daphne(process, log, django_db_blocker)


@pytest.fixture
def celery_eager():
    """Tasks queued on commit run in-process, as in the embedded mode (a test may still turn it off)."""
    from cms.celery import app as celery_app

    before = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = before


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    if (db["HOST"] or "").startswith("/"):  # a unix socket directory (the embedded PostgreSQL)
        return f"postgres://{db['USER']}{password}@{quote(db['HOST'], safe='')}/{db['NAME']}"
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class LiveServer:
    def __init__(self, port: int):
        self.port = port
        self.http_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"


def _start_daphne(
    django_db_blocker, endpoint_args: list[str], port: int, **env_overrides: str
) -> tuple[subprocess.Popen, object]:
    """daphne serving cms.asgi in a child process, on the test database and the test Redis (or, through
    ``env_overrides``, e.g. a DATABASE_URL or REDIS_URL of a fault proxy in front of them)."""
    with django_db_blocker.unblock():
        env = {**os.environ, "DATABASE_URL": _database_url(), "DATABASE_CONN_MAX_AGE": "0", **env_overrides}
    env.setdefault("CMS_OCPP_RESPONSE_TIMEOUT", "5")
    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / f"test-daphne-{port}.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", *endpoint_args, "cms.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"daphne did not start; see {log.name}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
        return False

    until_sync(listening, within=30, what=f"daphne listening (see {log.name})", every=0.1)
    return process, log


def _stop_daphne(process, log, django_db_blocker) -> None:
    """Its database sessions end with the process; the others serve the tests that follow."""
    process.terminate()
    process.wait(timeout=10)
    log.close()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's, ending every other session on the test database before it is dropped: the async tests'
    ORM thread keeps one. Only then: ended mid-run, they would fail the next test that uses them."""
    yield
    with django_db_blocker.unblock():
        _close_other_sessions_on_the_test_database()


@pytest.fixture(scope="session")
def collected_static():
    """The live server serves static files as in production, from var/static (whitenoise, DEBUG off)."""
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture
def node_servers(django_db_blocker, transactional_db):
    """``node_servers(**env)``: a daphne process of this test's own (a node), killable; env overrides its settings.

    Ends no database session but its own processes': the session's shared server and this process's
    connections serve the tests that follow.
    """
    started = []

    def start(**env) -> LiveServer:
        port = _free_port()
        process, log = _start_daphne(django_db_blocker, ["-b", "127.0.0.1", "-p", str(port)], port, **env)
        started.append((process, log))
        server = LiveServer(port)
        server.process, server.log_path = process, log.name
        return server

    yield start
    for process, log in started:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def daphne_server(django_db_setup, django_db_blocker, collected_static):
    port = _free_port()
    process, log = _start_daphne(django_db_blocker, ["-b", "127.0.0.1", "-p", str(port)], port)
    server = LiveServer(port)
    server.process = process
    yield server
    _stop_daphne(process, log, django_db_blocker)


def _close_other_sessions_on_the_test_database():
    """The test database is dropped next: end the sessions left by the server and by async tests' ORM thread."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

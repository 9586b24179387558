"""Fixtures of the OCPP tests, which talk to the daphne child process of `daphne_server`."""

import time

import pytest

SETTLE_TIMEOUT = 5.0


@pytest.fixture(autouse=True)
def server_settles_before_teardown(request):
    """After a test, wait until the server has finished with its connections (marked them offline and
    written their message log) before the test database is flushed: the flush's TRUNCATE would
    otherwise race, and deadlock, with those last writes."""
    if "daphne_server" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("transactional_db")  # set up first, so torn down after this fixture
    yield
    from stations.models import Station

    deadline = time.monotonic() + SETTLE_TIMEOUT
    while Station.objects.filter(is_online=True).exists() and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.fixture
def group_commit_here(monkeypatch):
    """A group-commit writer of this test process (as a daphne process has one), closed after the test."""
    from stations.protocol import group_commit

    writer = group_commit.GroupCommit()
    monkeypatch.setattr(group_commit, "_group_commit", writer)
    yield writer
    writer.shutdown()


@pytest.fixture
def consumer_here(group_commit_here):
    """The OCPP consumer run in this test process, as daphne runs it, on the real database and channel layer."""
    from channels.routing import URLRouter

    from stations.protocol.db import pool_close_connections
    from stations.routing import websocket_urlpatterns

    yield URLRouter(websocket_urlpatterns)
    pool_close_connections()

"""Fixtures of the OCPP tests, which talk to the daphne child process of `daphne_server`."""

import pytest


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


@pytest.fixture
def node_servers(django_db_blocker, transactional_db):
    """``node_servers(**env)``: a daphne process of this test's own (a node), killable; env overrides its settings.

    Unlike the fault suite's ``nodes``, ends no database session but its own processes': the session's
    shared server and this process's connections serve the tests that follow.
    """
    from tests.conftest import LiveServer, _free_port, _start_daphne

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

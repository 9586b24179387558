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

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

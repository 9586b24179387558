"""daphne's periodic walks, patched by ``stations.protocol.daphne_walks``: the same reaping and timeouts as
daphne's, without visiting every open connection on every tick. The daphne internals the patch relies on are
checked first; every test with a ``daphne_server`` runs the patched server over the wire as well."""

import asyncio
import inspect

import daphne.server
import pytest
from daphne.server import Server

from stations.protocol import daphne_walks


class FakeProtocol:
    """What daphne's checks call on a protocol."""

    def __init__(self):
        self.timeout_checks = 0
        self.exceptions = []

    def check_timeouts(self):
        self.timeout_checks += 1

    def handle_exception(self, exception):
        self.exceptions.append(exception)


def test_daphne_still_has_the_walks_the_patch_narrows():
    daphne_walks.install()
    original = inspect.getsource(daphne.server)  # daphne's own application_checker, which the patch calls
    assert "for protocol, details in list(self.connections.items())" in original
    assert 'del self.connections[protocol]["application_instance"]' in original
    assert "del self.connections[protocol]" in original
    assert list(inspect.signature(Server.protocol_disconnected).parameters) == ["self", "protocol"]
    assert list(inspect.signature(Server.create_application).parameters) == ["self", "protocol", "scope"]
    from daphne.ws_protocol import WebSocketProtocol

    assert "check_timeouts" in WebSocketProtocol.__dict__


@pytest.fixture
def server():
    daphne_walks.install()
    endings: dict[int, asyncio.Future] = {}

    async def application(scope, receive, send):
        await endings.setdefault(scope["n"], asyncio.get_running_loop().create_future())

    server = Server.__new__(Server)  # not run: its walks are called by hand
    server.application, server.application_close_timeout, server.connections = application, 10, {}
    server.endings = endings
    return server


def connect(server, n: int) -> FakeProtocol:
    protocol = FakeProtocol()
    server.protocol_connected(protocol)
    server.create_application(protocol, {"type": "websocket", "n": n})
    return protocol


async def settle():
    for _ in range(3):
        await asyncio.sleep(0)


async def test_open_connections_stay_and_ended_ones_are_reaped(server):
    protocols = [connect(server, n) for n in range(5)]
    await settle()
    server.application_checker()
    assert set(server.connections) == set(protocols)
    assert not getattr(server, daphne_walks.MARKED)  # nothing to look at: open connections are not walked

    # The socket closes first, then the application ends: reaped at the next check.
    server.protocol_disconnected(protocols[0])
    server.application_checker()
    assert protocols[0] in server.connections  # its application still runs
    server.endings[0].set_result(None)
    await settle()
    server.application_checker()
    assert protocols[0] not in server.connections

    # The application ends first (it closed the socket), then the socket closes.
    server.endings[1].set_result(None)
    await settle()
    server.application_checker()
    assert protocols[1] in server.connections
    assert "application_instance" not in server.connections[protocols[1]]
    server.protocol_disconnected(protocols[1])
    server.application_checker()
    assert set(server.connections) == set(protocols[2:])


async def test_an_application_that_crashed_is_reported_to_its_open_connection(server):
    protocol = connect(server, 0)
    await settle()
    server.endings[0].set_exception(RuntimeError("crashed"))
    await settle()
    server.application_checker()
    assert [str(error) for error in protocol.exceptions] == ["crashed"]


async def test_an_application_that_outlives_its_socket_is_cancelled_after_the_close_timeout(server):
    protocol = connect(server, 0)
    await settle()
    server.protocol_disconnected(protocol)
    server.connections[protocol]["disconnected"] -= server.application_close_timeout + 1
    getattr(server, daphne_walks.MARKED).add(protocol)  # what the timer set at the disconnect does
    server.application_checker()
    await settle()
    assert server.endings[0].cancelled()
    server.application_checker()
    assert protocol not in server.connections


def test_every_connection_is_checked_for_timeouts_once_per_period_in_slices():
    daphne_walks.install()
    server = Server.__new__(Server)
    protocols = [FakeProtocol() for _ in range(1000)]
    server.connections = {protocol: {} for protocol in protocols}
    for tick in range(daphne_walks.TIMEOUT_SLICES):
        server.timeout_checker()
        checked = sum(protocol.timeout_checks for protocol in protocols)
        assert checked == 1000 // daphne_walks.TIMEOUT_SLICES * (tick + 1)
    assert {protocol.timeout_checks for protocol in protocols} == {1}
    server.timeout_checker()  # the next period starts over
    assert sum(protocol.timeout_checks for protocol in protocols) == 1000 + 1000 // daphne_walks.TIMEOUT_SLICES

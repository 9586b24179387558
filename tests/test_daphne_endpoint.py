"""runcms listens with a backlog for a reconnect storm, on the address it was given (IPv4 or IPv6)."""

import pytest
from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString

from cms.management.commands.runcms import LISTEN_BACKLOG, daphne_endpoint


@pytest.mark.parametrize(("host", "interface"), [("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "0.0.0.0"), ("[::]", "::")])
def test_the_endpoint_keeps_the_address_and_raises_the_backlog(host, interface):
    endpoint = serverFromString(reactor, daphne_endpoint(host, 8123))
    assert (endpoint._port, endpoint._interface, endpoint._backlog) == (8123, interface, LISTEN_BACKLOG)
    assert LISTEN_BACKLOG > 50  # Twisted's default, which dropped the SYNs of a storm

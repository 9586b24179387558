"""``stations.protocol.accepting``: a process whose handshakes queue up stops reading its listening sockets, and
reads them again once the queue is down, driven by the handshake slots of ``stations.consumers``."""

import asyncio
import inspect

import daphne.server
import pytest
from daphne.server import Server
from twisted.internet import tcp
from twisted.internet.testing import StringTransport
from twisted.web import http

from stations.consumers import HandshakeSlots
from stations.protocol import accepting


class Port:
    """What ``accepting`` calls on one of daphne's listening ports (a Twisted ``tcp.Port``)."""

    numberAccepts = 100  # Twisted's first bound

    def __init__(self):
        self.connected = True
        self.reading = True
        self.bounds = []

    def doRead(self):
        """As Twisted's: accept up to the bound; a full turn raises it by 20 (every turn is full in a storm)."""
        self.bounds.append(self.numberAccepts)
        self.numberAccepts += 20

    def stopReading(self):
        self.reading = False

    def startReading(self):
        self.reading = True


@pytest.fixture
def port(monkeypatch):
    monkeypatch.setattr(accepting, "_ports", [])
    monkeypatch.setattr(accepting, "_paused_for", set())
    monkeypatch.setattr(accepting, "_unread", 0)
    accepting.install()
    listening = Port()
    server = Server.__new__(Server)  # not run: its listen callback is called by hand
    server.listening_addresses = []
    server.listen_success(listening)
    return listening


def test_daphne_still_reports_its_ports_where_the_patch_records_them():
    accepting.install()
    assert list(inspect.signature(Server.listen_success).parameters) == ["self", "port"]
    assert "listener.addCallback(self.listen_success)" in inspect.getsource(daphne.server.Server.run)


def test_twisted_still_bounds_its_accepts_a_turn_where_the_patch_sets_it():
    source = inspect.getsource(tcp.Port.doRead)
    assert "numAccepts = self.numberAccepts" in source
    assert "self.numberAccepts += 20" in source


def test_a_port_takes_in_a_bounded_number_of_connections_a_turn(port):
    for _ in range(5):
        port.doRead()
    assert port.bounds == [accepting.ACCEPTS_PER_READ] * 5


def test_a_crowded_process_stops_reading_its_ports_and_reads_them_again_after(port):
    accepting.crowded(True)
    assert not port.reading
    accepting.crowded(True)
    assert not port.reading
    accepting.crowded(False)
    assert port.reading


def test_a_port_no_longer_listening_is_left_alone(port):
    accepting.crowded(True)
    port.connected = False
    accepting.crowded(False)
    assert not port.reading


async def test_the_handshakes_waiting_pause_it_from_half_the_limit_and_resume_it_at_a_quarter(port, settings):
    settings.CMS_OCPP_HANDSHAKES_WAITING = 8
    slots = HandshakeSlots(1)
    await slots.acquire()  # the one handshake in progress
    waiting = [asyncio.create_task(slots.acquire()) for _ in range(4)]
    await asyncio.sleep(0)
    assert slots.waiting == 4
    assert not port.reading
    slots.release()
    await asyncio.sleep(0)
    assert slots.waiting == 3
    assert not port.reading  # a quarter is 2
    slots.release()
    await asyncio.sleep(0)
    assert slots.waiting == 2
    assert port.reading
    for _ in waiting:
        slots.release()
    await asyncio.gather(*waiting)


def accepted() -> http.HTTPChannel:
    """A connection as daphne's port takes it in: an HTTP channel on its transport (Twisted's plain request)."""
    channel = http.HTTPChannel()
    channel.requestFactory = http.Request
    channel.makeConnection(StringTransport())
    return channel


def test_connections_accepted_with_their_first_request_unread_pause_the_port_until_half_are_read(port, monkeypatch):
    monkeypatch.setattr(accepting, "UNREAD_PAUSE", 4)
    channels = [accepted() for _ in range(3)]
    assert port.reading
    channels.append(accepted())
    assert not port.reading
    channels[0].dataReceived(b"GET /ocpp/CP-1 HTTP/1.1\r\nHost: csms\r\n\r\n")
    channels[0].dataReceived(b"GET /healthz HTTP/1.1\r\nHost: csms\r\n\r\n")  # a second request: counted once
    assert not port.reading  # three unread, half is two
    channels[1].connectionLost(None)  # gone before its request
    assert port.reading
    channels[0].connectionLost(None)  # read already: not counted again
    assert accepting._unread == 2


def test_either_reason_holds_the_port(port, monkeypatch):
    monkeypatch.setattr(accepting, "UNREAD_PAUSE", 2)
    channels = [accepted(), accepted()]
    accepting.crowded(True)
    for channel in channels:
        channel.connectionLost(None)
    assert not port.reading  # the handshakes waiting still hold it
    accepting.crowded(False)
    assert port.reading

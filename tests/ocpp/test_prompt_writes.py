"""Writes sent at the end of the loop's turn (``stations.protocol.prompt_writes``), on a real Twisted asyncio reactor
and real sockets: small writes leave without registering the socket for writability, several writes of one turn
leave in one send, what the kernel cannot take at once still arrives whole, and a close after a write delivers
the write first. Every test with a ``daphne_server`` runs the patch over the wire as well."""

import asyncio
import socket

import pytest
from twisted.internet import protocol, tcp
from twisted.internet.asyncioreactor import AsyncioSelectorReactor

from stations.protocol import prompt_writes


class Served(protocol.Protocol):
    def connectionMade(self):
        self.factory.connections.put_nowait(self)


@pytest.fixture
def patched(monkeypatch):
    monkeypatch.setattr(tcp.Connection, "send_scheduled", False, raising=False)
    monkeypatch.setattr(tcp.Connection, "startWriting", prompt_writes.start_writing_soon)


@pytest.fixture
def served(patched):
    """Runs ``test(server, client, registrations)`` on an event loop of its own with a Twisted asyncio reactor (the
    test session's loop never sees either): a listening port, the server side of one accepted connection, the
    client's socket, and the loop's writer registrations counted."""

    def run(test):
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(_served(loop, test))
        finally:
            loop.close()

    return run


async def _served(loop, test) -> None:
    reactor = AsyncioSelectorReactor(loop)
    registrations = []
    add_writer = loop.add_writer

    def counted_add_writer(fd, *args):
        registrations.append(fd)
        return add_writer(fd, *args)

    loop.add_writer = counted_add_writer
    factory = protocol.Factory.forProtocol(Served)
    factory.connections = asyncio.Queue()
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    client = socket.create_connection(("127.0.0.1", port.getHost().port))
    client.setblocking(False)
    try:
        server = await asyncio.wait_for(factory.connections.get(), 5)
        try:
            await test(server, client, registrations)
        finally:
            server.transport.abortConnection()
    finally:
        client.close()
        await port.stopListening().asFuture(loop)
        # The reactor is never run: its waker, registered on the loop by its constructor, is closed by hand.
        reactor.removeReader(reactor.waker)
        reactor.waker.connectionLost(None)


async def received(client: socket.socket, size: int) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while len(data) < size:
        chunk = await asyncio.wait_for(loop.sock_recv(client, 1 << 20), 5)
        if not chunk:
            break
        data += chunk
    return data


def test_a_small_write_leaves_without_registering_for_writability(served):
    async def test(server, client, registrations):
        server.transport.write(b"pong")
        assert await received(client, 4) == b"pong"
        assert registrations == []

    served(test)


def test_the_writes_of_one_turn_leave_in_one_send(served, monkeypatch):
    sends = []
    write_some = tcp.Connection.writeSomeData
    monkeypatch.setattr(
        tcp.Connection, "writeSomeData", lambda self, data: sends.append(bytes(data)) or write_some(self, data)
    )

    async def test(server, client, _):
        for part in (b"a", b"b", b"c"):
            server.transport.write(part)
        assert await received(client, 3) == b"abc"
        assert sends == [b"abc"]

    served(test)


def test_what_the_kernel_cannot_take_at_once_arrives_whole(served):
    async def test(server, client, registrations):
        payload = bytes(range(256)) * 40_000  # 10 MB: more than the socket buffers of both sides
        server.transport.write(payload)
        assert await received(client, len(payload)) == payload
        assert registrations  # the rest waited for writability, as without the patch

    served(test)


def test_a_close_after_a_write_delivers_the_write_then_closes(served):
    async def test(server, client, _):
        server.transport.write(b"last words")
        server.transport.loseConnection()
        assert await received(client, 11) == b"last words"  # then the end of the stream
        assert not server.transport.connected

    served(test)

"""A crowded process stops accepting connections for a while, instead of refusing them one by one.

In a reconnect storm of 10,000 stations a process that answered the handshakes it could not take in time with
503 spent most of its CPU on those refusals (each a TCP accept, an HTTP request parsed, an ASGI application
started and ended: 54,000 of them for 10,000 stations, and their garbage), and took fewer stations in. While it
stops reading its listening sockets, the connections wait in the kernel's accept queue (``runcms``'s listen
backlog) and, past it, the stations' TCP retransmits their SYN with its own back-off: no work here at all. It
reads them again once the handshakes waiting have come down (``HandshakeSlots`` in ``stations/consumers.py``
calls ``crowded``). HTTP on the same port waits as well, for the seconds it takes.

A handshake is counted as waiting only once its request is read, an event-loop turn or more after the accept. So a
port takes at most ``ACCEPTS_PER_READ`` connections a turn (Twisted raises its own bound by 20 after every full
turn, and a storm then drained the whole accept queue, 4,096, before the first of them was counted: far past the
limit, and the rest refused one by one).

Installed (like ``daphne_walks``) only when daphne is the server: it records the ports daphne listens on.
``tests/ocpp/test_accepting.py``.
"""

import logging

from stations.protocol.daphne_patch import daphne_patch

logger = logging.getLogger(__name__)

ACCEPTS_PER_READ = 64

_ports: list = []
_paused = False


@daphne_patch
def install(daphne_server) -> None:
    Server = daphne_server.Server
    listen_success = Server.listen_success

    def listen_success_recorded(self, port):
        _ports.append(port)
        bound_accepts(port)
        return listen_success(self, port)

    Server.listen_success = listen_success_recorded


def bound_accepts(port) -> None:
    """At most ``ACCEPTS_PER_READ`` connections taken in each time the port is read."""
    read = port.doRead

    def doRead():
        port.numberAccepts = min(port.numberAccepts, ACCEPTS_PER_READ)
        return read()

    port.doRead = doRead


def crowded(now: bool) -> None:
    """Stop reading the listening sockets when ``now`` crowded, read them again when no longer (idempotent)."""
    global _paused
    if now == _paused or not _ports:
        return
    _paused = now
    for port in _ports:
        if not port.connected:  # stopped listening (shutting down)
            continue
        if now:
            port.stopReading()
        else:
            port.startReading()
    logger.info("new connections paused" if now else "new connections accepted again")

"""A crowded process stops accepting connections for a while, instead of refusing them one by one.

In a reconnect storm of 10,000 stations a process that answered the handshakes it could not take in time with
503 spent most of its CPU on those refusals (each a TCP accept, an HTTP request parsed, an ASGI application
started and ended: 54,000 of them for 10,000 stations, and their garbage), and took fewer stations in. While it
stops reading its listening sockets, the connections wait in the kernel's accept queue (``runcms``'s listen
backlog) and, past it, the stations' TCP retransmits their SYN with its own back-off: no work here at all. HTTP on
the same port waits as well, for the seconds it takes. It stops for either of two reasons:

- the handshakes waiting for their turn (``HandshakeSlots`` in ``stations/consumers.py`` calls ``crowded``);
- the connections accepted whose first request is not read yet (``UNREAD_PAUSE``, counted here): a handshake only
  waits once its request is read, a few event-loop turns after the accept, and in the first second of a storm
  the process accepted 9,900 connections before the first of them was counted as waiting (8,900 refused).

A port also takes at most ``ACCEPTS_PER_READ`` connections a turn (Twisted raises its own bound by 20 after every
full turn, to thousands in a storm).

Installed (like ``daphne_walks``) only when daphne is the server: it records the ports daphne listens on, and
counts the connections whose first request is unread on Twisted's HTTP channel (daphne's, WebSocket upgrades
included: the upgrade is that first request).
``tests/ocpp/test_accepting.py``.
"""

import logging

from stations.protocol.daphne_patch import daphne_patch

logger = logging.getLogger(__name__)

ACCEPTS_PER_READ = 64
# Connections accepted with their first request unread: from this many the ports pause, at half they read again.
UNREAD_PAUSE = 256
HANDSHAKES, UNREAD = "handshakes waiting", "requests unread"

_ports: list = []
_paused_for: set[str] = set()
_unread = 0
# Set on a connection's HTTP channel from its accept until its first request is read or it is lost.
UNREAD_MARK = "_voltgrid_unread"


@daphne_patch
def install(daphne_server) -> None:
    from twisted.web.http import HTTPChannel

    Server = daphne_server.Server
    listen_success = Server.listen_success
    made, lost, read = HTTPChannel.connectionMade, HTTPChannel.connectionLost, HTTPChannel.allContentReceived

    def listen_success_recorded(self, port):
        _ports.append(port)
        bound_accepts(port)
        return listen_success(self, port)

    def connection_made_counted(self):
        setattr(self, UNREAD_MARK, True)
        unread_changed(+1)
        return made(self)

    def connection_lost_counted(self, reason):
        first_request_read(self)
        return lost(self, reason)

    def all_content_received_counted(self):
        first_request_read(self)
        return read(self)

    Server.listen_success = listen_success_recorded
    HTTPChannel.connectionMade = connection_made_counted
    HTTPChannel.connectionLost = connection_lost_counted
    HTTPChannel.allContentReceived = all_content_received_counted


def bound_accepts(port) -> None:
    """At most ``ACCEPTS_PER_READ`` connections taken in each time the port is read."""
    read = port.doRead

    def doRead():
        port.numberAccepts = min(port.numberAccepts, ACCEPTS_PER_READ)
        return read()

    port.doRead = doRead


def first_request_read(channel) -> None:
    """The channel's first request is read, or it is lost before: no longer counted as unread (once)."""
    if getattr(channel, UNREAD_MARK, False):
        setattr(channel, UNREAD_MARK, False)
        unread_changed(-1)


def unread_changed(by: int) -> None:
    global _unread
    _unread += by
    if _unread >= UNREAD_PAUSE:
        pause(UNREAD, True)
    elif _unread <= UNREAD_PAUSE // 2:
        pause(UNREAD, False)


def crowded(now: bool) -> None:
    """Stop reading the listening sockets when the handshakes waiting are ``now`` crowded, read them again when no
    longer (unless unread requests hold them; idempotent)."""
    pause(HANDSHAKES, now)


def pause(reason: str, now: bool) -> None:
    was = bool(_paused_for)
    if now:
        _paused_for.add(reason)
    else:
        _paused_for.discard(reason)
    paused = bool(_paused_for)
    if paused == was or not _ports:
        return
    for port in _ports:
        if not port.connected:  # stopped listening (shutting down)
            continue
        if paused:
            port.stopReading()
        else:
            port.startReading()
    logger.info(f"new connections paused: {reason}" if paused else "new connections accepted again")

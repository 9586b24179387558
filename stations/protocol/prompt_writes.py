"""What daphne writes on a socket is sent at the end of the loop's turn, not after a round through the selector.

Twisted's asyncio reactor sends nothing when a protocol writes: it registers the socket for writability
(``epoll_ctl``), lets the loop poll, sends when the selector says so, and unregisters (``epoll_ctl`` again). A
station's socket nearly always has room for an OCPP frame, so that round only costs: at 10,000 stations (500
pings and about 100 answers a second) registering and unregistering were about a tenth of the event loop's
samples, two system calls a write that each let the other threads take the interpreter lock, and each answer
waited one more turn of the loop. Measured alone (answers to 200 connections on one loop, client in the same
process): 8-11 microseconds less CPU an answer (45-53 to 37-42).

Here a write schedules the send for the end of the current turn (``call_soon``, once per connection and turn, so
what one turn writes to a socket still leaves in one ``send``). Only what the kernel does not take at once waits
for writability, as before; a connection being closed flushes and closes as before, through the reactor's own
write step. Reactors other than asyncio's are left as they are.

Installed (like ``daphne_walks``) only when daphne is the server; ``tests/ocpp/test_prompt_writes.py``.
"""

from twisted.internet import tcp
from twisted.python.log import callWithLogger

from stations.protocol.daphne_patch import daphne_patch

register_for_writability = tcp.Connection.startWriting


def start_writing_soon(connection) -> None:
    """``startWriting`` of a TCP connection: send at the end of this turn (see the module's docstring)."""
    reactor = connection.reactor
    loop = getattr(reactor, "_asyncioEventloop", None)
    if loop is None:
        register_for_writability(connection)
        return
    if connection.send_scheduled or connection in reactor._writers:
        return
    connection.send_scheduled = True
    loop.call_soon(_send, connection)


def _send(connection) -> None:
    connection.send_scheduled = False
    if not connection.connected:
        return
    reactor = connection.reactor
    # The reactor's own step: a failed send or a finished close disconnects the connection, as after a poll.
    callWithLogger(connection, reactor._readOrWrite, connection, False)
    if connection.connected and (connection._tempDataLen or connection.offset < len(connection.dataBuffer)):
        register_for_writability(connection)  # the kernel's buffer is full: the rest when there is room


@daphne_patch
def install(daphne_server) -> None:
    tcp.Connection.send_scheduled = False
    tcp.Connection.startWriting = start_writing_soon

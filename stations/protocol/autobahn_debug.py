"""autobahn's debug lines formatted only when written.

For every new WebSocket connection autobahn pretty-prints its forty-odd options into the argument of a debug line
(``pformat`` in ``WebSocketProtocol._connectionMade``), whether or not debug is logged: a tenth of the main
thread's time in a reconnect storm of 10,000 stations. Here autobahn's ``pformat`` gives an object that
pretty-prints when the line is written, if ever. Its one other use, ``Timings.__str__``, must answer a string: it
keeps the real ``pformat``.

Installed (like ``daphne_walks``) only when daphne is the server; ``tests/ocpp/test_autobahn_debug.py``.
"""

from pprint import pformat

from stations.protocol.daphne_patch import daphne_patch


class Formatted:
    """``pformat(value)``, done by ``str()`` (a log line's formatting), not by the call."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __str__(self) -> str:
        return pformat(self.value)

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


@daphne_patch
def install(daphne_server) -> None:
    from autobahn.websocket import protocol

    protocol.pformat = Formatted
    protocol.Timings.__str__ = lambda self: pformat(self._timings)

"""autobahn's debug lines formatted only when written.

For every new WebSocket connection autobahn pretty-prints its forty-odd options into the argument of a debug line
(``pformat`` in ``WebSocketProtocol._connectionMade``), whether or not debug is logged: a tenth of the main
thread's time in a reconnect storm of 10,000 stations. Here autobahn's ``pformat`` gives an object that
pretty-prints when the line is written, if ever. Its one other use, ``Timings.__str__``, must answer a string: it
keeps the real ``pformat``. The same for ``hltype`` and ``hlval``, which colour the arguments of a debug line
written for every frame sent (``sendData``): 2.8 microseconds a frame, spent for nothing.

Installed (like ``daphne_walks``) only when daphne is the server; ``tests/ocpp/test_autobahn_debug.py``.
"""

from pprint import pformat

from stations.protocol.daphne_patch import daphne_patch


class Formatted:
    """``pformat(value)`` (or ``formatter(value)``), done by ``str()`` (a log line's formatting), not by the call."""

    __slots__ = ("formatter", "value")

    def __init__(self, value, formatter=None):
        self.value = value
        self.formatter = formatter

    def __str__(self) -> str:
        return (self.formatter or pformat)(self.value)

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def formatted_when_written(highlight):
    """``highlight(value, ...)`` (autobahn's ``hltype``, ``hlval``) as a ``Formatted``."""

    def deferred(value, *args, **kwargs):
        return Formatted(value, lambda value: highlight(value, *args, **kwargs))

    return deferred


@daphne_patch
def install(daphne_server) -> None:
    from autobahn import util
    from autobahn.websocket import protocol

    protocol.pformat = Formatted
    protocol.Timings.__str__ = lambda self: pformat(self._timings)
    protocol.hltype = formatted_when_written(util.hltype)
    protocol.hlval = formatted_when_written(util.hlval)

"""daphne's two periodic walks over every connection, made cheap for a node holding 10,000 stations.

daphne 4 walks its whole connection table every second (``application_checker``: reap the applications that
have ended) and every two seconds (``timeout_checker``: handshake and socket timeouts, the pings), each walk
in one go on the event loop: at 5,000 connections 7 % of the main thread, and every message arriving during
a walk waits for it (the tail of the latency). Here:

- ``application_checker`` runs daphne's own code over only the connections with something to reap: those
  whose application has finished (a done callback marks them) or whose socket has closed (marked by
  ``protocol_disconnected``, and again once ``application_close_timeout`` has passed, for the kill). Nothing
  happens at all for connections that are simply open.
- ``timeout_checker`` checks every connection as often as before (each every two seconds), but a slice at a
  time, twenty times as often, so that no message waits for more than a twentieth of a walk.

Installed (like ``handshake_denial``) only when daphne is the server. ``tests/ocpp/test_daphne_walks.py``
fails when the daphne internals used here change shape, and proves the reaping over the wire.
"""

import math

from stations.protocol.daphne_patch import daphne_patch

# daphne's period for the timeout walk; the slices it is cut into.
TIMEOUT_PERIOD = 2.0
TIMEOUT_SLICES = 20
# Connections marked for the application check (a set per server); the timeout walk's round in progress (the
# connections still to check, and the slice size).
MARKED = "_voltgrid_marked"
ROUND = "_voltgrid_timeout_round"


@daphne_patch
def install(daphne_server) -> None:
    Server = daphne_server.Server
    reactor = daphne_server.reactor
    check_all_applications = Server.application_checker
    create_application, protocol_disconnected = Server.create_application, Server.protocol_disconnected

    def marked(server) -> set:
        return server.__dict__.setdefault(MARKED, set())

    def create_application_watched(self, protocol, scope):
        queue = create_application(self, protocol, scope)
        details = self.connections.get(protocol)
        if details is not None and "application_instance" in details:
            details["application_instance"].add_done_callback(lambda _: marked(self).add(protocol))
        return queue

    def protocol_disconnected_marked(self, protocol):
        protocol_disconnected(self, protocol)
        marked(self).add(protocol)
        # Past this, daphne cancels an application still running for a closed socket: look again then.
        reactor.callLater(self.application_close_timeout + 0.5, lambda: marked(self).add(protocol))

    def application_checker(self):
        """daphne's own check, over the marked connections only (it reschedules itself, as daphne's does)."""
        protocols, self.__dict__[MARKED] = marked(self), set()
        everyone = self.connections
        self.connections = {protocol: everyone[protocol] for protocol in protocols if protocol in everyone}
        try:
            check_all_applications(self)
        finally:
            checked, self.connections = self.connections, everyone
            for protocol in protocols:
                if protocol not in checked:
                    everyone.pop(protocol, None)  # reaped by daphne's check

    def timeout_checker(self):
        """Each connection checked every TIMEOUT_PERIOD, as daphne does, a slice per tick."""
        pending, size = self.__dict__.get(ROUND) or ([], 0)
        if not pending:
            pending = list(self.connections)
            size = math.ceil(len(pending) / TIMEOUT_SLICES)
        now_due, self.__dict__[ROUND] = pending[:size], (pending[size:], size)
        for protocol in now_due:
            if protocol in self.connections:
                protocol.check_timeouts()
        reactor.callLater(TIMEOUT_PERIOD / TIMEOUT_SLICES, self.timeout_checker)

    Server.create_application = create_application_watched
    Server.protocol_disconnected = protocol_disconnected_marked
    Server.application_checker = application_checker
    Server.timeout_checker = timeout_checker

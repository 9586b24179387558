"""daphne's access log without the station sockets' lines.

daphne writes an access-log line when a WebSocket handshake reaches the application, another when it is
accepted and a third when it closes, each formatted with a timestamp and written on the main thread: in a
reconnect storm of 10,000 stations, 4-5 % of the event loop's samples. For a station's socket
(``/ocpp/<station_id>``) our own log already says it, with the station's id rather than an address and a
path: "station connected" (version, node), "station disconnected", and each refusal with its reason
("station refused: ...", "security event: station login failed"). So those three lines are left out; HTTP
requests and the portal's sockets keep theirs.

Installed (like ``daphne_walks``) only when daphne is the server; ``tests/ocpp/test_access_log.py``.
"""

from stations.protocol.daphne_patch import daphne_patch

STATION_PATH_PREFIX = "/ocpp/"


def without_station_sockets(daphne_log_action):
    """daphne's ``Server.log_action``, silent for the WebSocket events of station sockets."""

    def log_action(server, protocol, action, details):
        if protocol == "websocket" and details.get("path", "").startswith(STATION_PATH_PREFIX):
            return
        daphne_log_action(server, protocol, action, details)

    return log_action


@daphne_patch
def install(daphne_server) -> None:
    daphne_server.Server.log_action = without_station_sockets(daphne_server.Server.log_action)

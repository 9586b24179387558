"""The daphne and autobahn internals ``stations.protocol.handshake_denial`` relies on; the 401 itself is proven
over the wire in test_v201_wire."""

import inspect

from autobahn.websocket.protocol import WebSocketServerProtocol
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol

from stations.protocol import handshake_denial


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_daphne_still_has_the_hooks_the_denial_response_patches():
    handshake_denial.install()  # signatures are read through the patches (functools.wraps) to daphne's own
    assert parameters(Server.create_application) == ["self", "protocol", "scope"]
    assert parameters(WebSocketProtocol.handle_reply) == ["self", "message"]
    # The reject path mirrored by _deny: the pending handshake deferred, then the disconnect bookkeeping.
    reject = inspect.getsource(WebSocketProtocol.serverReject)
    assert "handshake_deferred" in reject and "protocol_disconnected" in reject
    assert WebSocketProtocol.STATE_CONNECTING == WebSocketServerProtocol.STATE_CONNECTING


def test_autobahn_fails_a_handshake_with_any_status_and_headers():
    assert parameters(WebSocketServerProtocol.failHandshake) == ["self", "reason", "code", "responseHeaders"]


def test_a_scope_without_the_extension_is_refused_the_old_way():
    assert not handshake_denial.supported({"type": "websocket"})
    assert handshake_denial.supported({"type": "websocket", "extensions": {"websocket.http.response": {}}})

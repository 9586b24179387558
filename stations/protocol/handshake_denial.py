"""daphne gains the ASGI "WebSocket Denial Response" extension, so a handshake can be refused with a status
of our choosing (401 for OCPP 2.0.1 credentials) instead of daphne's fixed 403.

daphne 4 answers every refused handshake ``403 Access denied``. The ASGI spec lets a server declare
``scope["extensions"]["websocket.http.response"]``; the application may then answer the upgrade with
``websocket.http.response.start`` / ``.body``, as for plain HTTP. This module is the one place that
reaches into daphne's (and autobahn's) internals for it; ``tests/ocpp/test_handshake_denial.py`` fails
when either changes shape.

daphne also leaves the WebSocket scope's optional ``scheme`` out (ASGI's default is "ws"), even over TLS; the
same patch fills it in ("wss" on a TLS transport), which security profile 2 needs to tell the two apart, and
declares the ASGI TLS extension with the client certificate the TLS layer verified (security profile 3; only the
``mtls:`` endpoint of ``stations/protocol/tls_endpoint.py`` asks a client for one, and a certificate that fails
its verification ends the TLS handshake, so a certificate found here is a verified one).
"""

import functools
import http

from stations.protocol.daphne_patch import daphne_patch

EXTENSION = "websocket.http.response"
TLS_EXTENSION = "tls"


def supported(scope) -> bool:
    """Whether the server of this scope takes a denial response (in-process test communicators do not)."""
    return EXTENSION in (scope.get("extensions") or {})


async def deny(send, status: int, headers=()) -> None:
    """Answer a handshake with this HTTP status instead of accepting it (where ``supported``)."""
    await send({"type": "websocket.http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "websocket.http.response.body", "body": b""})


@daphne_patch
def install(daphne_server) -> None:
    """A server with the extension built in (uvicorn) declares it itself."""
    from daphne.ws_protocol import WebSocketProtocol
    from twisted.internet.interfaces import ISSLTransport

    Server = daphne_server.Server
    create_application, handle_reply = Server.create_application, WebSocketProtocol.handle_reply

    @functools.wraps(create_application)
    def create_application_declaring(self, protocol, scope):
        if scope.get("type") == "websocket":
            scope.setdefault("extensions", {})[EXTENSION] = {}
            tls = ISSLTransport(protocol.transport, None)
            scope.setdefault("scheme", "wss" if tls is not None else "ws")
            if tls is not None:
                scope["extensions"].setdefault(TLS_EXTENSION, tls_extension(tls))
        return create_application(self, protocol, scope)

    @functools.wraps(handle_reply)
    def handle_reply_with_denial(self, message):
        kind = message.get("type")
        if kind == "websocket.http.response.start" and self.state == self.STATE_CONNECTING:
            self._denial = (message["status"], list(message.get("headers", ())))
        elif kind == "websocket.http.response.body" and getattr(self, "_denial", None):
            if not message.get("more_body", False):
                _deny(self, *self._denial)
        else:
            handle_reply(self, message)

    Server.create_application = create_application_declaring
    WebSocketProtocol.handle_reply = handle_reply_with_denial


def tls_extension(transport) -> dict:
    """The ASGI TLS extension's view of a twisted TLS transport: the client's certificate as PEM, if it sent one."""
    from cryptography.hazmat.primitives.serialization import Encoding

    peer = transport.getPeerCertificate()
    certificate = peer.to_cryptography() if peer is not None else None
    return {
        "server_cert": None,
        "client_cert_chain": [certificate.public_bytes(Encoding.PEM).decode("ascii")] if certificate else [],
        "client_cert_name": certificate.subject.rfc4514_string() if certificate else None,
        "client_cert_error": None,
        "tls_version": None,
        "cipher_suite": None,
    }


def _deny(protocol, status: int, headers: list) -> None:
    """What daphne's ``serverReject`` does, with our status and headers (it has only 403 and none)."""
    protocol._denial = None
    del protocol.handshake_deferred  # never fired: the handshake ends here, not in autobahn's callbacks
    response_headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]
    if not any(name.lower() == "content-length" for name, _ in response_headers):
        response_headers.append(("Content-Length", "0"))
    protocol.failHandshake(http.HTTPStatus(status).phrase, status, response_headers)
    protocol.server.protocol_disconnected(protocol)
    client = "{}:{}".format(*protocol.client_addr) if protocol.client_addr else None
    protocol.server.log_action("websocket", "rejected", {"path": protocol.request.path, "client": client})

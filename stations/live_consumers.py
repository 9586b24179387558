"""The browser's live view of the network: a WebSocket (``/ws/live/``) relaying ``stations.live`` events to staff.

Routed in cms/asgi.py behind the session (AuthMiddlewareStack) and ``PortalOriginValidator``, so only pages of
this portal (same scheme, host and port), opened by a logged-in user, reach it; then only staff with a role
that reads stations.
"""

import contextlib
from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.urls import re_path

from accounts.roles import Role, user_has_role
from stations.app_settings import app_settings
from stations.live import NETWORK_GROUP
from stations.protocol.channel_layer import LAYER_ERRORS, layer_health

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin, the port made explicit; None if it is not an http(s) origin."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def _matches(seen: tuple[str, str, int], trusted: str) -> bool:
    wanted = _origin(trusted)
    if wanted is None or wanted[0] != seen[0] or wanted[2] != seen[2]:
        return False
    if wanted[1].startswith("*."):  # CSRF_TRUSTED_ORIGINS' subdomain wildcard
        return seen[1].endswith(wanted[1][1:])
    return wanted[1] == seen[1]


def portal_origin_allowed(origin: str, *, scheme: str, host: str) -> bool:
    """Whether a page of ``origin`` may open the browser's sockets: scheme, host and port must be the portal's own.

    The portal's origins are the one the socket was opened on (``scheme`` and the ``Host`` header, whose host must
    be in ALLOWED_HOSTS), CSRF_TRUSTED_ORIGINS and CMS_PORTAL_URL (behind a TLS proxy the socket's own scheme and
    port are not what the browser saw). The same rule as Django's CSRF origin check.
    """
    seen = _origin(origin)
    if seen is None:
        return False
    domain, _ = split_domain_port(host)
    if domain and validate_host(domain, settings.ALLOWED_HOSTS) and _origin(f"{scheme}://{host}") == seen:
        return True
    return any(_matches(seen, trusted) for trusted in [*settings.CSRF_TRUSTED_ORIGINS, app_settings.PORTAL_URL])


class PortalOriginValidator:
    """ASGI middleware for the browser's WebSockets: a page of another origin is refused (403) before anything else.

    Channels' AllowedHostsOriginValidator compares the host only, so any port or scheme of an allowed host passed.
    """

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        headers = {name: value.decode("latin1") for name, value in scope.get("headers", [])}
        scheme = "https" if scope.get("scheme") == "wss" else "http"
        if not portal_origin_allowed(headers.get(b"origin", ""), scheme=scheme, host=headers.get(b"host", "")):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


BOARD_ROLES = (Role.OPERATOR_ADMIN, Role.TECHNICIAN, Role.FINANCE, Role.ANALYST)  # as the live board page


class LiveBoardConsumer(AsyncJsonWebsocketConsumer):
    joined = False

    async def connect(self):
        if not await database_sync_to_async(user_has_role)(self.scope.get("user"), *BOARD_ROLES):
            await self.close()  # before accepting: the handshake is refused (403)
            return
        await self._join()
        await self.accept()

    async def _join(self) -> None:
        """Join the network group; while Redis is away the board still opens, and the next ping joins."""
        try:
            await self.channel_layer.group_add(NETWORK_GROUP, self.channel_name)
        except LAYER_ERRORS as error:
            layer_health.failed(error)
            return
        layer_health.succeeded()
        self.joined = True

    async def disconnect(self, code):
        if self.joined:
            with contextlib.suppress(*LAYER_ERRORS):
                await self.channel_layer.group_discard(NETWORK_GROUP, self.channel_name)

    async def receive_json(self, content, **kwargs):
        # The page pings every minute; joining again renews the membership, which Redis would expire after a day,
        # and rejoins after a Redis outage.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self._join()
            await self.send_json({"kind": "pong", "live": self.joined})

    async def live_events(self, message):
        for event in message["events"]:
            await self.send_json(event)


# Relative to /ws/ (see cms/asgi.py).
websocket_urlpatterns = [re_path(r"^live/$", LiveBoardConsumer.as_asgi())]

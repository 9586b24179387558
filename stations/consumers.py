"""The OCPP-J WebSocket endpoint ``/ocpp/<station_id>``: handshake checks, then a thin pipe to the protocol layer."""

import asyncio
import base64
import binascii
import logging
import time
from http import HTTPStatus
from urllib.parse import unquote

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from stations import client_certificates, login_throttle, security, services
from stations.app_settings import app_settings
from stations.live_outbox import live_outbox
from stations.protocol import accepting, commands, handshake_denial
from stations.protocol.connection import ConsumerConnection
from stations.protocol.db import PoolBatches, in_db_pool
from stations.protocol.group_commit import group_commit
from stations.protocol.node_runtime import node_runtime
from stations.protocol.versions import version_chosen

logger = logging.getLogger(__name__)

# A handshake holds its slot mostly waiting (its login's database and Redis round trips in the pool's threads): at
# 16, a 10,000-station storm took its stations in at 80 a second with a third of the CPU idle; at 48, at 165.
HANDSHAKES_AT_ONCE = 48
# What a station refused for a crowded handshake queue is asked to wait before it tries again.
BUSY_RETRY_AFTER_SECONDS = 10
BUSY = [(b"retry-after", str(BUSY_RETRY_AFTER_SECONDS).encode())]


def basic_auth_password(headers: list[tuple[bytes, bytes]], ocpp_id: str) -> bytes | None:
    """The password of an HTTP Basic ``Authorization`` header whose user is the station id, as the bytes sent (a
    1.6 AuthorizationKey need not be text, see stations.authorization_key)."""
    for name, value in headers:
        if name.lower() != b"authorization":
            continue
        scheme, _, encoded = value.decode("latin-1").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
            return password if user.decode("utf-8") == ocpp_id else None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def connection_is_tls(scope) -> bool:
    """Whether the station reached us over TLS: wss to this server, or https to a TLS proxy in front of it that
    is trusted (``BEHIND_TLS_PROXY`` sets Django's ``SECURE_PROXY_SSL_HEADER``; otherwise the header is ignored,
    as anyone can send it)."""
    if scope.get("scheme") == "wss":
        return True
    trusted = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if not trusted:
        return False
    meta_name, secure_value = trusted
    header = meta_name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1")
    for name, value in scope["headers"]:
        if name.lower() == header:
            return value.decode("latin-1").split(",", 1)[0].strip() == secure_value
    return False


class HandshakeSlots(asyncio.Semaphore):
    """Handshakes of this process in progress at once. In a reconnect storm of thousands of stations, the
    first come are accepted first, instead of all of them together (and late, past the server's
    handshake timeout), and the channel layer's Redis pool is not asked for a connection per station.
    Those waiting are counted: from half ``CMS_OCPP_HANDSHAKES_WAITING`` the process stops accepting new
    connections until they are down to a quarter (``accepting``); at the limit, one that still comes (those
    accepted at once when it reads its sockets again overshoot) is refused (``crowded``)."""

    def __init__(self, value: int):
        super().__init__(value)
        self.waiting = 0
        # Read once: a setting's lookup is dearer than the check itself, made for every handshake of a storm.
        self.limit = app_settings.HANDSHAKES_WAITING

    def crowded(self) -> bool:
        return self.waiting >= self.limit

    async def acquire(self):
        self.waiting += 1
        if self.waiting >= self.limit // 2:
            accepting.crowded(True)
        try:
            return await super().acquire()
        finally:
            self.waiting -= 1
            if self.waiting <= self.limit // 4:
                accepting.crowded(False)


_handshake_slots: HandshakeSlots | None = None


def _handshakes() -> HandshakeSlots:
    global _handshake_slots
    if _handshake_slots is None:
        _handshake_slots = HandshakeSlots(HANDSHAKES_AT_ONCE)
    return _handshake_slots


# The handshakes' logins, read together (``security.station_logins``): a round trip per batch, not three per
# handshake, and one hop into the pool's threads.
login_batches = PoolBatches(max_batch=HANDSHAKES_AT_ONCE)


def refusing_when_crowded(consumer_app):
    """``consumer_app`` behind a gate that answers 503 at once while the process is ``crowded``.

    A storm of thousands of stations is mostly refused handshakes, and each of them, refused by the consumer,
    first cost a consumer, a channel of the channel layer and its receive tasks, and their cancellation. Here a
    refusal is two messages (1.4 ms of server CPU instead of 1.8 in a storm of refusals).
    A server without the denial extension (an in-process test communicator) goes on to the consumer, which
    refuses as it can.
    """

    async def gate(scope, receive, send):
        if not (_handshakes().crowded() and handshake_denial.supported(scope)):
            return await consumer_app(scope, receive, send)
        await receive()  # websocket.connect
        station_id = unquote(scope["url_route"]["kwargs"]["station_id"])
        logger.info("station refused: too many handshakes waiting", extra={"station_id": station_id})
        await handshake_denial.deny(send, HTTPStatus.SERVICE_UNAVAILABLE, BUSY)

    return gate


def _record_connected(connections: list[services.StationConnection]) -> list[str]:
    """New connections of many stations in one transaction (a reconnect storm is thousands)."""
    return services.stations_connected(connections=connections)


def _record_disconnected(ended: list[dict]) -> list[bool]:
    return [services.station_disconnected(**arguments) for arguments in ended]


class OcppConsumer(AsyncWebsocketConsumer):
    station = None
    charge_point = None
    # Set once the connection is accepted, until everything it started is ended and it is recorded offline.
    accepted = False

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            # A consumer that crashed (or was cancelled by the server) never gets its disconnect(): the
            # station must not stay online in the database for ever, nor its serving tasks run on.
            if self.accepted:
                await asyncio.shield(self._end())

    async def dispatch(self, message):
        # Channels closes stale database connections of its one sync thread before every message, a
        # thread hop per frame; this consumer does no database work there (see stations.protocol.db).
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        self.ocpp_id = unquote(self.scope["url_route"]["kwargs"]["station_id"])
        self.calls: set[asyncio.Task] = set()  # commands in flight, held until done (see station_call)
        self.version = version_chosen(self.scope["subprotocols"])
        if self.version is None:
            logger.warning(
                "station refused: no supported subprotocol",
                extra={"station_id": self.ocpp_id, "offered": ",".join(self.scope["subprotocols"])},
            )
            await self.close()
            return
        if _handshakes().crowded():
            await self.refuse_busy("too many handshakes waiting")
            return
        queued_at = time.monotonic()
        async with _handshakes():
            if time.monotonic() - queued_at > app_settings.HANDSHAKE_MAX_WAIT_SECONDS:
                # Its station has given up, or soon will (daphne drops a handshake at its connect timeout):
                # logging it in would be work for nobody, while the fresh ones behind it wait their turn.
                await self.refuse_busy("handshake waited too long for its turn")
                return
            attempt = security.LoginAttempt(
                ocpp_id=self.ocpp_id,
                password=basic_auth_password(self.scope["headers"], self.ocpp_id),
                certificate=client_certificates.presented_certificate(self.scope),
                client=login_throttle.handshake_address(self.scope),
            )
            login = await login_batches.submit(security.station_logins, attempt)
            self.station = login.station
            if login.throttled:
                await self.refuse(HTTPStatus.TOO_MANY_REQUESTS)
                return
            if self.station is None:
                await self.refuse_credentials()
                return
            if self.station.requires_tls and not connection_is_tls(self.scope):
                # A00.FR.002: another profile than the station's is refused; 403, as new credentials cannot help.
                client = ":".join(map(str, self.scope.get("client") or ()))
                await in_db_pool(security.insecure_connection_refused)(station=self.station, client=client)
                await self.close()
                return
            live_outbox.bind(asyncio.get_running_loop())
            self.connected_at = time.time()
            await self.accept(self.version.subprotocol)
        self.accepted = True
        await node_runtime().hold(self)
        await self.record_online()
        self.connection = ConsumerConnection(self, station_pk=self.station.pk)
        self.charge_point = self.version.charge_point(self.station, self.connection)
        self.serve_task = asyncio.create_task(self.charge_point.start())

    async def refuse_credentials(self) -> None:
        """Missing, wrong or unknown credentials: the status the chosen OCPP version names (one answer for
        all three, so the handshake does not tell which station ids exist)."""
        status = self.version.refused_credentials_status
        if status is None:
            await self.close()
            return
        await self.refuse(status, [(b"www-authenticate", b'Basic realm="OCPP", charset="UTF-8"')])

    async def refuse(self, status: int, headers: list[tuple[bytes, bytes]] = ()) -> None:
        """Refuse the handshake with this HTTP status (a plain 403 where the server cannot answer another)."""
        if not handshake_denial.supported(self.scope):
            await self.close()
            return
        await handshake_denial.deny(self.base_send, status, headers)

    async def refuse_busy(self, reason: str) -> None:
        """The process is too busy for this handshake now: 503 with a Retry-After, which a station takes as
        "later", not as wrong credentials (daphne's plain refusal is a 403)."""
        logger.info(f"station refused: {reason}", extra={"station_id": self.ocpp_id})
        await self.refuse(HTTPStatus.SERVICE_UNAVAILABLE, BUSY)

    async def record_online(self) -> None:
        """Record this connection as the station's, held by this node (by its current lease); the connection it
        takes over, if any, is told to close."""
        connected = services.StationConnection(
            station=self.station,
            ocpp_version=self.version.number,
            channel_name=self.channel_name,
            node=node_runtime().node,
        )
        previous = await group_commit().submit(_record_connected, connected)
        if previous:
            replaced = {"type": "station.replaced", "by": self.channel_name, "at": self.connected_at}
            await node_runtime().tell(previous, replaced)

    async def receive(self, text_data=None, bytes_data=None):
        # OCPP-J uses text frames; a binary one is still parsed (and refused if it is not UTF-8 JSON).
        self.connection.feed(text_data if text_data is not None else bytes_data)

    async def send_frame(self, frame: str) -> None:
        await self.send(text_data=frame)

    async def station_call(self, event):
        """A command from any process (see stations.protocol.commands); answered on the caller's reply channel.

        Run as a task: the station's answer arrives as a frame through this same consumer. A call still
        waiting for it when the connection ends gets its caller told at once that the station is offline.
        """
        task = asyncio.create_task(commands.serve_call(self.charge_point, event, self.channel_layer))
        self.calls.add(task)
        task.add_done_callback(self.calls.discard)

    async def station_replaced(self, event):
        # Connections that joined late (Redis was away) announce themselves late: only a newer one replaces.
        if event["by"] != self.channel_name and event.get("at", float("inf")) >= self.connected_at:
            logger.info("connection replaced by a newer one", extra={"station_id": self.ocpp_id})
            await self.close(code=4000)

    async def websocket_disconnect(self, message):
        # Channels' own first closes the sync thread's stale database connections, a hop into that one thread
        # for every closed socket (a storm's refused handshakes included); this consumer does no database work
        # there (see stations.protocol.db), and joins no groups.
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def disconnect(self, code):
        if self.accepted:
            await self._end()

    async def _end(self) -> None:
        """Stop serving, end the commands still in flight, write the log, record the station offline."""
        self.accepted = False
        if self.charge_point is not None:
            self.serve_task.cancel()
            # Not a cancel of the calls' tasks: an answer that arrived just before the close (a station that
            # answers, then reconnects) would be lost with them. The calls end, offline, after reading them.
            self.charge_point.connection_lost(self.connection.take_unread())
            await self.connection.close()
        disconnected = {"station": self.station, "channel_name": self.channel_name}
        try:
            await group_commit().submit(_record_disconnected, disconnected)
        except Exception:
            logger.exception("station could not be recorded offline", extra={"station_id": self.ocpp_id})
        await node_runtime().release(self)

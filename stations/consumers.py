"""The OCPP-J WebSocket endpoint ``/ocpp/<station_id>``: handshake checks, then a thin pipe to the protocol layer."""

import asyncio
import base64
import binascii
import logging
from urllib.parse import unquote

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from stations import services
from stations.protocol import commands
from stations.protocol.connection import ConsumerConnection
from stations.protocol.v16 import ChargePoint16

logger = logging.getLogger(__name__)

# Offered subprotocols, in order of preference when a station offers several.
CHARGE_POINT_CLASSES = {"ocpp1.6": ChargePoint16}
OCPP_VERSIONS = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1"}


def station_group(ocpp_id: str) -> str:
    """Channel-layer group of everything addressed to one station (names allow only [a-zA-Z0-9_.-])."""
    return "station." + base64.b32encode(ocpp_id.encode()).decode().rstrip("=")


def basic_auth_password(headers: list[tuple[bytes, bytes]], ocpp_id: str) -> str | None:
    """The password of an HTTP Basic ``Authorization`` header whose user is the station id."""
    for name, value in headers:
        if name.lower() != b"authorization":
            continue
        scheme, _, encoded = value.decode("latin-1").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password if user == ocpp_id else None
    return None


class OcppConsumer(AsyncWebsocketConsumer):
    station = None
    charge_point = None

    async def connect(self):
        self.ocpp_id = unquote(self.scope["url_route"]["kwargs"]["station_id"])
        subprotocol = next((p for p in self.scope["subprotocols"] if p in CHARGE_POINT_CLASSES), None)
        if subprotocol is None:
            logger.warning(
                "station refused: no supported subprotocol",
                extra={"station_id": self.ocpp_id, "offered": ",".join(self.scope["subprotocols"])},
            )
            await self.close()
            return
        password = basic_auth_password(self.scope["headers"], self.ocpp_id)
        self.station = await database_sync_to_async(services.station_authenticate)(
            ocpp_id=self.ocpp_id, password=password
        )
        if self.station is None:
            await self.close()
            return

        group = station_group(self.ocpp_id)
        # An older connection of the same station closes itself on this event.
        await self.channel_layer.group_send(group, {"type": "station.replaced", "by": self.channel_name})
        await self.channel_layer.group_add(group, self.channel_name)
        await self.accept(subprotocol)
        await database_sync_to_async(services.station_connected)(
            station=self.station, ocpp_version=OCPP_VERSIONS[subprotocol], channel_name=self.channel_name
        )
        self.connection = ConsumerConnection(self, station_pk=self.station.pk)
        self.charge_point = CHARGE_POINT_CLASSES[subprotocol](self.station, self.connection)
        self.serve_task = asyncio.create_task(self.charge_point.start())

    async def receive(self, text_data=None, bytes_data=None):
        # OCPP-J uses text frames; a binary one is still parsed (and refused if it is not UTF-8 JSON).
        self.connection.feed(text_data if text_data is not None else bytes_data)

    async def send_frame(self, frame: str) -> None:
        await self.send(text_data=frame)

    async def station_call(self, event):
        """A command from any process (see stations.protocol.commands); answered on the caller's reply channel.

        Run as a task: the station's answer arrives as a frame through this same consumer.
        """
        asyncio.create_task(commands.serve_call(self.charge_point, event, self.channel_layer))  # noqa: RUF006

    async def station_replaced(self, event):
        if event["by"] != self.channel_name:
            logger.info("connection replaced by a newer one", extra={"station_id": self.ocpp_id})
            await self.close(code=4000)

    async def disconnect(self, code):
        if self.station is None:
            return
        if self.charge_point is not None:
            self.serve_task.cancel()
            await self.connection.close()
        await self.channel_layer.group_discard(station_group(self.ocpp_id), self.channel_name)
        await database_sync_to_async(services.station_disconnected)(
            station=self.station, channel_name=self.channel_name
        )

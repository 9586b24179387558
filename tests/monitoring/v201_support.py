"""Helpers of the OCPP 2.0.1 monitoring tests: a booted 2.0.1 station of the `ocpp` library over a real socket,
and the portal's messages after a command."""

import contextlib

from asgiref.sync import sync_to_async
from ocpp.v201 import call

from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

NOW = "2026-03-01T10:00:00Z"


@contextlib.asynccontextmanager
async def booted(server, client_class, ocpp_id="CS-201"):
    """``client_class`` connected as ``ocpp_id`` over 2.0.1, booted and accepted, for the block."""
    from stations.models import Station

    async with ocpp_connection(
        server, ocpp_id, STATION_PASSWORD, subprotocols=("ocpp2.0.1",), client_class=client_class
    ) as station:
        await station.call(
            call.BootNotification(charging_station={"vendor_name": "Alfen", "model": "Eve"}, reason="PowerUp")
        )

        async def online():
            return await Station.objects.filter(ocpp_id=ocpp_id, is_online=True, ocpp_version="2.0.1").aexists()

        await until(online, what="the station online over 2.0.1")
        yield station


async def post(client, url: str, data: dict | None = None) -> tuple[int, list[tuple[str, str]]]:
    """POST as the portal's form does; the final status and the (level, text) of the messages shown."""
    response = await sync_to_async(client.post)(url, data or {}, follow=True)
    return response.status_code, [(message.level_tag, str(message)) for message in response.context["messages"]]

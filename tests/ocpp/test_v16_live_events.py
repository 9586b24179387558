"""Live events for the browser: what a real station does reaches a subscriber of the network group on Redis."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from ocpp.v16 import call

from accounts.models import IdToken
from stations.live import NETWORK_GROUP
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection

pytestmark = pytest.mark.django_db(transaction=True)

T1 = "2026-01-01T10:00:00Z"


class Subscriber:
    """A member of the live group, as the board's browser consumer is, on the same Redis channel layer."""

    def __init__(self):
        self.layer = get_channel_layer()
        self.events: list[dict] = []

    async def __aenter__(self):
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(NETWORK_GROUP, self.channel)
        return self

    async def __aexit__(self, *exc):
        await self.layer.group_discard(NETWORK_GROUP, self.channel)

    async def until(self, matches, timeout: float = 5.0) -> dict:
        """The first event (already received or still to come) for which ``matches`` is true."""
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if matches(event):
                        return event
                message = await self.layer.receive(self.channel)
                assert message["type"] == "live.events"
                self.events += message["events"]


def about(kind, **fields):
    return lambda event: event["kind"] == kind and all(event.get(name) == value for name, value in fields.items())


async def test_a_station_s_connection_boot_status_meter_values_and_transactions_reach_the_board(
    daphne_server, make_station
):
    await sync_to_async(make_station)("CP-1")
    await IdToken.objects.acreate(token="TAG-1")
    async with Subscriber() as board:
        async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
            await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
            booted = await board.until(about("station", station="CP-1", registration_status="Accepted"))
            assert booted["online"] is True and booted["last_seen_at"]

            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
            await board.until(about("connector", station="CP-1", connector_id=1, status="Charging"))

            started = await cp.call(
                call.StartTransaction(connector_id=1, id_tag="TAG-1", meter_start=1000, timestamp=T1)
            )
            event = await board.until(about("transaction", transaction_id=started.transaction_id, state="started"))
            assert (event["station"], event["connector_id"]) == ("CP-1", 1)

            await cp.call(
                call.MeterValues(
                    connector_id=1,
                    meter_value=[
                        {
                            "timestamp": "2026-01-01T10:05:00Z",
                            "sampledValue": [
                                {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
                                {"value": "41", "measurand": "SoC", "unit": "Percent", "location": "EV"},
                                {"value": "1600", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                            ],
                        }
                    ],
                )
            )
            await board.until(
                about(
                    "connector", station="CP-1", connector_id=1, power_w=7200, soc_percent=41.0, energy_register_wh=1600
                )
            )

            await cp.call(
                call.StopTransaction(
                    transaction_id=started.transaction_id, meter_stop=2500, timestamp="2026-01-01T11:00:00Z"
                )
            )
            stopped = await board.until(about("transaction", transaction_id=started.transaction_id, state="stopped"))
            assert stopped["energy_wh"] == 1500
        await board.until(about("station", station="CP-1", online=False))


async def test_a_stale_status_replayed_from_the_station_s_queue_is_not_published(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1")
    async with Subscriber() as board, ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        await cp.call(
            call.StatusNotification(
                connector_id=1, error_code="NoError", status="Available", timestamp="2026-01-01T10:00:00Z"
            )
        )
        await board.until(about("connector", station="CP-1", status="Available"))
        await cp.call(
            call.StatusNotification(
                connector_id=1, error_code="NoError", status="Faulted", timestamp="2026-01-01T09:00:00Z"
            )
        )
        await cp.call(
            call.StatusNotification(
                connector_id=1, error_code="NoError", status="Preparing", timestamp="2026-01-01T10:01:00Z"
            )
        )
        await board.until(about("connector", station="CP-1", status="Preparing"))
    assert not [event for event in board.events if event.get("status") == "Faulted"]

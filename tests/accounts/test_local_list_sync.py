"""Local authorization list sync against the charge point simulator, over real sockets.

The test process runs the sync (as the Celery task would): its commands travel over the Redis channel layer
to the daphne child process holding the simulated station's socket.
"""

import asyncio
import contextlib
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from accounts import services
from accounts.local_list import local_lists_due, station_local_list_sync
from accounts.models import IdToken, IdTokenEvent, StationLocalList
from accounts.tasks import sync_local_lists
from stations.models import Station, StationCommand
from stations.services import station_create
from stations.simulator import DEFAULT_PASSWORD, SimulatedStation, SimulatorConfig
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)
SOURCE = IdTokenEvent.Source.COMMAND


@pytest.fixture(autouse=True)
def _short_response_timeout(settings):
    settings.CMS_OCPP_RESPONSE_TIMEOUT = 5


@sync_to_async
def register(ocpp_id="LL-1"):
    return station_create(ocpp_id=ocpp_id, password=DEFAULT_PASSWORD)


@sync_to_async
def tokens(*numbers, **data):
    return [services.id_token_create(token=number, data=data, source=SOURCE) for number in numbers]


@contextlib.asynccontextmanager
async def connected(server, ocpp_id="LL-1", **configuration):
    """A simulated station (no drivers of its own), booted; ``configuration`` overrides its keys."""
    config = SimulatorConfig(url=f"{server.ws_url}/ocpp", connectors=1, autostart=False, reconnect_delay=0.2)
    station = SimulatedStation(ocpp_id, config)
    station.configuration.update(configuration)
    stop = asyncio.Event()
    task = asyncio.create_task(station.run(stop))
    try:
        await asyncio.wait_for(station.booted.wait(), 10)
        await until(lambda: Station.objects.filter(ocpp_id=ocpp_id, is_online=True).aexists())
        yield station
    finally:
        stop.set()
        await task


sync = sync_to_async(station_local_list_sync)


async def sent_lists(station) -> list[dict]:
    """The SendLocalList payloads the CSMS sent, oldest first."""
    commands = StationCommand.objects.filter(station=station, action="SendLocalList").order_by("created_at", "pk")
    return [command.payload async for command in commands]


def listed(payload) -> dict[str, str]:
    return {item["idTag"]: item["idTagInfo"]["status"] for item in payload.get("localAuthorizationList", [])}


async def state_of(station) -> StationLocalList:
    return await StationLocalList.objects.aget(station=station)


async def test_the_first_sync_is_a_full_list_with_every_token_as_it_is_answered_here(daphne_server):
    station = await register()
    group, card, _ = await tokens("GROUP-1", "CARD-1", "CARD-2")
    await sync_to_async(services.id_token_update)(
        id_token=card, data={"parent": group, "expires_at": timezone.now() + timedelta(days=30)}, source=SOURCE
    )
    await tokens("LOST-1", status=IdToken.Status.BLOCKED)
    async with connected(daphne_server) as simulated:
        result = await sync(station=station)

        assert (result.outcome, result.update_type, result.entries) == ("updated", "Full", 4)
        assert set(simulated.local_list) == {"GROUP-1", "CARD-1", "CARD-2", "LOST-1"}
        assert simulated.local_list["LOST-1"]["status"] == "Blocked"
        assert simulated.local_list["CARD-1"]["parent_id_tag"] == "GROUP-1"
        assert simulated.local_list["CARD-1"]["expiry_date"]
        state = await state_of(station)
        assert state.status == "in_sync" and state.synced_version == (await current_version())
        assert simulated.local_list_version == state.station_version == 1
        assert state.send_max_length == 1000 and state.list_max_length == 1000  # read from the station

        again = await sync(station=station)
        assert again.outcome == "in_sync" and len(await sent_lists(station)) == 1  # nothing new, nothing sent
        assert await sync_to_async(local_lists_due)() == []


@sync_to_async
def current_version() -> int:
    from accounts.selectors import local_list_version

    return local_list_version().version


async def test_a_token_change_sends_a_differential_update_with_just_that_token(daphne_server, celery_eager):
    station = await register()
    card, _ = await tokens("CARD-1", "CARD-2")
    async with connected(daphne_server) as simulated:
        await sync(station=station)
        await sync_to_async(services.id_token_update)(
            id_token=card, data={"expires_at": timezone.now() + timedelta(days=7)}, source=SOURCE
        )  # the commit queues the task, which syncs the station (eager here, a worker in production)

        full, differential = await sent_lists(station)
        assert (full["updateType"], differential["updateType"]) == ("Full", "Differential")
        assert listed(differential) == {"CARD-1": "Accepted"}
        assert differential["listVersion"] == full["listVersion"] + 1 == simulated.local_list_version
        assert simulated.local_list["CARD-1"]["expiry_date"]
        assert "expiry_date" not in simulated.local_list["CARD-2"]
        assert (await state_of(station)).synced_version == await current_version()


async def test_a_blocked_token_arrives_as_blocked(daphne_server, celery_eager):
    station = await register()
    card, _ = await tokens("CARD-1", "CARD-2")
    async with connected(daphne_server) as simulated:
        await sync(station=station)
        await sync_to_async(services.id_token_block)(id_token=card, source=SOURCE)

        assert listed((await sent_lists(station))[-1]) == {"CARD-1": "Blocked"}
        assert simulated.local_list["CARD-1"]["status"] == "Blocked"
        assert simulated.local_list["CARD-2"]["status"] == "Accepted"


async def test_a_group_change_reaches_its_members(daphne_server, celery_eager):
    station = await register()
    group, member = await tokens("FLEET", "DRIVER-1")
    await sync_to_async(services.id_token_update)(id_token=member, data={"parent": group}, source=SOURCE)
    async with connected(daphne_server) as simulated:
        await sync(station=station)
        await sync_to_async(services.id_token_block)(id_token=group, source=SOURCE)

        assert listed((await sent_lists(station))[-1]) == {"FLEET": "Blocked", "DRIVER-1": "Blocked"}
        assert simulated.local_list["DRIVER-1"]["status"] == "Blocked"


async def test_a_deleted_token_forces_a_full_update(daphne_server, celery_eager):
    station = await register()
    card, _ = await tokens("CARD-1", "CARD-2")
    async with connected(daphne_server) as simulated:
        await sync(station=station)
        await sync_to_async(services.id_tokens_delete)(id_tokens=[card], source=SOURCE)

        last = (await sent_lists(station))[-1]
        assert last["updateType"] == "Full" and listed(last) == {"CARD-2": "Accepted"}
        assert set(simulated.local_list) == {"CARD-2"}


async def test_an_offline_station_is_skipped_then_synced_when_it_is_back(daphne_server, celery_eager):
    station = await register()
    await tokens("CARD-1")  # the change's task finds no station online: nothing is sent, nothing fails
    assert (await sync(station=station)).outcome == "offline"
    assert not await StationCommand.objects.filter(station=station).aexists()
    assert await sync_to_async(local_lists_due)() == []

    async with connected(daphne_server) as simulated:
        assert await sync_to_async(local_lists_due)() == [station.pk]
        await sync_to_async(sync_local_lists)()  # the beat's run

        assert set(simulated.local_list) == {"CARD-1"}
        assert (await state_of(station)).status == "in_sync"
        assert await sync_to_async(local_lists_due)() == []


async def test_a_station_that_lost_its_list_gets_a_full_one_on_reconnection(daphne_server):
    station = await register()
    await tokens("CARD-1")
    async with connected(daphne_server) as simulated:
        await sync(station=station)
    async with connected(daphne_server) as fresh:  # a replaced controller: empty list, version 0
        assert fresh is not simulated and fresh.local_list_version == 0
        assert await sync_to_async(local_lists_due)() == [station.pk]
        result = await sync(station=station)

        assert (result.outcome, result.update_type) == ("updated", "Full")
        assert set(fresh.local_list) == {"CARD-1"}


async def test_a_version_mismatch_on_a_differential_is_answered_with_the_full_list(daphne_server):
    station = await register()
    card, _ = await tokens("CARD-1", "CARD-2")
    async with connected(daphne_server) as simulated:
        await sync(station=station)
        simulated.local_list_version = 50  # someone else sent it a list meanwhile
        await sync_to_async(services.id_token_block)(id_token=card, source=SOURCE)
        result = await sync(station=station)

        differential, full = (await sent_lists(station))[-2:]
        assert (differential["updateType"], full["updateType"]) == ("Differential", "Full")
        assert (result.outcome, result.update_type) == ("updated", "Full")
        assert listed(full) == {"CARD-1": "Blocked", "CARD-2": "Accepted"}
        assert simulated.local_list_version == full["listVersion"]


async def test_a_long_list_goes_in_chunks_the_station_takes(daphne_server):
    station = await register()
    await tokens(*[f"CARD-{n}" for n in range(5)])
    async with connected(daphne_server, SendLocalListMaxLength="2") as simulated:
        result = await sync(station=station)

        chunks = await sent_lists(station)
        assert [c["updateType"] for c in chunks] == ["Full", "Differential", "Differential"]
        assert [len(c["localAuthorizationList"]) for c in chunks] == [2, 2, 1]
        assert [c["listVersion"] for c in chunks] == [1, 2, 3]  # strictly increasing, as differentials need
        assert result.entries == 5 and len(simulated.local_list) == 5
        assert simulated.local_list_version == 3


async def test_a_list_longer_than_the_station_holds_keeps_the_accepted_tokens(daphne_server):
    station = await register()
    await tokens("A-BLOCKED", status=IdToken.Status.BLOCKED)
    await tokens("CARD-1", "CARD-2")
    async with connected(daphne_server, LocalAuthListMaxLength="2") as simulated:
        result = await sync(station=station)

        assert result.entries == 2
        assert set(simulated.local_list) == {"CARD-1", "CARD-2"}


async def test_a_station_without_a_local_list_is_left_alone(daphne_server):
    station = await register()
    await tokens("CARD-1")
    async with connected(daphne_server, LocalAuthListEnabled="false"):
        result = await sync(station=station)

        assert result.outcome == "disabled"
        assert await sent_lists(station) == []
        assert (await state_of(station)).status == "disabled"
        assert await sync_to_async(local_lists_due)() == []  # not asked again on this connection
        await tokens("CARD-2")
        assert await sync_to_async(local_lists_due)() == []


async def test_a_station_answering_send_local_list_not_supported_is_marked_so(daphne_server):
    station = await register()
    await tokens("CARD-1")
    async with connected(daphne_server) as simulated:
        await sync(station=station)
        simulated.configuration["LocalAuthListEnabled"] = "false"  # switched off by its owner meanwhile
        await tokens("CARD-2")
        result = await sync(station=station)

        assert result.outcome == "not_supported"
        assert (await state_of(station)).status == "not_supported"
        assert await sync_to_async(local_lists_due)() == []


def test_operators_see_each_stations_list_in_the_admin_and_can_have_it_sent_again(client, operator_admin):
    station = station_create(ocpp_id="LL-ADMIN", password=DEFAULT_PASSWORD)
    StationLocalList.objects.create(station=station, status="in_sync", synced_version=7, station_version=3)
    client.force_login(operator_admin)
    listing = client.get("/admin/accounts/stationlocallist/")
    assert listing.status_code == 200 and "LL-ADMIN" in listing.content.decode()

    client.post("/admin/accounts/stationlocallist/", {"action": "send_full_list", "_selected_action": [station.pk]})
    state = StationLocalList.objects.get(station=station)
    assert (state.status, state.synced_version, state.checked_connection_at) == ("pending", None, None)
    assert local_lists_due() == []  # offline: it gets the full list when it connects

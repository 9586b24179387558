"""Local authorization list sync against the charge point simulator, over real sockets.

The test process runs the sync (as the Celery task would): its commands travel over the Redis channel layer
to the daphne child process holding the simulated station's socket.
"""

import asyncio
import contextlib
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from accounts import services
from accounts.models import IdToken, IdTokenEvent, StationLocalList
from monitoring import maintenance
from monitoring.models import MaintenanceJob
from simulator import DEFAULT_PASSWORD, SimulatedStation, SimulatorConfig
from stations.local_list import local_list_retry_delay, local_lists_due, station_local_list_sync
from stations.models import ConfigurationKey, Station, StationCommand
from stations.services import station_create
from stations.tasks import sync_local_lists
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


class VendorStation(SimulatedStation):
    """As the KEBA and ABB templates of an independent simulator behave: with its list disabled it still
    reports list version 0 and answers SendLocalList Failed; ``answer`` makes an enabled list answer that too."""

    answer: str | None = None

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self, **_):
        self._answered()
        return call_result.GetLocalListVersion(list_version=self.local_list_version)

    @on(Action.send_local_list)
    async def on_send_local_list(self, list_version, update_type, local_authorization_list=None, **_):
        if self.answer or self.configuration["LocalAuthListEnabled"] != "true":
            self._answered()
            return call_result.SendLocalList(status=self.answer or "Failed")
        return await super().on_send_local_list(list_version, update_type, local_authorization_list)


@contextlib.asynccontextmanager
async def connected(server, ocpp_id="LL-1", kind=SimulatedStation, **configuration):
    """A simulated station (no drivers of its own), booted; ``configuration`` overrides its keys."""
    config = SimulatorConfig(url=f"{server.ws_url}/ocpp", connectors=1, autostart=False, reconnect_delay=0.2)
    station = kind(ocpp_id, config)
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


# Settings read from the station's configuration, and the backoff


async def commands_sent(station, action) -> int:
    return await StationCommand.objects.filter(station=station, action=action).acount()


beat = sync_to_async(sync_local_lists)  # what Celery beat runs every minute (tasks in-process with celery_eager)


@sync_to_async
def wait_over(station):
    """Move the station's next attempt into the past: the backoff has elapsed."""
    StationLocalList.objects.filter(station=station).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


async def test_a_station_whose_list_is_disabled_gets_no_send_local_list_at_all(daphne_server, celery_eager):
    station = await register()
    await tokens("CARD-1", "CARD-2")
    async with connected(daphne_server, kind=VendorStation, LocalAuthListEnabled="false"):
        for _ in range(3):
            await beat()
        await tokens("CARD-3")  # a token change queues a sync too
        await wait_over(station)  # and the rare look at its settings again finds it still disabled
        await beat()

        assert await commands_sent(station, "SendLocalList") == 0
        assert await commands_sent(station, "GetConfiguration") == 2
        assert await commands_sent(station, "GetLocalListVersion") == 0
        state = await state_of(station)
        assert (state.status, state.last_error) == ("disabled", "LocalAuthListEnabled is false on the station.")
        assert state.settings["LocalAuthListEnabled"] == "false"
        wait = state.next_attempt_at - state.checked_at  # a setting, not a passing fault: looked at again rarely
        assert timedelta(minutes=240) <= wait < timedelta(minutes=241)
        # What was read is kept with the station's configuration, which its page shows.
        assert await ConfigurationKey.objects.filter(station=station, key="LocalAuthListEnabled").aexists()


async def test_a_station_without_the_local_list_profile_is_unsupported(daphne_server, celery_eager):
    station = await register()
    await tokens("CARD-1")
    async with connected(daphne_server, SupportedFeatureProfiles="Core,RemoteTrigger"):
        await beat()
        await beat()

        state = await state_of(station)
        assert state.status == "not_supported" and "LocalAuthListManagement" in state.last_error
        assert await commands_sent(station, "SendLocalList") == 0
        assert await commands_sent(station, "GetLocalListVersion") == 0
        assert await sync_to_async(local_lists_due)() == []


async def test_a_station_answering_failed_gets_one_attempt_then_none_until_its_backoff_elapses(
    daphne_server, celery_eager
):
    station = await register()
    await tokens("CARD-1")
    async with connected(daphne_server, kind=VendorStation) as simulated:
        simulated.answer = "Failed"
        before = timezone.now()
        await beat()
        state = await state_of(station)
        assert (state.status, state.attempts) == ("failed", 1)
        assert state.last_error == "The station answered Failed to a Full SendLocalList."
        assert before + timedelta(minutes=1) <= state.next_attempt_at <= timezone.now() + timedelta(minutes=1)

        for _ in range(3):
            await beat()
        await tokens("CARD-2")  # a token change does not jump the wait either
        assert await commands_sent(station, "SendLocalList") == 1

        await wait_over(station)
        before = timezone.now()
        await beat()
        state = await state_of(station)
        assert await commands_sent(station, "SendLocalList") == 2
        assert (await sent_lists(station))[-1]["updateType"] == "Full"
        assert state.attempts == 2
        assert before + timedelta(minutes=5) <= state.next_attempt_at <= timezone.now() + timedelta(minutes=5)
        await beat()
        assert await commands_sent(station, "SendLocalList") == 2

        simulated.answer = None  # whatever was wrong on the station is fixed
        await wait_over(station)
        await beat()
        state = await state_of(station)
        assert (state.status, state.attempts, state.next_attempt_at, state.last_error) == ("in_sync", 0, None, "")
        assert set(simulated.local_list) == {"CARD-1", "CARD-2"}


async def test_after_a_version_mismatch_the_next_attempt_is_a_full_update(daphne_server, celery_eager):
    station = await register()
    card, _ = await tokens("CARD-1", "CARD-2")
    async with connected(daphne_server, kind=VendorStation) as simulated:
        await beat()
        simulated.answer = "VersionMismatch"
        await sync_to_async(services.id_token_block)(id_token=card, source=SOURCE)  # a differential is due
        state = await state_of(station)
        assert (state.status, state.synced_version, state.attempts) == ("failed", None, 1)
        assert "VersionMismatch" in state.last_error

        simulated.answer = None
        await wait_over(station)
        await beat()

        assert [payload["updateType"] for payload in await sent_lists(station)] == [
            "Full",
            "Differential",
            "Full",
            "Full",  # the spec's answer at once, then the next attempt
        ]
        assert (await state_of(station)).status == "in_sync"
        assert simulated.local_list["CARD-1"]["status"] == "Blocked"


async def test_enabling_the_list_with_change_configuration_ends_the_wait(daphne_server, celery_eager):
    station = await register()
    await tokens("CARD-1")
    async with connected(daphne_server, kind=VendorStation, LocalAuthListEnabled="false") as simulated:
        await beat()
        assert (await state_of(station)).status == "disabled"
        assert await sync_to_async(local_lists_due)() == []

        job = await sync_to_async(maintenance.maintenance_job_create)(
            kind=MaintenanceJob.Kind.CHANGE_CONFIGURATION,
            stations=[station],
            params={"key": "LocalAuthListEnabled", "value": "true"},
        )  # runs on commit (in-process here): the station accepts, its configuration record says true
        await until(
            lambda: ConfigurationKey.objects.filter(station=station, value="true", key="LocalAuthListEnabled").aexists()
        )
        assert job.pk and await sync_to_async(local_lists_due)() == [station.pk]
        await beat()

        state = await state_of(station)
        assert (state.status, state.attempts, state.next_attempt_at) == ("in_sync", 0, None)
        assert set(simulated.local_list) == {"CARD-1"}


async def test_a_station_booting_again_ends_the_wait(daphne_server, celery_eager):
    station = await register()
    await tokens("CARD-1")
    async with connected(daphne_server, kind=VendorStation) as simulated:
        simulated.answer = "Failed"
        await beat()
        assert (await state_of(station)).status == "failed"
    async with connected(daphne_server) as replaced:  # back, booted, with a working controller
        assert await sync_to_async(local_lists_due)() == [station.pk]
        await beat()

        assert (await state_of(station)).status == "in_sync" and set(replaced.local_list) == {"CARD-1"}


async def test_settings_read_on_this_connection_are_not_asked_again_and_set_the_chunks(daphne_server, celery_eager):
    station = await register()
    await tokens(*[f"CARD-{n}" for n in range(5)])
    async with connected(daphne_server, SendLocalListMaxLength="2") as simulated:
        await sync_to_async(maintenance.maintenance_job_create)(
            kind=MaintenanceJob.Kind.GET_CONFIGURATION, stations=[station], params={}
        )  # an operator read the whole configuration after the station connected
        await until(lambda: ConfigurationKey.objects.filter(station=station, key="SendLocalListMaxLength").aexists())
        await beat()

        assert await commands_sent(station, "GetConfiguration") == 1  # the operator's, none of the sync's
        assert [len(chunk["localAuthorizationList"]) for chunk in await sent_lists(station)] == [2, 2, 1]
        assert len(simulated.local_list) == 5
        assert (await state_of(station)).send_max_length == 2


def _waiting_station(**state) -> Station:
    """An online 1.6 station whose last sync failed and whose next attempt is ten minutes away."""
    station = station_create(ocpp_id="LL-WAIT", password=DEFAULT_PASSWORD)
    connected_at = timezone.now() - timedelta(hours=1)
    Station.objects.filter(pk=station.pk).update(
        is_online=True,
        ocpp_version="1.6",
        connected_at=connected_at,
        last_boot_at=connected_at,
        registration_status=Station.RegistrationStatus.ACCEPTED,
    )
    checked_at = connected_at + timedelta(minutes=1)
    maintenance.configuration_store(
        station=station, keys=[{"key": "LocalAuthListEnabled", "value": "true"}], now=checked_at
    )
    StationLocalList.objects.create(
        station=station,
        status="failed",
        checked_connection_at=connected_at,
        checked_at=checked_at,
        settings={"LocalAuthListEnabled": "true"},
        attempts=3,
        next_attempt_at=timezone.now() + timedelta(minutes=10),
        **state,
    )
    return Station.objects.get(pk=station.pk)


def test_a_waiting_station_is_due_when_its_wait_is_over():
    station = _waiting_station()
    assert local_lists_due() == []
    assert local_lists_due(now=timezone.now() + timedelta(minutes=11)) == [station.pk]


def test_a_new_boot_ends_the_wait_and_a_reconnection_alone_does_not():
    station = _waiting_station()
    Station.objects.filter(pk=station.pk).update(connected_at=timezone.now())  # a network blip, no reboot
    assert local_lists_due() == []
    Station.objects.filter(pk=station.pk).update(last_boot_at=timezone.now())
    assert local_lists_due() == [station.pk]


def test_a_changed_setting_ends_the_wait_and_the_same_one_read_again_does_not():
    station = _waiting_station()
    maintenance.configuration_store(station=station, keys=[{"key": "LocalAuthListEnabled", "value": "true"}])
    assert local_lists_due() == []  # read again, unchanged
    maintenance.configuration_change_store(station=station, key="LocalAuthListEnabled", value="false")
    assert local_lists_due() == [station.pk]


@given(attempts=st.integers(min_value=0, max_value=10_000), steps=st.lists(st.integers(1, 10_000), min_size=1))
def test_the_wait_grows_with_the_attempts_up_to_the_last_step(attempts, steps):
    steps = sorted(steps)
    with override_settings(CMS_LOCAL_LIST_RETRY_MINUTES=steps):
        wait = local_list_retry_delay(attempts)
        assert timedelta(minutes=steps[0]) <= wait <= timedelta(minutes=steps[-1])
        assert wait <= local_list_retry_delay(attempts + 1)
        assert local_list_retry_delay(attempts + len(steps)) == timedelta(minutes=steps[-1])
        assert local_list_retry_delay(attempts, longest=True) == timedelta(minutes=steps[-1])


def test_the_station_page_shows_where_its_local_list_stands(client, staff):
    from accounts.roles import Role

    station = _waiting_station(
        synced_version=None,
        station_version=4,
        entries=120,
        list_max_length=1000,
        send_max_length=250,
        last_error="The station answered Failed to a Full SendLocalList.",
    )
    client.force_login(staff[Role.TECHNICIAN])
    page = client.get(f"/operator/stations/{station.ocpp_id}/").content.decode()
    section = page[page.index("Local authorization list") :]
    section = section[: section.index("</section>")]

    state = StationLocalList.objects.get(station=station)
    assert "Last update failed" in section and "LocalAuthListEnabled=true" in section
    assert "unknown of 0" in section and "behind" in section
    assert "120" in section and "of at most 1000" in section and "250 per message" in section
    assert "The station answered Failed to a Full SendLocalList." in section
    assert timezone.localtime(state.next_attempt_at).strftime("%Y-%m-%d %H:%M:%S") in section
    assert "after 3 unsuccessful attempts" in section


def test_the_station_page_says_when_a_list_was_never_synced(client, staff):
    from accounts.roles import Role

    station = station_create(ocpp_id="LL-NEW", password=DEFAULT_PASSWORD)
    client.force_login(staff[Role.ANALYST])
    page = client.get(f"/operator/stations/{station.ocpp_id}/").content.decode()
    assert "Local authorization list" in page and "Not synced yet" in page

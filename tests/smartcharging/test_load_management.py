"""Load management against the live server: charge points of both OCPP versions (the `ocpp` library's clients)
charge at a managed site, and the profiles they are sent share its limit; a refusal, a reconnect."""

import pytest
from asgiref.sync import sync_to_async

from monitoring.models import Alert
from smartcharging import load
from smartcharging.models import ConnectorAllocation, LoadGroup, SiteLoadSample, StationLoadState
from stations.models import Station
from tests.smartcharging.conftest import connected, rebalance, start_session, watch
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)
State = ConnectorAllocation.State


@pytest.fixture(autouse=True)
def _short_response_timeout(settings):
    settings.CMS_OCPP_RESPONSE_TIMEOUT = 5


@pytest.fixture
def grid(site):
    return LoadGroup.objects.create(site=site, name="Grid connection", limit=20)


@pytest.fixture
def stations(make_station, site, tokens):
    return [make_station("LM-16", site=site), make_station("LM-201", site=site)]


async def allocations() -> dict[tuple[str, int], tuple[float, str]]:
    rows = ConnectorAllocation.objects.select_related("station")
    return {(row.station.ocpp_id, row.connector_id): (row.current_a, row.state) async for row in rows}


async def test_sessions_of_both_versions_are_sent_tx_profiles_that_share_the_site_limit(daphne_server, grid, stations):
    async with connected(daphne_server, "LM-16") as cp16, connected(daphne_server, "LM-201", "2.0.1") as cp201:
        await start_session(cp16, 1, "TAG-1")
        await start_session(cp16, 2, "TAG-2")
        await start_session(cp201, 1, "TAG-3")
        result = await rebalance(site_id=grid.site_id)
        assert (result.allocated, result.queued, result.sent, result.rejected) == (3, 0, 3, [])
        limits = [cp16.tx_limit(1), cp16.tx_limit(2), cp201.tx_limit(1)]
        assert sorted(limits) == [6.6, 6.7, 6.7] and sum(limits) <= 20

        profile16 = cp16.held[(1, "TxProfile")]
        assert profile16["transaction_id"] and profile16["stack_level"] == 1
        profile201 = cp201.held[(1, "TxProfile")]
        assert profile201["transaction_id"] == "TX-LM-201-1"
        assert profile201["charging_schedule"][0]["charging_rate_unit"] == "A"

        again = await rebalance(site_id=grid.site_id)  # nothing changed: nothing sent
        assert again.sent == 0 and len(cp16.received) + len(cp201.received) == 3
    assert await SiteLoadSample.objects.filter(site_id=grid.site_id, sessions=3, limit_a=20).aexists()


async def test_a_car_beyond_the_minimums_waits_at_zero_amps_until_another_leaves(daphne_server, grid, stations):
    from tests.smartcharging.conftest import stop_session

    await LoadGroup.objects.filter(pk=grid.pk).aupdate(limit=13)
    async with connected(daphne_server, "LM-16") as cp16:
        for connector_id in (1, 2):
            await start_session(cp16, connector_id, f"TAG-{connector_id}")
            await rebalance(site_id=grid.site_id)
        await start_session(cp16, 3, "TAG-3")
        await rebalance(site_id=grid.site_id)
        assert (cp16.tx_limit(1), cp16.tx_limit(2), cp16.tx_limit(3)) == (6.5, 6.5, 0.0)
        assert (await allocations())[("LM-16", 3)] == (0.0, State.QUEUED)

        await stop_session(cp16, 1)
        await rebalance(site_id=grid.site_id)
        assert (cp16.tx_limit(2), cp16.tx_limit(3)) == (6.5, 6.5)
        assert ("LM-16", 1) not in await allocations()


async def test_a_station_that_rejects_its_profile_is_counted_at_its_maximum_and_the_operator_alerted(
    daphne_server, grid, stations
):
    await LoadGroup.objects.filter(pk=grid.pk).aupdate(limit=40)
    async with connected(daphne_server, "LM-16") as cp16, connected(daphne_server, "LM-201", "2.0.1") as cp201:
        cp201.refuse = True
        await start_session(cp16, 1, "TAG-1")
        await start_session(cp201, 1, "TAG-2")
        result = await rebalance(site_id=grid.site_id)
        assert result.rejected == []  # the second round, with LM-201 out of the pool, is all accepted
        shares = await allocations()
        assert shares[("LM-201", 1)] == (32.0, State.REJECTED)  # its worst case
        assert shares[("LM-16", 1)] == (8.0, State.CHARGING)  # what is left of 40 A
        assert cp16.tx_limit(1) == 8.0
    alert = await Alert.objects.aget(kind=Alert.Kind.PROFILE_REJECTED, closed_at__isnull=True)
    assert alert.station_id == stations[1].pk and "Rejected" in alert.summary


async def test_a_station_that_reconnects_gets_its_default_profile_and_its_session_profile_again(
    daphne_server, grid, stations
):
    async with connected(daphne_server, "LM-201", "2.0.1") as cp201, connected(daphne_server, "LM-16") as cp16:
        await start_session(cp16, 1, "TAG-1")
        await start_session(cp201, 1, "TAG-2")
        await watch()
        # Two stations with one connector each known below 20 A: 10 A each holds without the CSMS.
        await until(lambda: cp201.held.get((0, "TxDefaultProfile")), what="2.0.1 default profile")
        default = cp201.held[(0, "TxDefaultProfile")]
        assert default["stack_level"] == 0
        assert float(default["charging_schedule"][0]["charging_schedule_period"][0]["limit"]) == 10.0
        assert "transaction_id" not in default
        await until(lambda: cp16.held.get((0, "TxDefaultProfile")), what="1.6 default profile")
        await until(lambda: cp16.tx_limit(1) == 10.0, what="1.6 session profile")

    # LM-16 is lost: it keeps the profile it held, and is counted at it.
    async with connected(daphne_server, "LM-201", "2.0.1") as cp201:
        await until(lambda: StationLoadState.objects.filter(station__ocpp_id="LM-16").aexists(), what="state")
        # Its disconnection is recorded by the node's writer, a moment after its socket closed.
        await until(lambda: Station.objects.filter(ocpp_id="LM-16", is_online=False).aexists(), what="LM-16 offline")
        await rebalance(site_id=grid.site_id)
        assert (await allocations())[("LM-16", 1)] == (10.0, State.LOST)

    async with connected(daphne_server, "LM-16") as cp16:
        assert cp16.held == {}
        await watch()
        await until(lambda: cp16.held.get((0, "TxDefaultProfile")), what="default profile after the reconnect")
        await until(lambda: cp16.tx_limit(1) == 10.0, what="session profile sent again")
        assert (await allocations())[("LM-16", 1)] == (10.0, State.CHARGING)


async def test_a_session_starting_and_stopping_shares_the_site_again_through_the_worker(
    daphne_server, grid, stations, load_worker
):
    from tests.smartcharging.conftest import stop_session

    async with connected(daphne_server, "LM-16") as cp16:
        await start_session(cp16, 1, "TAG-1")
        await until(lambda: cp16.tx_limit(1) == 20.0, within=30, what="the first car's profile from the worker")
        await start_session(cp16, 2, "TAG-2")
        await until(lambda: cp16.tx_limit(2) == 10.0, within=15, what="the second car's profile")
        assert cp16.tx_limit(1) == 10.0  # lowered before the second car was raised
        order = [
            (connector, profile["charging_schedule"]["charging_schedule_period"][0]["limit"])
            for connector, profile in cp16.received
        ]
        assert [connector for connector, _ in order[-2:]] == [1, 2]

        await stop_session(cp16, 1)
        await until(lambda: cp16.tx_limit(2) == 20.0, within=15, what="the remaining car raised")


async def test_a_refusal_alert_opens_once_and_closes_when_the_station_accepts_a_profile_again(
    daphne_server, grid, stations
):
    from asgiref.sync import sync_to_async

    from smartcharging import load

    save = sync_to_async(load.load_group_save)
    await LoadGroup.objects.filter(pk=grid.pk).aupdate(limit=40)
    alerts = Alert.objects.filter(kind=Alert.Kind.PROFILE_REJECTED, station=stations[1])
    async with connected(daphne_server, "LM-201", "2.0.1") as cp201:
        await watch()  # protected on this connection: a limit change below is not a reconnect
        await until(lambda: cp201.held.get((0, "TxDefaultProfile")), what="the default profile")
        cp201.refuse = True
        await start_session(cp201, 1, "TAG-1")
        await rebalance(site_id=grid.site_id)
        assert (await allocations())[("LM-201", 1)] == (32.0, State.REJECTED)
        assert await alerts.filter(closed_at__isnull=True).acount() == 1

        grid.limit = 30
        await save(group=grid)  # its new default refused too: still one alert
        assert len([p for c, p in cp201.received if c == 0]) == 2
        assert await alerts.acount() == 1

        cp201.refuse = False
        grid.limit = 35
        await save(group=grid)  # accepted: back in the pool, its session's profile sent, the alert closed
        assert cp201.tx_limit(1) == 32.0
        assert (await allocations())[("LM-201", 1)] == (32.0, State.CHARGING)
    alert = await alerts.aget()
    assert alert.closed_at is not None and "accepted" in alert.close_reason
    assert not await StationLoadState.objects.filter(station=stations[1], rejected_at__isnull=False).aexists()


async def test_a_new_peak_of_the_buildings_load_lowers_the_default_profiles_at_once(daphne_server, grid, stations):
    from stations.models import Connector

    meter = stations[0]  # LM-16's grid meter measures the building; it stays away
    await Connector.objects.acreate(station=meter, connector_id=0, power_w=0)
    await LoadGroup.objects.filter(pk=grid.pk).aupdate(meter_source=LoadGroup.MeterSource.STATION, meter_station=meter)

    def default_limit(cp) -> float | None:
        profile = cp.held.get((0, "TxDefaultProfile"))
        return profile and float(profile["charging_schedule"][0]["charging_schedule_period"][0]["limit"])

    async with connected(daphne_server, "LM-201", "2.0.1") as cp201:
        await watch()
        await until(lambda: default_limit(cp201) == 10.0, what="20 A over the two stations")
        await Connector.objects.filter(station=meter, connector_id=0).aupdate(power_w=3 * 230 * 8)
        await watch()
        assert default_limit(cp201) == 6.0  # (20 - 8 A) over the two
        await Connector.objects.filter(station=meter, connector_id=0).aupdate(power_w=0)
        await watch()
        assert default_limit(cp201) == 6.0  # the peak holds


async def test_ending_load_management_clears_its_profiles_at_once_and_on_a_lost_station_once_it_is_back(
    daphne_server, grid, stations
):
    ours = {load.FAILSAFE_PROFILE_ID, load.TX_PROFILE_ID_BASE + 1}
    ours16 = ours | {load.TX_DEFAULT_PROFILE_ID_BASE + 1}  # where a 1.6 station may hold its connector's default
    async with connected(daphne_server, "LM-16") as cp16:
        async with connected(daphne_server, "LM-201", "2.0.1") as cp201:
            await start_session(cp16, 1, "TAG-1")
            await start_session(cp201, 1, "TAG-2")
            await watch()
            for cp in (cp16, cp201):
                await until(lambda cp=cp: cp.held.get((0, "TxDefaultProfile")) and cp.tx_limit(1), what="profiles")
        await until(lambda: Station.objects.filter(ocpp_id="LM-201", is_online=False).aexists(), what="LM-201 lost")

        await sync_to_async(load.load_group_delete)(group=grid)
        assert cp16.held == {} and set(cp16.cleared) == ours16  # a later session is no longer held at the old share
        assert await StationLoadState.objects.filter(station__ocpp_id="LM-201").aexists()  # not yet asked

    async with connected(daphne_server, "LM-201", "2.0.1") as cp201:
        await watch()
        assert set(cp201.cleared) == ours
    assert not await StationLoadState.objects.aexists()
    await watch()  # released: not asked again
    assert len(cp16.cleared) == 3


def purposes_sent(cp, connector_id: int) -> list[str]:
    return [profile["charging_profile_purpose"] for connector, profile in cp.received if connector == connector_id]


async def test_a_16_station_refusing_tx_profiles_gets_each_share_as_its_connectors_default_and_no_alert(
    daphne_server, grid, stations
):
    async with connected(daphne_server, "LM-16") as cp16, connected(daphne_server, "LM-201", "2.0.1") as cp201:
        cp16.refuse_tx = True
        await start_session(cp16, 1, "TAG-1")
        await start_session(cp201, 1, "TAG-2")
        result = await rebalance(site_id=grid.site_id)
        assert (result.sent, result.rejected) == (2, [])
        assert purposes_sent(cp16, 1) == ["TxProfile", "TxDefaultProfile"]
        default = cp16.held[(1, "TxDefaultProfile")]
        assert default["charging_profile_id"] == load.TX_DEFAULT_PROFILE_ID_BASE + 1
        assert default["stack_level"] > load.FAILSAFE_STACK_LEVEL and "transaction_id" not in default
        assert (cp16.tx_limit(1, "TxDefaultProfile"), cp201.tx_limit(1)) == (10.0, 10.0)
        assert (await allocations())[("LM-16", 1)] == (10.0, State.CHARGING)
        assert await ConnectorAllocation.objects.filter(station=stations[0], delivery="sent").aexists()

        # Its next session's share goes as its connector's default at once, and the first one's is lowered.
        await start_session(cp16, 2, "TAG-3")
        await rebalance(site_id=grid.site_id)
        assert purposes_sent(cp16, 2) == ["TxDefaultProfile"]
        assert purposes_sent(cp16, 1) == ["TxProfile", "TxDefaultProfile", "TxDefaultProfile"]
        assert cp16.held[(2, "TxDefaultProfile")]["charging_profile_id"] == load.TX_DEFAULT_PROFILE_ID_BASE + 2
        limits = [cp16.tx_limit(1, "TxDefaultProfile"), cp16.tx_limit(2, "TxDefaultProfile"), cp201.tx_limit(1)]
        assert sorted(limits) == [6.6, 6.7, 6.7]
    assert not await Alert.objects.aexists()
    state = await StationLoadState.objects.aget(station=stations[0])
    assert state.tx_profile_refused_at is not None and state.rejected_at is None


async def test_a_station_refusing_its_connectors_default_too_or_a_201_station_its_tx_profile_is_counted_at_its_maximum(
    daphne_server, grid, stations
):
    await LoadGroup.objects.filter(pk=grid.pk).aupdate(limit=40)
    async with connected(daphne_server, "LM-16") as cp16, connected(daphne_server, "LM-201", "2.0.1") as cp201:
        cp16.refuse = True
        cp201.refuse_tx = True  # 2.0.1: no fallback
        await start_session(cp16, 1, "TAG-1")
        await start_session(cp201, 1, "TAG-2")
        await rebalance(site_id=grid.site_id)
        assert purposes_sent(cp16, 1) == ["TxProfile", "TxDefaultProfile"]
        assert purposes_sent(cp201, 1) == ["TxProfile"]
        shares = await allocations()
        assert shares[("LM-16", 1)] == shares[("LM-201", 1)] == (32.0, State.REJECTED)
    alerted = Alert.objects.filter(kind=Alert.Kind.PROFILE_REJECTED, closed_at__isnull=True)
    assert {alert.station_id async for alert in alerted} == {stations[0].pk, stations[1].pk}


async def test_a_session_ending_clears_its_connectors_default_so_the_next_session_there_does_not_inherit_it(
    daphne_server, grid, stations
):
    from tests.smartcharging.conftest import stop_session

    async with connected(daphne_server, "LM-16") as cp16, connected(daphne_server, "LM-201", "2.0.1") as cp201:
        cp16.refuse_tx = True
        await start_session(cp16, 1, "TAG-1")
        await start_session(cp201, 1, "TAG-2")
        await rebalance(site_id=grid.site_id)
        assert cp16.tx_limit(1, "TxDefaultProfile") == 10.0

        await stop_session(cp16, 1)
        await rebalance(site_id=grid.site_id)
        assert cp16.cleared == [load.TX_DEFAULT_PROFILE_ID_BASE + 1]
        assert (1, "TxDefaultProfile") not in cp16.held  # a car plugging in there starts at the fail-safe default
        assert cp201.tx_limit(1) == 20.0

        await start_session(cp16, 1, "TAG-3")
        await rebalance(site_id=grid.site_id)
        assert cp16.tx_limit(1, "TxDefaultProfile") == 10.0
        assert purposes_sent(cp16, 1)[-1] == "TxDefaultProfile"


async def test_ending_load_management_clears_the_connector_defaults_sent_for_refused_tx_profiles(
    daphne_server, grid, stations
):
    async with connected(daphne_server, "LM-16") as cp16:
        cp16.refuse_tx = True
        await start_session(cp16, 1, "TAG-1")
        await watch()
        await until(lambda: cp16.held.get((0, "TxDefaultProfile")), what="the fail-safe default")
        await until(lambda: cp16.tx_limit(1, "TxDefaultProfile") == 20.0, what="the session's share")

        await sync_to_async(load.load_group_delete)(group=grid)
        assert cp16.held == {} and load.TX_DEFAULT_PROFILE_ID_BASE + 1 in cp16.cleared


async def test_a_16_station_is_asked_for_tx_profiles_again_after_a_boot_and_its_connectors_defaults_cleared(
    daphne_server, grid, stations
):
    async with connected(daphne_server, "LM-16") as cp16:
        cp16.refuse_tx = True
        await start_session(cp16, 1, "TAG-1")
        await watch()
        await until(lambda: cp16.tx_limit(1, "TxDefaultProfile") == 20.0, what="the session's share as a default")
    await until(lambda: Station.objects.filter(ocpp_id="LM-16", is_online=False).aexists(), what="LM-16 lost")

    async with connected(daphne_server, "LM-16") as cp16:  # booted again (new firmware): it takes TxProfiles
        await watch()
        await until(lambda: cp16.tx_limit(1) == 20.0, what="the session's TxProfile")
        assert purposes_sent(cp16, 1) == ["TxProfile"]
        assert load.TX_DEFAULT_PROFILE_ID_BASE + 1 in cp16.cleared
    assert not await StationLoadState.objects.filter(tx_profile_refused_at__isnull=False).aexists()

"""A 1.6 charger that takes TxDefaultProfiles only, end to end: two simulated 1.6 stations behind a 30 A grid
connection and the live CSMS. The one refusing TxProfiles holds each session's share as its connector's default, its
cars and the MeterValues the CSMS stores follow it, the site stays under its limit and nobody is alerted; a session
ending there leaves no share behind for the next car on that connector."""

import pytest
from asgiref.sync import sync_to_async

from accounts.models import IdToken
from monitoring.models import Alert
from sessions.models import MeterSample, Transaction
from simulator import Simulation, SimulatorConfig, profiles
from smartcharging import load
from smartcharging.models import ConnectorAllocation, LoadGroup, SiteLoadSample, StationLoadState
from stations.models import Connector, Site
from stations.services import station_create
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)

VOLTS, PHASES = 230.0, 3
LIMIT_A = 30.0
DEFAULT_ONLY, TX_TAKING = "FB-01", "FB-02"
TOLERANCE_A = 0.05  # rounding of the reported values (0.1 A)


@pytest.fixture(autouse=True)
def _short_response_timeout(settings):
    settings.CMS_OCPP_RESPONSE_TIMEOUT = 5


def tag(ocpp_id: str, connector_id: int) -> str:
    return f"{ocpp_id}{connector_id}".replace("-", "")


@sync_to_async
def managed_site() -> LoadGroup:
    site = Site.objects.create(name="Car park")
    for ocpp_id in (DEFAULT_ONLY, TX_TAKING):
        station_create(ocpp_id=ocpp_id, password=SimulatorConfig.password, site=site)
        for connector_id in (1, 2):
            IdToken.objects.create(token=tag(ocpp_id, connector_id))
    return LoadGroup.objects.create(site=site, name="Grid connection", limit=LIMIT_A)


def drawn_a(simulation: Simulation) -> dict[tuple[str, int], float]:
    """What each car draws now (A per phase), by the stations' own meters."""
    return {
        (station.id, connector.connector_id): connector.current_a(voltage=VOLTS, phases=PHASES)
        for station in simulation.stations
        for connector in station.connectors.values()
        if connector.transaction_id is not None
    }


def offered_a(station, connector_id: int) -> float:
    return station.power_limit_w(connector_id) / (VOLTS * PHASES)


async def reported_a(ocpp_id: str, connector_id: int) -> float | None:
    """The connector's latest Current.Import the CSMS stored from the station's MeterValues."""
    last = (
        await MeterSample.objects.filter(
            station__ocpp_id=ocpp_id, connector_id=connector_id, measurand="Current.Import"
        )
        .order_by("-timestamp")
        .afirst()
    )
    return None if last is None else last.value


async def active(count: int) -> bool:
    return await Transaction.objects.filter(status=Transaction.Status.ACTIVE).acount() == count


async def shared(simulation: Simulation, expected: dict[tuple[str, int], float]) -> bool:
    """After a watch (and the rebalance it runs, unless the CSMS's own triggers ran it already) each busy connector
    lets its car draw its share by the profiles its station holds, and no car draws more."""
    await sync_to_async(load.sites_watch)()
    by_id = {station.id: station for station in simulation.stations}
    draws = drawn_a(simulation)
    offered = {(ocpp_id, connector_id): offered_a(by_id[ocpp_id], connector_id) for ocpp_id, connector_id in draws}
    return (
        offered.keys() == expected.keys()
        and all(abs(offered[key] - amps) <= TOLERANCE_A for key, amps in expected.items())
        and all(draws[key] <= offered[key] + TOLERANCE_A for key in draws)
    )


async def test_a_site_stays_under_its_limit_with_a_16_station_taking_connector_defaults_only(daphne_server):
    grid = await managed_site()
    config = SimulatorConfig(
        url=f"{daphne_server.ws_url}/ocpp", autostart=False, meter_interval=0.5, response_timeout=5, seed=7
    )
    simulation = Simulation([DEFAULT_ONLY, TX_TAKING], config, versions=dict.fromkeys((DEFAULT_ONLY, TX_TAKING), "1.6"))
    default_only, tx_taking = simulation.stations
    default_only.reject_tx_profiles = True
    async with simulation.running(boot_within=20):
        await until(lambda: _connectors_known(4), within=10, what="the connectors")
        await until(lambda: _protected(2), within=20, every=0.5, what="the fail-safe defaults")  # 30 A / 4 = 7.5 A
        for station, connector_id in ((default_only, 1), (default_only, 2), (tx_taking, 1)):
            station.start_session(connector_id, tag(station.id, connector_id))
        await until(lambda: active(3), within=20, what="three sessions")
        thirds = {(DEFAULT_ONLY, 1): 10.0, (DEFAULT_ONLY, 2): 10.0, (TX_TAKING, 1): 10.0}
        await until(lambda: shared(simulation, thirds), within=20, every=0.5, what="a third of the site each")

        held = {(p.id, p.purpose, p.connector_id) for p in default_only.charging_profiles.values()}
        assert held == {
            (load.FAILSAFE_PROFILE_ID, profiles.TX_DEFAULT, 0),
            (load.TX_DEFAULT_PROFILE_ID_BASE + 1, profiles.TX_DEFAULT, 1),
            (load.TX_DEFAULT_PROFILE_ID_BASE + 2, profiles.TX_DEFAULT, 2),
        }
        assert {p.purpose for p in tx_taking.charging_profiles.values()} == {profiles.TX_DEFAULT, profiles.TX}
        assert sum(drawn_a(simulation).values()) <= LIMIT_A + TOLERANCE_A
        for connector_id in (1, 2):  # what the station reports follows its connector's default too
            await until(
                lambda connector_id=connector_id: _near(reported_a(DEFAULT_ONLY, connector_id), 10.0),
                within=10,
                what="the reported current",
            )
        assert not await ConnectorAllocation.objects.exclude(state=ConnectorAllocation.State.CHARGING).aexists()

        # A car leaves the station that takes defaults only: its connector's default goes with it.
        await default_only.stop_session(1, "EVDisconnected")
        await until(lambda: active(2), within=10, what="the session ended")
        halves = {(DEFAULT_ONLY, 2): 15.0, (TX_TAKING, 1): 15.0}
        await until(lambda: shared(simulation, halves), within=20, every=0.5, what="half of the site each")
        assert load.TX_DEFAULT_PROFILE_ID_BASE + 1 not in default_only.charging_profiles
        # The next car there starts at the station's fail-safe default, not at the share of the car before.
        assert offered_a(default_only, 1) == pytest.approx(7.5)

        default_only.start_session(1, tag(DEFAULT_ONLY, 1))
        await until(lambda: active(3), within=20, what="the next session")
        await until(lambda: shared(simulation, thirds), within=20, every=0.5, what="a third of the site each again")
        assert sum(drawn_a(simulation).values()) <= LIMIT_A + TOLERANCE_A
    assert not await Alert.objects.aexists()
    samples = SiteLoadSample.objects.filter(site_id=grid.site_id)
    assert await samples.acount() and not await samples.filter(allocated_a__gt=LIMIT_A).aexists()
    state = await StationLoadState.objects.aget(station__ocpp_id=DEFAULT_ONLY)
    assert state.tx_profile_refused_at is not None and state.rejected_at is None


async def _connectors_known(count: int) -> bool:
    return await Connector.objects.filter(connector_id__gt=0).acount() == count


async def _protected(count: int) -> bool:
    await sync_to_async(load.sites_watch)()
    return await StationLoadState.objects.filter(failsafe_connected_at__isnull=False).acount() == count


async def _near(reading, amps: float) -> bool:
    value = await reading
    return value is not None and abs(value - amps) <= TOLERANCE_A

"""Load management's reading of a site, on the real database: limit periods in the profile ahead of time, the
building's load taken off, an EV's needs served first, and the fail-safe share."""

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from sessions.models import Transaction
from smartcharging import load
from smartcharging.models import EVChargingNeeds, LimitPeriod, LoadGroup, LoadGroupStation
from stations.models import Connector, Station

pytestmark = pytest.mark.django_db


@pytest.fixture
def online(make_station, site):
    station = make_station("SV-1", site=site)
    Station.objects.filter(pk=station.pk).update(is_online=True, ocpp_version="2.0.1")
    return station


def charging(station, *connectors):
    now = timezone.now()
    for number, connector_id in enumerate(connectors):
        Connector.objects.get_or_create(station=station, connector_id=connector_id)
        Transaction.objects.create(
            station=station, connector_id=connector_id, started_at=now - timedelta(minutes=10 - number), id_tag="T"
        )


def schedules(site) -> dict[int, list]:
    plan = load.sites_plan(site_ids=[site.pk])[site.pk]
    return {slot.connector_id: slot.schedule for slot in plan.slots}


def test_a_limit_period_ahead_is_in_each_schedule_from_its_start(site, online):
    grid = LoadGroup.objects.create(site=site, name="Grid", limit=20)
    now = timezone.now().astimezone(UTC)
    starts = (now + timedelta(hours=1)).replace(second=0, microsecond=0)
    LimitPeriod.objects.create(group=grid, starts=starts.time(), ends=(starts + timedelta(hours=2)).time(), limit=40)
    charging(online, 1, 2)
    offset = round((starts - now).total_seconds())
    found = schedules(site)
    assert [period[1] for period in found[1]] == [10.0, 20.0]
    assert abs(found[1][1][0] - offset) <= 1  # the night window's start, in seconds from now


def test_the_buildings_load_from_a_stations_grid_meter_is_taken_off_the_limit(site, online, make_station):
    meter = make_station("SV-METER", site=site)
    Connector.objects.create(station=meter, connector_id=0, power_w=3 * 230 * 8)  # 8 A per phase
    grid = LoadGroup.objects.create(
        site=site, name="Grid", limit=32, meter_source=LoadGroup.MeterSource.STATION, meter_station=meter
    )
    charging(online, 1)
    assert load.building_load_refresh(group=grid, now=timezone.now()) is True
    assert load.building_load_refresh(group=grid, now=timezone.now()) is False  # unchanged: nothing to redo
    assert schedules(site) == {1: [(0, 24.0)]}


def test_a_kw_limit_is_converted_with_the_sites_phases_and_voltage(site, online):
    LoadGroup.objects.create(site=site, name="Grid", limit=11, limit_unit=LoadGroup.Unit.KILOWATTS)
    charging(online, 1)
    assert schedules(site) == {1: [(0, 15.9)]}  # 11,000 W / (3 x 230 V) = 15.94 A, rounded down


def test_an_ev_that_must_leave_soon_gets_what_its_energy_needs_first(site, online):
    LoadGroup.objects.create(site=site, name="Grid", limit=30)
    charging(online, 1, 2)
    EVChargingNeeds.objects.create(
        station=online,
        evse_id=2,
        requested_energy_transfer="AC_three_phase",
        departure_time=timezone.now() + timedelta(hours=1),
        charging_needs={"requestedEnergyTransfer": "AC_three_phase", "acChargingParameters": {"energyAmount": 13800}},
    )
    found = schedules(site)  # 13,800 Wh in an hour over 3 x 230 V: 20 A first, the 4 A left in equal parts
    assert (found[1][0][1], found[2][0][1]) == (8.0, 22.0)


def test_the_fail_safe_share_holds_the_lowest_limit_with_every_connector_of_every_feeder_charging(
    site, online, make_station
):
    grid = LoadGroup.objects.create(site=site, name="Grid", limit=63)
    LimitPeriod.objects.create(group=grid, starts="07:00", ends="09:00", limit=40)
    feeder = LoadGroup.objects.create(site=site, parent=grid, name="Feeder", limit=12)
    other = make_station("SV-2", site=site)
    for station in (online, other):
        for connector_id in (1, 2):
            Connector.objects.create(station=station, connector_id=connector_id)
    LoadGroupStation.objects.create(station=other, group=feeder)
    assert load.failsafe_current_a(station=online) == 10.0  # 40 A over four connectors
    assert load.failsafe_current_a(station=other) == 6.0  # its feeder's 12 A over its two


def test_a_car_drawing_much_less_than_offered_is_given_its_draw_and_the_rest_goes_to_the_others(site, online):
    from sessions.models import MeterSample
    from smartcharging.models import ConnectorAllocation

    LoadGroup.objects.create(site=site, name="Grid", limit=40)
    charging(online, 1, 2)
    load.sites_allocation_record(plans=list(load.sites_plan(site_ids=[site.pk]).values()))
    assert schedules(site) == {1: [(0, 20.0)], 2: [(0, 20.0)]}
    assert ConnectorAllocation.objects.filter(current_a=20.0).count() == 2
    full = Transaction.objects.get(station=online, connector_id=1)
    for phase in ("L1", "L2", "L3"):
        MeterSample.objects.create(
            transaction=full,
            station=online,
            connector_id=1,
            timestamp=timezone.now(),
            measurand="Current.Import",
            phase=phase,
            unit="A",
            value=3.0 if phase != "L2" else 3.5,
        )
    assert schedules(site) == {1: [(0, 6.0)], 2: [(0, 32.0)]}  # 3.5 A + 2 A headroom is below its 6 A minimum


@pytest.mark.django_db(transaction=True)
def test_in_process_a_rebalance_queued_by_a_trigger_runs_on_a_thread_of_its_own(
    site, online, celery_eager, monkeypatch
):
    import threading

    from smartcharging.models import ConnectorAllocation
    from tests.waiting import until_sync

    LoadGroup.objects.create(site=site, name="Grid", limit=40)
    ran_on = []
    original = load.site_rebalance

    def recorded(*, site_id):
        ran_on.append(threading.current_thread().name)
        return original(site_id=site_id)

    monkeypatch.setattr(load, "site_rebalance", recorded)
    charging(online, 1)  # the session's save queues the rebalance
    until_sync(lambda: ConnectorAllocation.objects.filter(station=online).exists(), what="the share stored")
    assert ran_on and all(name.startswith("load-management") for name in ran_on)

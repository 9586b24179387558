"""Load management's reading of a site, on the real database: limit periods in the profile ahead of time, the
building's load taken off, an EV's needs served first, and the fail-safe share."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from sessions.models import Transaction
from smartcharging import load
from smartcharging.models import EVChargingNeeds, LimitPeriod, LoadGroup, LoadGroupStation, schedule_fingerprint
from stations.models import Connector, Site, Station

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
    # After the window, the lowest limit of any period holds for good: a station holding this profile while the CSMS
    # is away stays under every period's limit.
    assert [period[1] for period in found[1]] == [10.0, 20.0, 10.0]
    assert abs(found[1][1][0] - offset) <= 1  # the night window's start, in seconds from now
    assert abs(found[1][2][0] - (offset + 2 * 3600)) <= 1  # its end


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
        departure_time=timezone.now() + timedelta(hours=1, seconds=-5),  # a few seconds under the hour: 20 A at least
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


# Phases


@pytest.mark.parametrize(
    ("phases", "rotation", "drawing", "site_phases", "expected"),
    [
        (3, None, None, 3, (3, (1, 2, 3))),
        (1, None, None, 3, (1, (1,))),
        (1, "STR", None, 3, (1, (2,))),  # its L1 on the site's L2
        (1, "TRS", None, 3, (1, (3,))),
        (1, "NotApplicable", None, 3, (1, (1,))),
        (3, "RTS", None, 3, (3, (1, 2, 3))),
        (3, None, {1: 9.8, 2: 0.0, 3: 0.1}, 3, (1, (1,))),  # a one-phase car at a three-phase connector
        (3, "STR", {1: 0.0, 2: 12.0, 3: 0.0}, 3, (1, (3,))),  # the connector's L2 is the site's L3
        (3, None, {1: 9.8}, 3, (3, (1, 2, 3))),  # a meter naming L1 alone proves nothing
        (3, None, {1: 9.8, 2: 0.7, 3: 0.0}, 3, (3, (1, 2, 3))),  # L2 not idle: not sure
        (1, "STR", {1: 9.0, 2: 9.0, 3: 9.0}, 3, (3, (1, 2, 3))),  # set as one-phase, drawing on three
        (3, None, {1: 0.0, 2: 0.0, 3: 0.0}, 3, (3, (1, 2, 3))),  # drawing nothing: as set
        (3, None, None, 1, (3, (1,))),  # a one-phase site
    ],
)
def test_the_phases_a_car_draws_on_come_from_its_connector_its_rotation_and_its_draw(
    phases, rotation, drawing, site_phases, expected
):
    assert load.supply_lines(phases=phases, rotation=rotation, drawing=drawing, site_phases=site_phases) == expected


def test_one_phase_connectors_on_other_phases_leave_the_rest_of_each_phase_to_a_three_phase_car(site, online):
    """40 A per phase: a three-phase car and two one-phase cars on L2 and L3 (by the operator's settings and the
    station's rotation) all get 20 A; counted on every phase, they would have had 13.3 A each."""
    from smartcharging.models import ConnectorLoadSettings
    from stations.models import ConfigurationKey

    LoadGroup.objects.create(site=site, name="Grid", limit=40)
    for connector_id in (2, 3):
        ConnectorLoadSettings.objects.create(station=online, connector_id=connector_id, phases=1)
    ConfigurationKey.objects.create(
        station=online, key="ConnectorPhaseRotation", value="0.RST, 1.RST, 2.STR, 3.TRS", reported_at=timezone.now()
    )
    charging(online, 1, 2, 3)
    plan = load.sites_plan(site_ids=[site.pk])[site.pk]
    assert {slot.connector_id: (slot.lines, slot.schedule) for slot in plan.slots} == {
        1: ((1, 2, 3), [(0, 20.0)]),
        2: ((2,), [(0, 20.0)]),
        3: ((3,), [(0, 20.0)]),
    }
    assert load._sample(plan).allocated_a == 40.0  # the most loaded phase


def test_a_car_drawing_on_one_phase_is_counted_there_and_its_profile_says_one_phase(site, online):
    from sessions.models import MeterSample

    LoadGroup.objects.create(site=site, name="Grid", limit=20)
    charging(online, 1, 2)
    Station.objects.filter(pk=online.pk).update(ocpp_version="1.6")
    one_phase = Transaction.objects.get(station=online, connector_id=2)
    sampled_at = timezone.now()  # one reading of the three phases
    for phase, amps in (("L1", 0.0), ("L2", 10.0), ("L3", 0.2)):
        MeterSample.objects.create(
            transaction=one_phase,
            station=online,
            connector_id=2,
            timestamp=sampled_at,
            measurand="Current.Import",
            phase=phase,
            unit="A",
            value=amps,
        )
    plan = load.sites_plan(site_ids=[site.pk])[site.pk]
    slots = {slot.connector_id: slot for slot in plan.slots}
    assert (slots[2].phases, slots[2].lines) == (1, (2,))
    assert (slots[1].schedule, slots[2].schedule) == ([(0, 10.0)], [(0, 10.0)])  # the two share L2
    _, payload = load.tx_profile(slots[2], starts_at=plan.at)
    assert payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["numberPhases"] == 1


def test_a_201_evse_supplying_one_phase_by_its_device_model_is_counted_on_its_rotated_phase(site, online):
    from stations.models import DeviceModelVariable

    LoadGroup.objects.create(site=site, name="Grid", limit=16)
    for variable, value in (("SupplyPhases", "1"), ("PhaseRotation", "TRS")):
        DeviceModelVariable.objects.create(
            station=online,
            component_name="EVSE",
            evse_id=1,
            variable_name=variable,
            value=value,
            reported_at=timezone.now(),
        )
    charging(online, 1, 2)
    plan = load.sites_plan(site_ids=[site.pk])[site.pk]
    assert {slot.connector_id: (slot.phases, slot.lines, slot.schedule) for slot in plan.slots} == {
        1: (1, (3,), [(0, 8.0)]),
        2: (3, (1, 2, 3), [(0, 8.0)]),
    }


# What the CSMS counts a station it has lost at


def test_a_lost_station_is_counted_at_the_highest_limit_left_in_its_schedule_or_its_maximum_when_unsure(site, online):
    from smartcharging.models import ConnectorAllocation

    LoadGroup.objects.create(site=site, name="Grid", limit=40)
    charging(online, 1)
    session = Transaction.objects.get(station=online)
    now = timezone.now()
    ConnectorAllocation.objects.create(
        site=site,
        station=online,
        connector_id=1,
        transaction=session,
        state="charging",
        current_a=10.0,
        schedule=[[0, 10.0], [600, 24.0], [1200, 8.0]],  # a night window ahead of it, then the lowest limit
        schedule_start=now - timedelta(minutes=1),
        delivery="sent",
    )
    Station.objects.filter(pk=online.pk).update(is_online=False)
    assert schedules(site) == {1: [(0, 24.0)]}
    ConnectorAllocation.objects.filter(station=online).update(delivery="failed")  # it may hold an earlier profile
    assert schedules(site) == {1: [(0, 32.0)]}


# Fail-safe


def test_the_fail_safe_share_counts_the_buildings_peak_and_its_reserve_and_is_zero_below_the_minimum(site, online):
    from smartcharging.models import ConnectorLoadSettings

    meter = Station.objects.create(ocpp_id="SV-METER", site=site)
    Connector.objects.create(station=meter, connector_id=0, power_w=3 * 230 * 20)  # 20 A per phase
    grid = LoadGroup.objects.create(
        site=site, name="Grid", limit=63, meter_source=LoadGroup.MeterSource.STATION, meter_station=meter
    )
    for connector_id in (1, 2):
        Connector.objects.create(station=online, connector_id=connector_id)
    now = timezone.now()
    load.building_load_refresh(group=grid, now=now)
    Connector.objects.filter(station=meter).update(power_w=3 * 230 * 3)  # the building quiet again: 3 A
    load.building_load_refresh(group=grid, now=now + timedelta(minutes=5))
    grid.refresh_from_db()
    assert (grid.building_load_w, grid.building_peak_w) == (3 * 230 * 3, 3 * 230 * 20)
    # Its two connectors and the meter station's (one, its connectors unknown): 63 A less the 20 A peak over three.
    assert load.failsafe_current_a(station=online) == 14.3

    grid.building_reserve_a = 30
    grid.save()
    assert load.failsafe_current_a(station=online) == 11.0  # the reserve is more than the peak: (63 - 30) / 3

    ConnectorLoadSettings.objects.create(station=online, connector_id=2, min_current_a=12)
    assert load.failsafe_current_a(station=online) == 0.0  # its largest minimum does not fit: the cars wait

    grid.meter_source, grid.building_reserve_a = LoadGroup.MeterSource.NONE, 7
    grid.save()
    ConnectorLoadSettings.objects.filter(station=online).delete()
    assert load.failsafe_current_a(station=online) == 18.6  # no meter: the reserve alone, (63 - 7) / 3


def test_the_buildings_peak_is_kept_a_whole_window_at_least(site):
    meter = Station.objects.create(ocpp_id="SV-METER", site=site)
    reading = Connector.objects.create(station=meter, connector_id=0, power_w=9000)
    grid = LoadGroup.objects.create(
        site=site, name="Grid", limit=63, meter_source=LoadGroup.MeterSource.STATION, meter_station=meter
    )
    start = timezone.now()

    def read(watts, after):
        Connector.objects.filter(pk=reading.pk).update(power_w=watts)
        load.building_load_refresh(group=grid, now=start + after)
        return load.building_worst_case_a(grid) * 3 * 230

    window = load.BUILDING_PEAK_WINDOW
    assert read(9000, timedelta(0)) == pytest.approx(9000)
    assert read(2000, window / 2) == pytest.approx(9000)
    assert read(1000, window + timedelta(minutes=1)) == pytest.approx(9000)  # the window before still counts
    assert read(1500, window * 2 + timedelta(minutes=2)) == pytest.approx(1500)  # a whole window without it


# A refusal alert


def test_a_refusal_alert_opens_once_and_closes_when_the_station_accepts_a_profile_sent_after_it(site, online):
    from monitoring.models import Alert
    from smartcharging.models import StationLoadState

    LoadGroup.objects.create(site=site, name="Grid", limit=40)
    before = timezone.now()
    assert load.station_rejected(station=online, detail="SetChargingProfile: Rejected") is not None
    assert load.station_rejected(station=online, detail="SetChargingProfile: Rejected") is None  # one is open
    alerts = Alert.objects.filter(station=online, kind=Alert.Kind.PROFILE_REJECTED)
    assert alerts.count() == 1

    assert load.station_accepted(station=online, sent_at=before) is False  # sent with the refused one: it stands
    assert StationLoadState.objects.get(station=online).rejected_at is not None

    assert load.station_accepted(station=online, sent_at=timezone.now()) is True
    assert StationLoadState.objects.get(station=online).rejected_at is None  # back in the pool
    assert alerts.get().closed_at is not None
    assert load.station_rejected(station=online, detail="SetChargingProfile: Rejected") is not None  # a new one
    assert alerts.filter(closed_at__isnull=True).count() == 1


def test_a_refusal_alert_closes_when_the_site_leaves_load_management(site, online, make_station):
    from monitoring.models import Alert

    grid = LoadGroup.objects.create(site=site, name="Grid", limit=40)
    elsewhere = Station.objects.create(ocpp_id="SV-ELSEWHERE")  # no site: never managed
    load.station_rejected(station=online, detail="SetChargingProfile: Rejected")
    load.station_rejected(station=elsewhere, detail="SetChargingProfile: Rejected")
    assert load.rejection_alerts_settle() is True  # the one of the station at no managed site
    open_alerts = Alert.objects.filter(kind=Alert.Kind.PROFILE_REJECTED, closed_at__isnull=True)
    assert list(open_alerts.values_list("station__ocpp_id", flat=True)) == ["SV-1"]
    load.load_group_delete(group=grid)
    assert not open_alerts.exists()
    assert Alert.objects.get(station=online).close_reason == "The station is no longer under load management"


# Limit periods ahead


@st.composite
def limit_days(draw):
    """A grid connection's default limit, up to three time-of-day periods, and a moment to plan at."""
    grid = LoadGroup(pk=1, limit=Decimal(draw(st.integers(0, 100))))
    periods = []
    for _ in range(draw(st.integers(0, 3))):
        starts, ends = (time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45]))) for _ in range(2))
        periods.append(LimitPeriod(starts=starts, ends=ends, limit=Decimal(draw(st.integers(0, 100)))))
    now = datetime(2026, 12, 4, tzinfo=UTC) + timedelta(seconds=draw(st.integers(0, 86_399)))
    return grid, periods, now


@given(limit_days(), st.lists(st.integers(0, 3 * 86_400), max_size=20))
@settings(max_examples=200, deadline=None)
def test_the_limits_a_schedule_holds_are_never_above_the_limit_in_force_at_any_moment_ahead(day, later):
    """What a station holding its profile follows, however long the CSMS is away: at every moment, the limits of the
    schedule's period running then are at most the limit in force then (each boundary, a second before and after it,
    and moments at random over three days)."""
    grid, periods, now = day
    tz = ZoneInfo("UTC")
    change_at = load.next_period_change(periods, after=now, tz=tz)
    steps = load._limits_ahead([grid], {grid.pk: periods}, now=now, change_at=change_at, tz=tz)
    assert steps[0][0] == now
    moments = [now + timedelta(seconds=seconds) for seconds in later]
    moments += [
        at + timedelta(seconds=shift) for at, _ in steps for shift in (-1, 0, 1) if at + timedelta(seconds=shift) >= now
    ]
    for moment in moments:
        held = [limits for at, limits in steps if at <= moment][-1]
        assert held[grid.pk] <= load.group_limit_a(grid, periods=periods, at=moment, tz=tz), (moment, steps)


def test_planning_many_sites_reads_them_in_the_same_few_queries_as_one(make_station, django_assert_max_num_queries):
    """The watch plans a thousand sites at once: what a plan reads of a site must come with the first read, never a
    query per site or group (a deferred field read later costs one each: 11 s at 1,000 sites)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def metered_site(number: int):
        site = Site.objects.create(name=f"Depot {number}")
        grid = LoadGroup.objects.create(
            site=site, name="Grid", limit=40, building_reserve_a=3, meter_source=LoadGroup.MeterSource.MODBUS
        )
        LoadGroup.objects.filter(pk=grid.pk).update(building_load_w=2000)
        feeder = LoadGroup.objects.create(site=site, name="Feeder", parent=grid, limit=20)
        LimitPeriod.objects.create(group=grid, starts=time(22), ends=time(6), limit=60)
        station = make_station(f"SQ-{number}", site=site)
        LoadGroupStation.objects.create(group=feeder, station=station)
        charging(station, 1, 2)
        return site

    sites = [metered_site(number) for number in range(4)]
    with CaptureQueriesContext(connection) as one:
        load.sites_plan(site_ids=[sites[0].pk])
    with django_assert_max_num_queries(len(one.captured_queries)):
        plans = load.sites_plan(site_ids=[site.pk for site in sites])
    assert all(len(plan.slots) == 2 for plan in plans.values())


@pytest.mark.parametrize(
    "schedule",
    [
        [],
        [[0, 10.0]],
        [[0, 10.0], [600, 24.5]],
        [[0, 6.3], [600, 24.0], [1200, 8.0]],
        [[0, 1], [60, 2], [90, 3], [120, 4]],
    ],
    ids=["empty", "one", "two", "three", "four"],
)
def test_the_stored_fingerprint_of_a_delivered_schedule_is_the_one_a_plan_compares_with(site, online, schedule):
    """A share written through the model keeps the fingerprint a plan compares with (``schedule_fingerprint``): if
    they differed, every share would be sent again at every watch."""
    from smartcharging.models import ConnectorAllocation

    start = timezone.now().replace(microsecond=0) - timedelta(seconds=30.4)
    ConnectorAllocation.objects.create(
        site=site,
        station=online,
        connector_id=1,
        state="charging",
        current_a=10.0,
        schedule=schedule,
        schedule_start=start,
        delivery="sent",
    )
    stored = load._shares(site_ids=[site.pk])[(online.pk, 1)].sent_key
    assert stored == (schedule_fingerprint(schedule, start.timestamp()) if schedule else None)


def test_a_recorded_share_once_delivered_holds_its_plans_fingerprint_and_the_same_plan_is_not_sent_again(site, online):
    from smartcharging.models import ConnectorAllocation

    LoadGroup.objects.create(site=site, name="Grid", limit=40)
    charging(online, 1, 2)
    with transaction.atomic():
        plan = load.sites_plan(site_ids=[site.pk], lock=True)[site.pk]
        assert len(load.sites_allocation_record(plans=[plan])) == 2
    ConnectorAllocation.objects.update(delivery="sent")
    stored = load._shares(site_ids=[site.pk])
    for slot in plan.slots:
        assert stored[slot.key].sent_key == schedule_fingerprint(slot.schedule, plan.at.timestamp())
    with transaction.atomic():
        again = load.sites_plan(site_ids=[site.pk], lock=True)
        assert load.sites_allocation_record(plans=list(again.values())) == []

"""A driver's charging needs: the rule that merges them with the car's, the service that keeps them, and what they
change in a site's allocation (on the real database)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from sessions.models import Transaction
from smartcharging import load, selectors
from smartcharging.models import DriverChargingNeeds, EVChargingNeeds, LoadGroup
from smartcharging.needs import CAR, DRIVER, Needs, Stated, needs_merge
from stations.models import Connector, Station

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
departures = st.none() | st.integers(-3600, 3 * 86400).map(lambda seconds: NOW + timedelta(seconds=seconds))
energies = st.none() | st.floats(0, 200_000)
stated = st.none() | st.builds(Stated, departures, energies)


# The rule


@given(car=stated, driver=stated, delivered=st.integers(0, 300_000))
def test_the_earlier_departure_ahead_always_wins_and_the_energy_is_never_negative(car, driver, delivered):
    merged = needs_merge(car=car, driver=driver, delivered=delivered, now=NOW)
    ahead = [s.departure_at for s in (car, driver) if s is not None and s.departure_at and s.departure_at > NOW]
    if not ahead:
        assert merged is None
        return
    assert merged.departure_at == min(ahead)
    assert merged.departure_from == (CAR if car is not None and car.departure_at == min(ahead) else DRIVER)
    assert merged.energy_wh is None or merged.energy_wh >= 0
    if car is not None and car.energy_wh is not None:
        assert (merged.energy_wh, merged.energy_from) == (car.energy_wh, CAR)


def test_the_drivers_energy_is_what_they_want_from_the_session_less_what_it_delivered():
    leaving = NOW + timedelta(hours=2)
    driver = Stated(leaving, 20_000.0)
    assert needs_merge(car=None, driver=driver, delivered=6_000, now=NOW) == Needs(leaving, DRIVER, 14_000.0, DRIVER)
    assert needs_merge(car=None, driver=driver, delivered=25_000, now=NOW).energy_wh == 0.0


def test_the_cars_energy_wins_over_the_drivers_and_the_drivers_earlier_departure_over_the_cars():
    car = Stated(NOW + timedelta(hours=5), 30_000.0)
    driver = Stated(NOW + timedelta(hours=1), 10_000.0)
    merged = needs_merge(car=car, driver=driver, delivered=0, now=NOW)
    assert merged == Needs(NOW + timedelta(hours=1), DRIVER, 30_000.0, CAR)


def test_a_car_without_a_departure_takes_the_drivers():
    merged = needs_merge(car=Stated(None, 8_000.0), driver=Stated(NOW + timedelta(hours=3), None), delivered=0, now=NOW)
    assert merged == Needs(NOW + timedelta(hours=3), DRIVER, 8_000.0, CAR)


# The service


@pytest.fixture
def online(make_station, site):
    station = make_station("DN-1", site=site)
    Station.objects.filter(pk=station.pk).update(is_online=True, ocpp_version="2.0.1")
    return station


def charging(station, *connectors, meter_start=None) -> list[Transaction]:
    now = timezone.now()
    sessions = []
    for number, connector_id in enumerate(connectors):
        Connector.objects.get_or_create(station=station, connector_id=connector_id)
        sessions.append(
            Transaction.objects.create(
                station=station,
                connector_id=connector_id,
                started_at=now - timedelta(minutes=10 - number),
                id_tag="T",
                meter_start=meter_start,
            )
        )
    return sessions


def schedules(site) -> dict[int, float]:
    plan = load.sites_plan(site_ids=[site.pk])[site.pk]
    return {slot.connector_id: slot.schedule[0][1] for slot in plan.slots}


def in_an_hour() -> datetime:
    return timezone.now() + timedelta(hours=1, seconds=-5)  # a few seconds under the hour: 20 A for 13.8 kWh


@pytest.mark.parametrize(
    ("departure", "energy", "field", "message"),
    [
        (timedelta(minutes=-1), None, "departure_at", "The departure must be in the future."),
        (timedelta(hours=49), None, "departure_at", "The departure must be within the next 48 hours."),
        (timedelta(hours=2), Decimal(0), "energy_kwh", "The energy must be more than 0 kWh."),
        (timedelta(hours=2), Decimal(201), "energy_kwh", "At most 200 kWh per session."),
        (timedelta(hours=2), Decimal("1.25"), "energy_kwh", "Ensure that there are no more than 1 decimal place."),
    ],
)
def test_needs_out_of_range_are_refused_with_the_reason(online, departure, energy, field, message):
    (session,) = charging(online, 1)
    with pytest.raises(ValidationError) as refused:
        load.driver_needs_set(session=session, departure_at=timezone.now() + departure, energy_kwh=energy)
    assert refused.value.message_dict[field] == [message]
    assert not DriverChargingNeeds.objects.exists()


def test_an_ended_sessions_needs_cannot_be_set(online):
    (session,) = charging(online, 1)
    Transaction.objects.filter(pk=session.pk).update(status=Transaction.Status.COMPLETED)
    with pytest.raises(ValidationError, match="This session has ended"):
        load.driver_needs_set(session=session, departure_at=in_an_hour())


def test_setting_needs_again_replaces_them_and_clearing_forgets_them(online):
    (session,) = charging(online, 1)
    load.driver_needs_set(session=session, departure_at=in_an_hour(), energy_kwh=Decimal("10.5"))
    later = timezone.now() + timedelta(hours=5)
    load.driver_needs_set(session=session, departure_at=later, energy_kwh=None)
    row = DriverChargingNeeds.objects.get()
    assert (row.departure_at, row.energy_kwh) == (later, None)
    assert load.driver_needs_clear(session=session) is True
    assert load.driver_needs_clear(session=session) is False
    assert not DriverChargingNeeds.objects.exists()


def test_a_change_of_needs_at_a_managed_site_shares_it_again_after_the_commit(
    online, site, django_capture_on_commit_callbacks
):
    (session,) = charging(online, 1)
    with django_capture_on_commit_callbacks() as unmanaged:
        load.driver_needs_set(session=session, departure_at=in_an_hour())
    assert unmanaged == []  # nothing to share at a site without a limit
    LoadGroup.objects.create(site=site, name="Grid", limit=30)
    with django_capture_on_commit_callbacks() as set_:
        load.driver_needs_set(session=session, departure_at=in_an_hour(), energy_kwh=Decimal(5))
    with django_capture_on_commit_callbacks() as cleared:
        load.driver_needs_clear(session=session)
    assert (len(set_), len(cleared)) == (1, 1)


# What they change in the allocation


def test_a_session_whose_driver_leaves_soon_gets_more_than_an_equal_one_without(site, online):
    LoadGroup.objects.create(site=site, name="Grid", limit=30)
    _, second = charging(online, 1, 2)
    assert schedules(site) == {1: 15.0, 2: 15.0}
    load.driver_needs_set(session=second, departure_at=in_an_hour(), energy_kwh=Decimal("13.8"))
    # 13,800 Wh in an hour over 3 x 230 V: 20 A first, the 4 A left in equal parts.
    assert schedules(site) == {1: 8.0, 2: 22.0}


def test_the_energy_the_session_delivered_is_taken_off_the_drivers(site, online):
    LoadGroup.objects.create(site=site, name="Grid", limit=30)
    _, second = charging(online, 1, 2, meter_start=1_000)
    Connector.objects.filter(station=online, connector_id=2).update(energy_register_wh=7_900)  # 6.9 kWh delivered
    load.driver_needs_set(session=second, departure_at=in_an_hour(), energy_kwh=Decimal("20.7"))
    assert schedules(site) == {1: 8.0, 2: 22.0}  # 13.8 kWh still needed, as above


def test_the_drivers_earlier_departure_plans_the_cars_energy(site, online):
    LoadGroup.objects.create(site=site, name="Grid", limit=30)
    first, second = charging(online, 1, 2)
    EVChargingNeeds.objects.create(
        station=online,
        evse_id=2,
        requested_energy_transfer="AC_three_phase",
        departure_time=timezone.now() + timedelta(hours=8),  # 13.8 kWh in 8 h: 2.5 A, the equal share covers it
        charging_needs={"requestedEnergyTransfer": "AC_three_phase", "acChargingParameters": {"energyAmount": 13800}},
    )
    assert schedules(site) == {1: 15.0, 2: 15.0}
    load.driver_needs_set(session=second, departure_at=in_an_hour(), energy_kwh=Decimal(50))
    assert schedules(site) == {1: 8.0, 2: 22.0}  # the car's 13.8 kWh, by the driver's hour
    needs = selectors.sessions_needs(transactions=[first, second])
    assert list(needs) == [second.pk]
    assert (needs[second.pk].departure_from, needs[second.pk].energy_from, needs[second.pk].energy_wh) == (
        DRIVER,
        CAR,
        13800.0,
    )


def test_a_departure_gone_by_plans_nothing_more(site, online):
    LoadGroup.objects.create(site=site, name="Grid", limit=30)
    first, _ = charging(online, 1, 2)
    load.driver_needs_set(session=first, departure_at=in_an_hour(), energy_kwh=Decimal("13.8"))
    assert schedules(site) == {1: 22.0, 2: 8.0}
    DriverChargingNeeds.objects.update(departure_at=timezone.now() - timedelta(minutes=1))  # the driver stayed
    assert schedules(site) == {1: 15.0, 2: 15.0}

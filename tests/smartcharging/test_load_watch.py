"""The watch shares again only the sites whose inputs changed or may have, and a stored share is found unchanged
whenever the same plan is made again (on the real database; nothing is sent: the stations' acceptance is what
``_send_all`` would record)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from sessions.models import MeterSample, Transaction
from sessions.services import session_stop
from smartcharging import load
from smartcharging.models import ConnectorAllocation, LimitPeriod, LoadGroup, StationLoadState
from stations.models import Connector, Site, Station

pytestmark = pytest.mark.django_db
Delivery = ConnectorAllocation.Delivery


def managed_site(make_station, name: str, *, limit: int = 40) -> tuple[Site, Station]:
    site = Site.objects.create(name=name)
    LoadGroup.objects.create(site=site, name="Grid", limit=limit)
    station = make_station(f"{name}-1", site=site)
    Station.objects.filter(pk=station.pk).update(is_online=True)
    for connector_id in (1, 2):
        Connector.objects.create(station=station, connector_id=connector_id)
        Transaction.objects.create(
            station=station,
            connector_id=connector_id,
            started_at=timezone.now() - timedelta(minutes=5 - connector_id),
            id_tag="T",
            ocpp_transaction_id=f"{name}-TX-{connector_id}",
            meter_start=0,
        )
    return site, station


def allocated(sites, *, now: datetime) -> list:
    """The sites shared and stored at ``now``, and their profiles accepted; the slots that were due."""
    plans = load.sites_plan(site_ids=[site.pk for site in sites], now=now)
    due = load.sites_allocation_record(plans=list(plans.values()))
    ConnectorAllocation.objects.filter(delivery=Delivery.PENDING).update(delivery=Delivery.SENT)
    return due


@pytest.fixture
def two_sites(make_station):
    depot, depot_station = managed_site(make_station, "DEPOT")
    office, office_station = managed_site(make_station, "OFFICE")
    return depot, depot_station, office, office_station


def test_nothing_is_due_once_every_site_is_shared_and_its_profiles_accepted(two_sites):
    depot, _, office, _ = two_sites
    now = timezone.now()
    assert load.sites_due(now=now) == {depot.pk, office.pk}  # never shared
    allocated([depot, office], now=now)
    assert load.sites_due(now=now + timedelta(seconds=5)) == set()


def test_a_car_drawing_much_less_than_offered_makes_its_site_due_and_then_it_settles(two_sites):
    depot, depot_station, office, _ = two_sites
    now = timezone.now()
    allocated([depot, office], now=now)
    session = Transaction.objects.get(station=depot_station, connector_id=1)
    MeterSample.objects.create(
        transaction=session,
        station=depot_station,
        connector_id=1,
        timestamp=now,
        measurand="Current.Import",
        phase="L1",
        unit="A",
        value=3.0,
    )
    assert load.sites_due(now=now + timedelta(seconds=5)) == {depot.pk}
    allocated([depot], now=now + timedelta(seconds=5))
    assert ConnectorAllocation.objects.get(station=depot_station, connector_id=1).current_a == 6.0
    assert load.sites_due(now=now + timedelta(seconds=10)) == set()  # cut to its draw, as it still draws


def test_a_station_lost_or_refusing_makes_its_site_due(two_sites):
    depot, depot_station, office, office_station = two_sites
    now = timezone.now()
    allocated([depot, office], now=now)
    Station.objects.filter(pk=depot_station.pk).update(is_online=False)
    StationLoadState.objects.create(station=office_station, rejected_at=now)
    assert load.sites_due(now=now + timedelta(seconds=5)) == {depot.pk, office.pk}


def test_a_session_stopped_without_a_rebalance_and_an_undelivered_profile_make_their_sites_due(two_sites):
    depot, depot_station, office, office_station = two_sites
    now = timezone.now()
    allocated([depot, office], now=now)
    Transaction.objects.filter(station=depot_station, connector_id=2).update(status=Transaction.Status.COMPLETED)
    ConnectorAllocation.objects.filter(station=office_station, connector_id=1).update(delivery=Delivery.FAILED)
    assert load.sites_due(now=now + timedelta(seconds=5)) == {depot.pk, office.pk}


def test_a_limit_period_beginning_and_an_old_sample_make_a_site_due(two_sites):
    depot, _, office, _ = two_sites
    now = datetime(2026, 3, 2, 21, 59, 50, tzinfo=UTC)
    LimitPeriod.objects.create(group=LoadGroup.objects.get(site=depot), starts="22:00", ends="06:00", limit=20)
    allocated([depot, office], now=now)
    assert load.sites_due(now=now + timedelta(seconds=5)) == set()
    assert load.sites_due(now=now + timedelta(seconds=12)) == {depot.pk}  # 22:00:02: the night limit began
    assert load.sites_due(now=now + load.SAMPLE_EVERY) == {depot.pk, office.pk}


@pytest.mark.parametrize("fraction", [0.1, 0.4, 0.6, 0.9])
def test_the_same_plan_a_moment_later_sends_nothing_whatever_the_fraction_of_a_second(two_sites, fraction):
    depot, *_ = two_sites
    LimitPeriod.objects.create(group=LoadGroup.objects.get(site=depot), starts="22:00", ends="06:00", limit=20)
    first = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC) + timedelta(seconds=fraction)
    assert len(allocated([depot], now=first)) == 2
    for later in (0.3, 0.5, 2.7):
        assert allocated([depot], now=first + timedelta(seconds=later)) == []
    stored = ConnectorAllocation.objects.get(station__site=depot, connector_id=1)
    assert [amps for _, amps in stored.schedule] == [20.0, 10.0]


def test_a_session_stopping_looks_its_site_up_once(two_sites, monkeypatch, django_capture_on_commit_callbacks):
    _, depot_station, *_ = two_sites
    looked_up = []
    original = load.managed_site_of

    def recorded(*, station_id):
        looked_up.append(station_id)
        return original(station_id=station_id)

    monkeypatch.setattr(load, "managed_site_of", recorded)
    with django_capture_on_commit_callbacks() as queued:
        session_stop(station=depot_station, transaction_id="DEPOT-TX-1", meter_stop=1000, stopped_at=timezone.now())
    assert looked_up == [depot_station.pk]
    assert Transaction.objects.get(ocpp_transaction_id="DEPOT-TX-1").status == Transaction.Status.COMPLETED
    assert queued  # the rebalance (and the live board) after the commit

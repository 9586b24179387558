"""An existing database migrates forward with its load-management data: the shares stored before a schedule's
fingerprint was get theirs, so that the first allocation after the upgrade does not send every station its
profile again."""

from datetime import UTC, datetime

import pytest

from smartcharging import load
from smartcharging.models import schedule_fingerprint
from stations.models import Site
from tests.migrating import migrate, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("smartcharging", "0006_driver_charging_needs")
START = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
def migrated_back():
    apps = migrate(BEFORE)
    yield apps
    migrate_to_latest()


def test_stored_schedules_get_the_fingerprint_a_plan_compares_with(make_station, migrated_back):
    site = Site.objects.create(name="Depot")
    station = make_station("CP-1")
    old = migrated_back.get_model("smartcharging", "ConnectorAllocation")
    common = {"site_id": site.pk, "station_id": station.pk, "state": "charging", "current_a": 10.0}
    delivered = [[0, 10.0], [3600, 24.5], [7200, 8.0]]
    old.objects.create(connector_id=1, schedule=delivered, schedule_start=START, delivery="sent", **common)
    old.objects.create(connector_id=2, schedule=[[0, 16.0]], schedule_start=START, delivery="pending", **common)
    old.objects.create(connector_id=3, schedule=[], delivery="sent", **common)

    migrate_to_latest()

    shares = load._shares(site_ids=[site.pk])
    assert shares[(station.pk, 1)].sent_key == schedule_fingerprint(delivered, START.timestamp())
    assert (
        shares[(station.pk, 1)].sent_key
        == f"0:10.0 {round(START.timestamp()) + 3600}:24.5 {round(START.timestamp()) + 7200}:8.0"
    )
    assert shares[(station.pk, 2)].sent_key is None  # not delivered: sent again whatever it holds
    assert shares[(station.pk, 3)].sent_key is None

"""An existing database migrates forward with its data: sessions numbered by the CSMS (OCPP 1.6) become known
by the transaction id their station was handed, and stops still find them."""

from datetime import UTC, datetime

import pytest

from sessions.models import Transaction
from sessions.services import session_stop
from tests.migrating import migrate, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("charging_sessions", "0005_unique_start_key")
AFTER = ("charging_sessions", "0006_station_transaction_ids_and_id_token_types")
STARTED = datetime(2026, 1, 1, 10, tzinfo=UTC)


@pytest.fixture
def migrated_back():
    apps = migrate(BEFORE)
    yield apps
    # Every later migration too (migrating back unapplied them), for the tests that follow.
    migrate_to_latest()


def test_sessions_numbered_by_the_csms_get_their_station_side_id_and_stops_still_find_them(make_station, migrated_back):
    station, other = make_station("CP-1"), make_station("CP-2")
    old = migrated_back.get_model("charging_sessions", "Transaction")
    common = {"connector_id": 1, "meter_start": 1000, "started_at": STARTED}
    numbered = old.objects.create(station_id=station.pk, id_tag="TAG-1", status="active", **common)
    refused = old.objects.create(station_id=station.pk, id_tag="NOBODY", status="refused", stopped_at=STARTED, **common)
    no_tag = old.objects.create(station_id=other.pk, status="active", **common)
    unmatched = old.objects.create(
        station_id=station.pk, status="unmatched", ocpp_transaction_id="99999", connector_id=0, started_at=STARTED
    )
    # A stop for an id the CSMS later gave a session of the same station (stops found that session first).
    clashing = old.objects.create(
        station_id=station.pk,
        status="unmatched",
        ocpp_transaction_id=str(numbered.pk),
        connector_id=0,
        started_at=STARTED,
    )
    # Another station's unmatched stop may use the id freely.
    elsewhere = old.objects.create(
        station_id=other.pk,
        status="unmatched",
        ocpp_transaction_id=str(numbered.pk),
        connector_id=0,
        started_at=STARTED,
    )

    migrate(AFTER)

    ids = dict(Transaction.objects.values_list("pk", "ocpp_transaction_id"))
    assert ids == {
        numbered.pk: str(numbered.pk),
        refused.pk: str(refused.pk),
        no_tag.pk: str(no_tag.pk),
        unmatched.pk: "99999",
        clashing.pk: f"{numbered.pk}#{clashing.pk}",
        elsewhere.pk: str(numbered.pk),
    }
    types = dict(Transaction.objects.values_list("pk", "id_token_type"))
    assert (types[numbered.pk], types[refused.pk], types[no_tag.pk]) == ("ISO14443", "ISO14443", "")
    migrate_to_latest()  # today's services (a stop rebalances its site's load) read today's tables
    stop = session_stop(station=station, transaction_id=str(numbered.pk), meter_stop=1500, stopped_at=STARTED)
    assert (stop.outcome, stop.transaction.pk, stop.transaction.energy_wh) == ("stopped", numbered.pk, 500)


def test_migrating_back_leaves_only_unmatched_stops_with_a_station_side_id(make_station, migrated_back):
    station = make_station("CP-1")
    migrate_to_latest()  # today's model saves through today's signals, which read today's tables
    numbered = Transaction.objects.create(station=station, connector_id=1, meter_start=0, started_at=STARTED)
    unmatched = Transaction.objects.create(
        station=station,
        connector_id=0,
        started_at=STARTED,
        status=Transaction.Status.UNMATCHED,
        ocpp_transaction_id="A-1",
    )
    assert numbered.ocpp_transaction_id == str(numbered.pk)
    old = migrate(BEFORE).get_model("charging_sessions", "Transaction")
    assert dict(old.objects.values_list("pk", "ocpp_transaction_id")) == {numbered.pk: None, unmatched.pk: "A-1"}

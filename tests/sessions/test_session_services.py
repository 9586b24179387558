"""The version-neutral session services called directly: sessions known by the station's transaction id, id
tokens with their type, mid-session updates, the exactly-once rules, and the one hook a stop is announced by."""

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from billing.models import SessionCharge
from sessions.metering import Reading
from sessions.models import MeterSample, Transaction
from sessions.services import (
    PresentedIdToken,
    connector_statuses_record,
    session_start,
    session_stop,
    session_update,
)
from stations.plausibility import ValueRejected

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 1, 1, 10, tzinfo=UTC)
TAG = PresentedIdToken("TAG-1")


def register(at: datetime, wh: float) -> Reading:
    return Reading(at, "Energy.Active.Import.Register", "", "Outlet", "Sample.Periodic", "Wh", wh)


def start(station, **fields):
    values = {"connector_id": 1, "id_token": TAG, "meter_start": 1000, "started_at": START} | fields
    return session_start(station=station, **values)


def stop(station, transaction_id, meter_stop=3000, **fields):
    return session_stop(
        station=station,
        transaction_id=transaction_id,
        meter_stop=meter_stop,
        stopped_at=fields.pop("stopped_at", START + timedelta(hours=1)),
        **fields,
    )


def test_a_session_the_csms_numbers_is_known_to_its_station_by_that_number(station):
    session = start(station).transaction
    assert session.ocpp_transaction_id == str(session.pk)
    assert (session.id_tag, session.id_token_type) == ("TAG-1", "ISO14443")


def test_the_id_token_type_presented_is_kept(station):
    session = start(station, id_token=PresentedIdToken("TAG-1", "eMAID")).transaction
    session.refresh_from_db()
    assert session.id_token_type == "eMAID"


def test_a_start_skips_an_id_an_unmatched_stop_of_its_station_already_holds(station):
    first = start(station).transaction
    # The station stops the transaction the CSMS will number next, from a previous life.
    unmatched = stop(station, str(first.pk + 1)).transaction
    second = start(station, connector_id=2).transaction
    assert second.ocpp_transaction_id == str(second.pk) and second.pk > first.pk + 1
    # A stop for that id still reaches the unmatched stop, and one for the new id the new session.
    assert stop(station, str(first.pk + 1)).outcome == "replayed"
    assert stop(station, second.ocpp_transaction_id).transaction.pk == second.pk
    assert unmatched.status == Transaction.Status.UNMATCHED


def test_a_stop_names_the_session_of_its_own_station_only(station, make_station):
    other = make_station("CP-2")
    session = start(station).transaction
    outcome = stop(other, session.ocpp_transaction_id)
    assert outcome.outcome == "unmatched" and outcome.transaction.station == other
    session.refresh_from_db()
    assert session.status == Transaction.Status.ACTIVE


def test_a_replayed_stop_changes_nothing_and_is_announced_once(station, announced, celery_eager):
    session = start(station).transaction
    first = stop(station, session.ocpp_transaction_id, meter_stop=3000)
    again = stop(station, session.ocpp_transaction_id, meter_stop=9000, reason="Remote")
    assert (first.outcome, again.outcome) == ("stopped", "replayed")
    session.refresh_from_db()
    assert (session.meter_stop, session.energy_wh, session.stop_reason) == (3000, 2000, "Local")
    assert announced == [(session.pk, False)]
    assert SessionCharge.objects.filter(transaction=session).count() == 1


def test_an_unmatched_stop_is_kept_once_and_never_announced(station, announced):
    first = stop(station, "LOST-7", id_token=TAG)
    again = stop(station, "LOST-7", id_token=TAG)
    assert (first.outcome, again.outcome) == ("unmatched", "replayed")
    assert Transaction.objects.get().ocpp_transaction_id == "LOST-7"
    assert announced == []


def test_a_transaction_id_no_station_may_use_is_rejected(station):
    for refused in ("", "x" * 37):
        with pytest.raises(ValueRejected):
            stop(station, refused)
    assert not Transaction.objects.exists()


def test_register_readings_that_disagree_with_meter_start_and_stop_flag_the_session(station):
    session = start(station, meter_start=1000).transaction
    session_update(
        station=station,
        transaction_id=session.ocpp_transaction_id,
        connector_id=1,
        readings=[register(START + timedelta(minutes=30), 25_000)],
    )
    stop(station, session.ocpp_transaction_id, meter_stop=3000)
    session.refresh_from_db()
    assert (session.energy_wh, session.meter_mismatch) == (2000, True)


def test_a_meter_running_backwards_leaves_energy_unknown_and_flags_the_session(station):
    session = start(station, meter_start=5000).transaction
    stop(station, session.ocpp_transaction_id, meter_stop=10)
    session.refresh_from_db()
    assert (session.status, session.energy_wh, session.meter_mismatch) == (Transaction.Status.COMPLETED, None, True)


def test_a_session_update_stores_its_readings_on_the_session_once(station):
    session = start(station).transaction
    readings = [register(START + timedelta(minutes=10), 1500), register(START + timedelta(minutes=20), 2000)]
    for _ in range(2):  # the second one replayed
        assert (
            session_update(
                station=station, transaction_id=session.ocpp_transaction_id, connector_id=1, readings=readings
            )
            == session
        )
    assert [sample.value for sample in MeterSample.objects.filter(transaction=session)] == [1500, 2000]
    stop(station, session.ocpp_transaction_id, meter_stop=2500)
    session.refresh_from_db()
    assert (session.energy_wh, session.meter_mismatch) == (1500, False)


def test_a_session_update_for_a_connector_the_station_lacks_is_rejected(station):
    session = start(station).transaction
    with pytest.raises(ValueRejected):
        session_update(
            station=station, transaction_id=session.ocpp_transaction_id, connector_id=33, readings=[register(START, 1)]
        )
    assert not MeterSample.objects.exists()


def test_a_refused_start_is_never_announced_nor_priced(station, announced, celery_eager):
    refused = start(station, id_token=PresentedIdToken("NOBODY")).transaction
    assert refused.status == Transaction.Status.REFUSED
    assert stop(station, refused.ocpp_transaction_id, meter_stop=1200).outcome == "refused"
    assert announced == [] and not SessionCharge.objects.exists()


def test_a_session_left_open_is_announced_as_an_estimate_and_its_late_stop_as_the_station_s(
    station, announced, celery_eager
):
    session = start(station).transaction
    connector_statuses_record(
        reports=[
            {
                "station": station,
                "connector_id": 1,
                "status": "Available",
                "error_code": "NoError",
                "timestamp": START + timedelta(minutes=40),
            }
        ]
    )
    # Billing waits for its grace before pricing an estimate: nothing priced yet.
    assert not SessionCharge.objects.exists()
    late = stop(station, session.ocpp_transaction_id, meter_stop=2600, stopped_at=START + timedelta(minutes=35))
    assert late.outcome == "reconciled"
    assert announced == [(session.pk, True), (session.pk, False)]
    assert SessionCharge.objects.filter(transaction=session).count() == 1


def test_the_session_services_import_nothing_from_billing():
    tree = ast.parse(Path("sessions/services.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    assert not [name for name in imported if name and name.split(".")[0] == "billing"]

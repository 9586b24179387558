"""The rules for what a station sends (see the table in ``sessions.services``), proven on the services.

The pure rules for values are in test_reading_values.py; the OCPP 1.6 wire tests
(tests/ocpp/test_v16_bad_values.py) prove only the translation to CALLERRORs.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import IdToken
from billing.models import SessionCharge
from billing.services.pricing import sessions_price_missing
from sessions.anomalies import anomaly_codes
from sessions.metering import Reading, readings_parse
from sessions.models import MeterSample, Transaction
from sessions.services import (
    MeterValuesReport,
    PresentedIdToken,
    connector_statuses_record,
    meter_values_record_many,
    session_start,
    session_stop,
)
from stations.models import ConfigurationKey, Connector
from stations.plausibility import ValueRejected
from stations.protocol.v16.metering import station_transaction_id

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 1, 1, 10, tzinfo=UTC)
RECEIVED = datetime(2026, 1, 1, 10, 0, 3, tzinfo=UTC)


def start(station, id_tag="TAG-1", connector_id=1, meter_start=1000, started_at=START, **fields):
    return session_start(
        station=station,
        connector_id=connector_id,
        id_token=PresentedIdToken(id_tag),
        meter_start=meter_start,
        started_at=started_at,
        **fields,
    )


def register(at: datetime, wh: float) -> Reading:
    return Reading(at, "Energy.Active.Import.Register", "", "Outlet", "Sample.Periodic", "Wh", wh)


def status(station, connector_id=1, value="Available", at=None):
    return connector_statuses_record(
        reports=[
            {
                "station": station,
                "connector_id": connector_id,
                "status": value,
                "error_code": "NoError",
                "timestamp": at,
            }
        ]
    )[0]


@pytest.fixture
def station(make_station):
    return make_station("CP-1")


# Defect 3: the replay key is everything the station sent.


def test_another_id_tag_in_the_same_second_gets_its_own_answer_and_transaction(station):
    IdToken.objects.create(token="BLOCKED-1", status=IdToken.Status.BLOCKED)
    IdToken.objects.create(token="GOOD-1")
    IdToken.objects.create(token="OLD-1", expires_at=START - timedelta(days=1))
    answers = {tag: start(station, id_tag=tag) for tag in ("BLOCKED-1", "GOOD-1", "OLD-1", "NOBODY")}
    assert {tag: answer.authorization.status for tag, answer in answers.items()} == {
        "BLOCKED-1": "Blocked",
        "GOOD-1": "Accepted",
        "OLD-1": "Expired",
        "NOBODY": "Invalid",
    }
    assert len({answer.transaction.pk for answer in answers.values()}) == 4
    assert not any(answer.replayed for answer in answers.values())
    # Each replayed gets its own first answer again, and nothing new is stored.
    for tag, answer in answers.items():
        replay = start(station, id_tag=tag)
        assert (replay.replayed, replay.transaction.pk, replay.authorization.status) == (
            True,
            answer.transaction.pk,
            answer.authorization.status,
        )
    assert Transaction.objects.count() == 4


def test_a_different_reservation_or_meter_start_is_another_start(station):
    IdToken.objects.create(token="TAG-1")
    first = start(station)
    assert start(station, reservation_id=7).transaction.pk != first.transaction.pk
    assert start(station, meter_start=1001).transaction.pk != first.transaction.pk


# Defect 10: refused starts, ConcurrentTx, sessions left open.


def test_a_refused_start_is_stored_refused_and_never_open(station):
    refused = start(station, id_tag="NOBODY").transaction
    refused.refresh_from_db()
    assert (refused.status, refused.stopped_at, refused.authorization_status) == (
        Transaction.Status.REFUSED,
        refused.started_at,
        "Invalid",
    )


def test_concurrent_tx_counts_only_accepted_open_sessions(station, make_station):
    IdToken.objects.create(token="TAG-1")
    other = make_station("CP-2")
    charging = start(other, meter_start=0)
    assert charging.authorization.status == "Accepted"
    # Refused twice while it charges elsewhere: neither refusal locks the tag.
    assert start(station, connector_id=1).authorization.status == "ConcurrentTx"
    assert start(station, connector_id=2).authorization.status == "ConcurrentTx"
    assert Transaction.objects.filter(status=Transaction.Status.REFUSED).count() == 2
    session_stop(
        station=other, transaction_id=charging.transaction.ocpp_transaction_id, meter_stop=500, stopped_at=START
    )
    assert start(station, connector_id=1, meter_start=5).authorization.status == "Accepted"


def test_an_accepted_start_on_a_connector_closes_the_session_left_open_there(station, celery_eager):
    IdToken.objects.create(token="TAG-1")
    lost = start(station, meter_start=1000).transaction
    meter_values_record_many(
        reports=[
            MeterValuesReport(
                station, 1, [register(START + timedelta(minutes=20), 3500)], transaction_id=lost.ocpp_transaction_id
            )
        ]
    )
    # The station lost the transaction and starts again with the same tag: no ConcurrentTx on its own connector.
    again = start(station, meter_start=4000, started_at=START + timedelta(minutes=30))
    assert again.authorization.status == "Accepted"
    lost.refresh_from_db()
    assert (lost.status, lost.stopped_at, lost.meter_stop, lost.energy_wh) == (
        Transaction.Status.COMPLETED,
        START + timedelta(minutes=30),
        3500,
        2500,
    )
    assert anomaly_codes(lost) == ["superseded_by_start"]
    assert Transaction.objects.get(pk=again.transaction.pk).status == Transaction.Status.ACTIVE
    # An estimate: priced once the station had its chance to send the real stop, not before.
    assert not SessionCharge.objects.filter(transaction=lost).exists()
    assert sessions_price_missing(now=timezone.now() + timedelta(minutes=29)) == 0
    assert sessions_price_missing(now=timezone.now() + timedelta(minutes=31)) == 1
    assert SessionCharge.objects.get(transaction=lost).energy_wh == 2500


def test_an_older_start_replayed_from_the_queue_does_not_close_the_session_after_it(station):
    IdToken.objects.create(token="TAG-1")
    IdToken.objects.create(token="TAG-2")
    newer = start(station, id_tag="TAG-2", started_at=START + timedelta(hours=1)).transaction
    start(station, id_tag="TAG-1", started_at=START)
    newer.refresh_from_db()
    assert (newer.status, newer.anomalies) == (Transaction.Status.ACTIVE, [])


def test_a_refused_start_does_not_close_the_session_open_on_its_connector(station):
    IdToken.objects.create(token="TAG-1")
    open_session = start(station).transaction
    start(station, id_tag="NOBODY")
    open_session.refresh_from_db()
    assert open_session.status == Transaction.Status.ACTIVE


def test_a_late_stop_whose_pricing_was_never_queued_is_priced_by_the_next_sweep(station):
    """No eager Celery here: the stop's own pricing task is never run, as with a broker down at the stop."""
    IdToken.objects.create(token="TAG-1")
    session = start(station, meter_start=1000).transaction
    status(station, at=START + timedelta(minutes=40))
    session_stop(
        station=station,
        transaction_id=session.ocpp_transaction_id,
        meter_stop=2600,
        stopped_at=START + timedelta(minutes=35),
    )
    assert sessions_price_missing(settle_seconds=0) == 1  # the station's stop, not an estimate: no grace
    assert SessionCharge.objects.get(transaction=session).energy_wh == 1600


def test_available_closes_a_session_left_open_and_a_late_stop_reconciles_it_priced_once(station, celery_eager):
    IdToken.objects.create(token="TAG-1")
    session = start(station, meter_start=1000).transaction
    meter_values_record_many(
        reports=[
            MeterValuesReport(
                station, 1, [register(START + timedelta(minutes=10), 2000)], transaction_id=session.ocpp_transaction_id
            )
        ]
    )
    status(station, at=START + timedelta(minutes=40))
    session.refresh_from_db()
    assert (session.status, session.stopped_at, session.energy_wh) == (
        Transaction.Status.COMPLETED,
        START + timedelta(minutes=40),
        1000,
    )
    assert anomaly_codes(session) == ["closed_by_status"]
    assert not SessionCharge.objects.filter(transaction=session).exists()  # the estimate waits for a late stop

    late = session_stop(
        station=station,
        transaction_id=session.ocpp_transaction_id,
        meter_stop=2600,
        stopped_at=START + timedelta(minutes=35),
        received_at=RECEIVED + timedelta(hours=1),
    )
    assert late.outcome == "reconciled"
    session.refresh_from_db()
    assert (session.meter_stop, session.energy_wh, session.stopped_at) == (2600, 1600, START + timedelta(minutes=35))
    assert anomaly_codes(session) == ["closed_by_status", "late_stop"]
    replay = session_stop(
        station=station,
        transaction_id=session.ocpp_transaction_id,
        meter_stop=2600,
        stopped_at=START + timedelta(minutes=35),
    )
    assert replay.outcome == "replayed"
    # Priced once, with the station's own figures; the sweep after the grace adds nothing.
    assert SessionCharge.objects.get(transaction=session).energy_wh == 1600
    assert sessions_price_missing(now=timezone.now() + timedelta(hours=1)) == 0
    assert SessionCharge.objects.filter(transaction=session).count() == 1
    assert Transaction.objects.count() == 1


def test_an_available_older_than_the_session_does_not_close_it(station):
    IdToken.objects.create(token="TAG-1")
    session = start(station).transaction
    status(station, at=START - timedelta(minutes=5))  # from the station's offline queue
    status(station, connector_id=2, at=START + timedelta(minutes=5))  # another connector
    session.refresh_from_db()
    assert session.status == Transaction.Status.ACTIVE


def test_a_stop_for_a_refused_start_is_recorded_and_it_stays_refused(station, celery_eager):
    refused = start(station, id_tag="NOBODY").transaction
    stop = session_stop(
        station=station,
        transaction_id=refused.ocpp_transaction_id,
        meter_stop=1200,
        stopped_at=START + timedelta(minutes=2),
    )
    assert stop.outcome == "refused"
    refused.refresh_from_db()
    assert (refused.status, refused.meter_stop, refused.energy_wh) == (Transaction.Status.REFUSED, 1200, 200)
    assert not SessionCharge.objects.exists()


def test_meter_values_for_an_unknown_transaction_are_kept_on_an_unmatched_session_its_stop_completes(station):
    IdToken.objects.create(token="TAG-1")
    first = [register(START + timedelta(minutes=10), 1500)]
    second = [register(START + timedelta(minutes=20), 2500)]
    for readings in (first, second, second):  # the second one replayed
        meter_values_record_many(reports=[MeterValuesReport(station, 2, readings, transaction_id="4711")])
    unknown = Transaction.objects.get()
    assert (unknown.status, unknown.ocpp_transaction_id, unknown.connector_id, anomaly_codes(unknown)) == (
        Transaction.Status.UNMATCHED,
        "4711",
        2,
        ["unknown_transaction"],
    )
    assert (unknown.started_at, unknown.stopped_at) == (START + timedelta(minutes=10), START + timedelta(minutes=20))
    stop = session_stop(
        station=station,
        transaction_id="4711",
        meter_stop=3000,
        stopped_at=START + timedelta(hours=1),
        id_token=PresentedIdToken("TAG-1"),
    )
    assert (stop.outcome, stop.transaction.pk) == ("unmatched", unknown.pk)
    unknown.refresh_from_db()
    assert (unknown.meter_stop, unknown.energy_wh, unknown.stopped_at, unknown.id_tag) == (
        3000,
        1500,
        START + timedelta(hours=1),
        "TAG-1",
    )
    again = session_stop(station=station, transaction_id="4711", meter_stop=3000, stopped_at=START + timedelta(hours=1))
    assert again.outcome == "replayed"
    assert Transaction.objects.count() == 1 and MeterSample.objects.filter(transaction=unknown).count() == 2


def test_meter_values_naming_a_transaction_id_no_station_may_use_are_rejected(station):
    outcome = meter_values_record_many(
        reports=[MeterValuesReport(station, 1, [register(START, 5)], transaction_id="7" * 37)]
    )
    assert isinstance(outcome[0], ValueRejected) and not MeterSample.objects.exists()


def test_a_16_transaction_id_beyond_any_is_rejected_in_its_translation():
    """A 1.6 transactionId is an integer the CSMS handed out (a bigint key): a larger one names no session."""
    assert station_transaction_id(2**63 - 1) == str(2**63 - 1)
    with pytest.raises(ValueRejected) as rejected:
        station_transaction_id(2**64)
    assert rejected.value.path == "/transactionId"


# Defect 2: implausible timestamps.


@pytest.mark.parametrize(
    "sent",
    [
        datetime(2099, 1, 1, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
        RECEIVED + timedelta(minutes=6),
    ],
)
def test_an_implausible_start_time_becomes_the_receipt_time_and_the_replay_still_matches(station, sent):
    IdToken.objects.create(token="TAG-1")
    first = start(station, started_at=sent, received_at=RECEIVED)
    assert first.authorization.status == "Accepted"
    session = Transaction.objects.get()
    assert session.started_at == RECEIVED
    assert anomaly_codes(session) == ["start_clamped"] and sent.isoformat() in session.anomalies[0]["detail"]
    replay = start(station, started_at=sent, received_at=RECEIVED + timedelta(minutes=3))
    assert (replay.replayed, replay.transaction.pk) == (True, session.pk)


def test_a_start_a_little_ahead_of_the_csms_clock_is_kept(station):
    IdToken.objects.create(token="TAG-1")
    start(station, started_at=RECEIVED + timedelta(minutes=4), received_at=RECEIVED)
    assert Transaction.objects.get().anomalies == []


@pytest.mark.parametrize(
    "sent", [START - timedelta(minutes=1), datetime(1970, 1, 1, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC)]
)
def test_an_implausible_stop_time_becomes_the_receipt_time(station, sent, celery_eager):
    IdToken.objects.create(token="TAG-1")
    session = start(station, meter_start=0).transaction
    session_stop(
        station=station,
        transaction_id=session.ocpp_transaction_id,
        meter_stop=100,
        stopped_at=sent,
        received_at=RECEIVED + timedelta(hours=1),
    )
    session.refresh_from_db()
    assert (session.stopped_at, session.energy_wh, anomaly_codes(session)) == (
        RECEIVED + timedelta(hours=1),
        100,
        ["stop_clamped"],
    )


def test_readings_at_implausible_times_are_dropped_flagged_and_still_update_the_live_values(station):
    IdToken.objects.create(token="TAG-1")
    session = start(station, meter_start=0).transaction
    readings = [register(datetime(1970, 1, 1, tzinfo=UTC), 700), register(START + timedelta(minutes=1), 50)]
    received = timezone.now()
    meter_values_record_many(
        reports=[MeterValuesReport(station, 1, readings, transaction_id=session.ocpp_transaction_id)],
        received_at=received,
    )
    assert [sample.value for sample in MeterSample.objects.all()] == [50]
    session.refresh_from_db()
    assert anomaly_codes(session) == ["reading_time_discarded"]
    connector = Connector.objects.get(station=station, connector_id=1)
    assert (connector.measured_at, connector.energy_register_wh) == (received, 700)


# Defect 7: values no meter shows, connectors the station does not have.


@pytest.mark.parametrize("meter_start", [-100, 2**63, 2**31 * 10**6])
def test_a_meter_start_no_meter_shows_is_rejected_and_nothing_stored(station, meter_start):
    with pytest.raises(ValueRejected) as rejected:
        start(station, meter_start=meter_start)
    assert rejected.value.path == "/meterStart"
    assert not Transaction.objects.exists()


@pytest.mark.parametrize("connector_id", [0, -1, 2**31, 33])
def test_a_start_on_a_connector_the_station_cannot_have_is_rejected(station, connector_id):
    with pytest.raises(ValueRejected) as rejected:
        start(station, connector_id=connector_id)
    assert rejected.value.path == "/connectorId"
    assert not Transaction.objects.exists() and not Connector.objects.exists()


def test_the_station_s_number_of_connectors_bounds_every_message(station):
    ConfigurationKey.objects.create(
        station=station, key="NumberOfConnectors", value="2", readonly=True, reported_at=START
    )
    with pytest.raises(ValueRejected):
        start(station, connector_id=3)
    outcome = meter_values_record_many(
        reports=[
            MeterValuesReport(station, 7, [register(START, 5)]),
            MeterValuesReport(station, 2, [register(START, 6)]),
        ]
    )
    assert isinstance(outcome[0], ValueRejected) and outcome[1] is None
    assert isinstance(status(station, connector_id=7), ValueRejected)
    assert sorted(Connector.objects.values_list("connector_id", flat=True)) == [2]
    assert [sample.connector_id for sample in MeterSample.objects.all()] == [2]


def test_connectors_0_and_1_are_every_station_s_so_their_messages_read_no_bounds(station):
    """Most of the hot path is one-connector stations: their readings and statuses must not pay for the bounds."""
    ConfigurationKey.objects.create(
        station=station, key="NumberOfConnectors", value="1", readonly=True, reported_at=START
    )
    with CaptureQueriesContext(connection) as queries:
        connector_1, station_meter = [MeterValuesReport(station, n, [register(START, 5 + n)]) for n in (1, 0)]
        outcome = meter_values_record_many(reports=[connector_1, station_meter])
        statuses = [status(station, connector_id=0), status(station, connector_id=1)]
    assert outcome == [None, None] and not any(isinstance(answer, ValueRejected) for answer in statuses)
    assert not [query for query in queries if ConfigurationKey._meta.db_table in query["sql"]]
    assert sorted(MeterSample.objects.values_list("connector_id", flat=True)) == [0, 1]
    # A higher id is still checked against what the station reported.
    beyond = meter_values_record_many(reports=[MeterValuesReport(station, 2, [register(START, 7)])])
    assert isinstance(beyond[0], ValueRejected)


def test_a_meter_stop_no_meter_shows_is_replaced_by_the_last_register_reading(station, celery_eager):
    IdToken.objects.create(token="TAG-1")
    session = start(station, meter_start=1000).transaction
    stop = session_stop(
        station=station,
        transaction_id=session.ocpp_transaction_id,
        meter_stop=2**63,
        stopped_at=START + timedelta(hours=1),
        readings=[register(START + timedelta(minutes=50), 4000)],
    )
    assert stop.outcome == "stopped"
    session.refresh_from_db()
    assert (session.meter_stop, session.energy_wh, anomaly_codes(session)) == (4000, 3000, ["meter_stop_discarded"])


def test_transaction_data_values_refused_are_flagged_and_the_stop_accepted(station, celery_eager):
    IdToken.objects.create(token="TAG-1")
    session = start(station, meter_start=0).transaction
    readings, rejected = readings_parse([(START + timedelta(minutes=5), [{"value": "NaN"}, {"value": "120"}])])
    session_stop(
        station=station,
        transaction_id=session.ocpp_transaction_id,
        meter_stop=200,
        stopped_at=START + timedelta(hours=1),
        readings=readings,
        rejected_readings=rejected,
    )
    session.refresh_from_db()
    assert (session.status, session.energy_wh, anomaly_codes(session)) == (
        Transaction.Status.COMPLETED,
        200,
        ["reading_discarded"],
    )
    assert [sample.value for sample in MeterSample.objects.all()] == [120]


def test_the_station_page_shows_refused_starts_and_flagged_sessions(station, client, operator_admin):
    IdToken.objects.create(token="TAG-1")
    start(station, id_tag="NOBODY")
    start(station, started_at=datetime(2099, 1, 1, tzinfo=UTC), received_at=RECEIVED)
    client.force_login(operator_admin)
    html = client.get("/operator/stations/CP-1/").content.decode()
    assert "refused (Invalid)" in html
    assert "flagged" in html and "start_clamped: timestamp 2099-01-01T00:00:00+00:00" in html

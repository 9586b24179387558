"""Session services called directly, where a race or a replay is easier to stage than over a socket."""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection

from accounts.models import IdToken
from sessions.models import Transaction
from sessions.services import PresentedIdToken, session_start, session_stop

pytestmark = pytest.mark.django_db(transaction=True)

STARTED = datetime(2026, 1, 1, 10, tzinfo=UTC)
TAG = PresentedIdToken("TAG-1")


def test_the_same_start_racing_on_two_threads_makes_one_session(make_station):
    station = make_station("CP-1")
    IdToken.objects.create(token="TAG-1")
    barrier = threading.Barrier(4)
    results = []

    def start():
        try:
            barrier.wait()
            results.append(
                session_start(station=station, connector_id=1, id_token=TAG, meter_start=10, started_at=STARTED)
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({result.transaction.pk for result in results}) == 1
    assert sorted(result.replayed for result in results) == [False, True, True, True]
    assert {result.authorization.status for result in results} == {"Accepted"}
    assert Transaction.objects.count() == 1


def test_replayed_start_answers_what_the_first_start_was_told(make_station):
    station = make_station("CP-1")
    IdToken.objects.create(token="TAG-1")
    first = session_start(station=station, connector_id=1, id_token=TAG, meter_start=10, started_at=STARTED)
    # Asked again now, the rules would say ConcurrentTx: the replay must not.
    replay = session_start(station=station, connector_id=1, id_token=TAG, meter_start=10, started_at=STARTED)
    assert (first.authorization.status, replay.authorization.status) == ("Accepted", "Accepted")
    assert replay.replayed and replay.transaction.pk == first.transaction.pk


def test_replayed_unknown_stop_is_recognised(make_station):
    station = make_station("CP-1")
    first = session_stop(station=station, transaction_id="77", meter_stop=100, stopped_at=STARTED)
    again = session_stop(station=station, transaction_id="77", meter_stop=100, stopped_at=STARTED)
    assert (first.outcome, again.outcome) == ("unmatched", "replayed")
    assert first.transaction.pk == again.transaction.pk


@pytest.fixture
def tasks_run_in_process():
    from cms.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


def test_a_stopped_session_is_priced_by_billing(make_station, tasks_run_in_process):
    from billing.models import SessionCharge

    station = make_station("CP-1")
    IdToken.objects.create(token="TAG-1")
    started = session_start(station=station, connector_id=1, id_token=TAG, meter_start=10, started_at=STARTED)
    station_tx_id = started.transaction.ocpp_transaction_id
    session_stop(station=station, transaction_id=station_tx_id, meter_stop=5010, stopped_at=STARTED)
    session_stop(station=station, transaction_id=station_tx_id, meter_stop=5010, stopped_at=STARTED)
    assert SessionCharge.objects.filter(transaction=started.transaction).count() == 1

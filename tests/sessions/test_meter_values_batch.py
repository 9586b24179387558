"""MeterValues of many stations stored at once (the OCPP layer's group commit), with the same rules as one by one."""

from datetime import UTC, datetime, timedelta

import pytest

from sessions.metering import Reading
from sessions.models import MeterSample, Transaction
from sessions.services import MeterValuesReport, PresentedIdToken, meter_values_record_many, session_start
from stations.models import Connector
from stations.services import Measurement, connectors_measurements_update

pytestmark = pytest.mark.django_db(transaction=True)

T1 = datetime(2026, 1, 1, 10, tzinfo=UTC)
T2 = T1 + timedelta(minutes=1)
T0 = T1 - timedelta(minutes=1)


def power(moment, watts, measurand="Power.Active.Import"):
    return Reading(moment, measurand, "", "Outlet", "Sample.Periodic", "W", watts)


def live(station, connector_id=1):
    connector = Connector.objects.get(station=station, connector_id=connector_id)
    return connector.measured_at, connector.power_w, connector.soc_percent, connector.energy_register_wh


def test_measurements_of_one_connector_in_one_batch_end_as_if_applied_in_turn(make_station):
    station = make_station("CP-1")
    applied = connectors_measurements_update(
        measurements=[
            Measurement(station, 1, T1, power_w=7000),
            Measurement(station, 1, T2, soc_percent=55.0),
            Measurement(station, 1, T0, power_w=1, energy_register_wh=1),  # older than what came before: ignored
        ]
    )
    assert [m.measured_at for m in applied] == [T1, T2]
    assert live(station) == (T2, 7000, 55.0, None)


def test_a_batch_creates_new_connectors_and_ignores_measurements_older_than_known(make_station):
    first, second = make_station("CP-1"), make_station("CP-2")
    connectors_measurements_update(measurements=[Measurement(first, 1, T2, power_w=11000)])
    applied = connectors_measurements_update(
        measurements=[
            Measurement(first, 1, T1, power_w=3),  # a replay from the station's offline queue
            Measurement(second, 2, T1, power_w=3700, energy_register_wh=12_000),
            Measurement(second, 3, T1),  # nothing measured: nothing to apply
        ]
    )
    assert [(m.station.ocpp_id, m.connector_id) for m in applied] == [("CP-2", 2)]
    assert live(first) == (T2, 11000, None, None)
    assert live(second, 2) == (T1, 3700, None, 12_000)
    assert not Connector.objects.filter(station=second, connector_id=3).exists()


def test_reports_of_many_stations_are_stored_each_on_its_own_session(make_station):
    first, second = make_station("CP-1"), make_station("CP-2")
    session = session_start(
        station=first, connector_id=1, id_token=PresentedIdToken("TAG-1"), meter_start=0, started_at=T0
    ).transaction
    sessions = meter_values_record_many(
        reports=[
            MeterValuesReport(first, 1, [power(T1, 7000)], transaction_id=session.ocpp_transaction_id),
            # The other station names a session that is not its own: kept on an unmatched session of its own.
            MeterValuesReport(second, 1, [power(T1, 3000)], transaction_id=session.ocpp_transaction_id),
            MeterValuesReport(second, 2, [power(T1, 1000), power(T1, 1000)]),
        ]
    )
    unknown = Transaction.objects.get(station=second, status=Transaction.Status.UNMATCHED)
    assert sessions == [session, unknown, None]
    stored = sorted(MeterSample.objects.values_list("station__ocpp_id", "connector_id", "transaction_id", "value"))
    assert stored == [("CP-1", 1, session.pk, 7000), ("CP-2", 1, unknown.pk, 3000), ("CP-2", 2, None, 1000)]
    assert [live(first)[1], live(second, 1)[1], live(second, 2)[1]] == [7000, 3000, 1000]


def test_a_replayed_batch_adds_no_sample(make_station):
    station = make_station("CP-1")
    reports = [MeterValuesReport(station, 1, [power(T1, 7000), power(T1, 230, "Voltage")])]
    meter_values_record_many(reports=reports)
    meter_values_record_many(reports=reports)
    assert MeterSample.objects.count() == 2
    assert Transaction.objects.count() == 0

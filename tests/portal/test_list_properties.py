"""Properties of the list reads over random networks: the station status filters split the network as the
overview counts it, and the session totals are the sums of the sessions found."""

from datetime import UTC, datetime, timedelta

from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessions.models import Transaction
from sessions.selectors import sessions_for_staff, sessions_totals
from stations.models import Connector, Station
from stations.selectors import network_status, stations_list

STATUSES = ["Available", "Charging", "Faulted", "Unavailable"]
PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class _Rollback(Exception):
    """Each example's rows go away with its transaction."""


def _in_rollback(check):
    try:
        with transaction.atomic():
            check()
            raise _Rollback
    except _Rollback:
        pass


@PROPERTY
@given(st.lists(st.tuples(st.booleans(), st.lists(st.sampled_from(STATUSES), max_size=3)), max_size=8))
def test_online_offline_and_faulted_split_the_network_as_the_overview_counts_it(db, stations):
    def check():
        for number, (online, statuses) in enumerate(stations):
            station = Station.objects.create(ocpp_id=f"P-{number}", is_online=online)
            for connector_id, status in enumerate(statuses, start=1):
                Connector.objects.create(station=station, connector_id=connector_id, status=status)
        every = set(stations_list().values_list("pk", flat=True))
        online = set(stations_list(status="online").values_list("pk", flat=True))
        offline = set(stations_list(status="offline").values_list("pk", flat=True))
        faulted = set(stations_list(status="faulted").values_list("pk", flat=True))
        assert online | offline == every and not online & offline
        assert faulted <= online
        overview = network_status()
        assert (len(every), len(online), len(faulted)) == (overview.stations, overview.online, overview.faulted)

    _in_rollback(check)


@PROPERTY
@given(
    st.lists(
        st.tuples(st.sampled_from(["active", "completed", "unmatched"]), st.integers(0, 200_000), st.integers(0, 96)),
        max_size=12,
    ),
    st.sampled_from(["", "active", "finished"]),
)
def test_the_totals_are_the_sums_of_the_sessions_found(db, sessions, status_filter):
    def check():
        station = Station.objects.create(ocpp_id="P-TOTALS")
        start = datetime(2026, 1, 1, tzinfo=UTC)
        for number, (status, energy_wh, hours) in enumerate(sessions):
            Transaction.objects.create(
                station=station,
                connector_id=1,
                ocpp_transaction_id=f"T-{number}",
                started_at=start + timedelta(hours=hours),
                status=status,
                energy_wh=None if status == "active" else energy_wh,
            )
        found = sessions_for_staff(status=status_filter)
        totals = sessions_totals(found)
        rows = list(found)
        assert totals.sessions == len(rows)
        assert totals.active == sum(1 for row in rows if row.status == "active")
        assert totals.energy_wh == sum(row.energy_wh or 0 for row in rows)
        if status_filter == "finished":
            assert totals.active == 0

    _in_rollback(check)

"""Time partitions of meter samples, status events and the frame log (cms/partitions.py): periods tile time,
the migrations left each table partitioned with its indexes and constraints, a row no partition covers is kept
and later moved into a partition of its own, retention drops whole days, and the conversion is reversible."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from cms.partitions import (
    DAY,
    MONTH,
    TABLES,
    default_partition_name,
    partition_name,
    partitioned_table,
    partitions_ensure,
    period_after,
    period_start,
    table_partition,
    table_unpartition,
)
from cms.tasks import ensure_partitions
from stations.models import ConnectorStatusEvent, OcppMessage

moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
) | st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.timezones())


@given(moment=moments, period=st.sampled_from([MONTH, DAY]))
def test_a_moment_lies_in_exactly_the_period_its_start_names(moment, period):
    start = period_start(moment, period)
    end = period_after(start, period)
    assert start <= moment < end
    assert start.tzinfo == UTC and (start.hour, start.minute, start.second, start.microsecond) == (0, 0, 0, 0)
    assert period_start(end, period) == end  # the next period begins where this one ends: no gap, no overlap
    assert period_start(end - timedelta(microseconds=1), period) == start
    if period == MONTH:
        assert start.day == 1 and 28 <= (end - start).days <= 31
    else:
        assert end - start == timedelta(days=1)


def where(table: str, pk: int) -> str:
    """The partition holding row ``pk`` of ``table``."""
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT tableoid::regclass::text FROM "{table}" WHERE id = %s', [pk])
        return cursor.fetchone()[0]


def immediate_foreign_key_checks() -> None:
    """Run the deferred foreign-key checks of this test's rows now: PostgreSQL refuses to drop or truncate a table
    with checks pending in the transaction (in production the rows were committed long before)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def partitions_of(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass", [table])
        return {name for (name,) in cursor.fetchall()}


def definitions_of(table: str) -> dict[str, str]:
    """Constraint and index names of ``table`` -> their definitions."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass"
            " UNION SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s",
            [table, table],
        )
        return dict(cursor.fetchall())


@pytest.mark.django_db
@pytest.mark.parametrize("spec", TABLES, ids=lambda spec: spec.table)
def test_each_large_table_is_partitioned_with_a_default_and_the_coming_periods(spec):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_partkeydef(partrelid) FROM pg_partitioned_table WHERE partrelid = %s::regclass", [spec.table]
        )
        assert cursor.fetchone()[0].replace('"', "") == f"RANGE ({spec.column})"
    start = period_start(timezone.now(), spec.period)
    coming = [start]
    for _ in range(spec.ahead):
        coming.append(period_after(coming[-1], spec.period))
    assert {default_partition_name(spec), *(partition_name(spec, s) for s in coming)} <= partitions_of(spec.table)
    assert partitions_ensure() == []  # nothing missing: it is idempotent
    assert ensure_partitions() == 0


@pytest.mark.django_db
def test_a_status_event_from_long_ago_is_kept_then_moved_into_its_own_partition(make_station):
    station = make_station("CP-OLD")
    long_ago = timezone.now() - timedelta(days=800)
    event = ConnectorStatusEvent.objects.create(station=station, connector_id=1, status="Faulted", timestamp=long_ago)
    spec = partitioned_table(ConnectorStatusEvent._meta.db_table)
    assert where(spec.table, event.pk) == default_partition_name(spec)

    immediate_foreign_key_checks()
    assert partitions_ensure() == [partition_name(spec, period_start(long_ago, MONTH))]
    assert where(spec.table, event.pk) == partition_name(spec, period_start(long_ago, MONTH))
    with connection.cursor() as cursor:  # emptied for real, not left full of dead rows for every read to walk
        cursor.execute("SELECT pg_relation_size(%s)", [default_partition_name(spec)])
        assert cursor.fetchone()[0] == 0
    assert ConnectorStatusEvent.objects.get(pk=event.pk).timestamp == long_ago
    # A replay of the same notification is still refused by the unique constraint, across the partitions.
    with pytest.raises(IntegrityError), transaction.atomic():
        ConnectorStatusEvent.objects.create(station=station, connector_id=1, status="Faulted", timestamp=long_ago)
    # Rows in partitions go with their station (the foreign keys hold on partitioned tables).
    station.delete()
    assert not ConnectorStatusEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db
def test_retention_drops_whole_days_of_the_frame_log_and_deletes_the_rest(make_station, settings):
    from stations.tasks import purge_ocpp_messages

    settings.CMS_OCPP_MESSAGE_RETENTION_DAYS = 7
    station = make_station("CP-1")
    now = timezone.now()
    ages = (0, 1, 6, 7, 8, 30, 400)
    OcppMessage.objects.bulk_create(
        OcppMessage(
            station=station, direction="in", unique_id=str(age), created_at=now - timedelta(days=age, minutes=1)
        )
        for age in ages
    )
    spec = partitioned_table(OcppMessage._meta.db_table)
    immediate_foreign_key_checks()
    partitions_ensure()
    day_of = {age: partition_name(spec, period_start(now - timedelta(days=age, minutes=1), DAY)) for age in ages}
    assert set(day_of.values()) <= partitions_of(spec.table)

    assert purge_ocpp_messages() == 4
    assert sorted(int(uid) for uid in OcppMessage.objects.values_list("unique_id", flat=True)) == [0, 1, 6]
    left = partitions_of(spec.table)
    assert {day_of[8], day_of[30], day_of[400]}.isdisjoint(left), "old days were not dropped whole"
    assert {day_of[0], day_of[1], day_of[6], day_of[7]} <= left  # the day the cutoff falls in: row by row


@pytest.mark.django_db
def test_the_conversion_is_reversible_and_keeps_rows_ids_and_names(make_station):
    station = make_station("CP-1")
    frames = OcppMessage.objects.bulk_create(
        OcppMessage(station=station, direction="in", unique_id=str(n), created_at=timezone.now()) for n in range(3)
    )
    spec = partitioned_table(OcppMessage._meta.db_table)
    partitioned = definitions_of(spec.table)
    with connection.cursor() as cursor:  # DDL is transactional: the test's rollback undoes all of it
        immediate_foreign_key_checks()
        table_unpartition(spec, cursor)
        plain = definitions_of(spec.table)
        assert partitions_of(spec.table) == set()
        assert set(plain) == set(partitioned) and "PRIMARY KEY (id)" in plain.values()
        assert sorted(OcppMessage.objects.values_list("pk", flat=True)) == [f.pk for f in frames]
        table_partition(spec, cursor)
    assert definitions_of(spec.table) == partitioned
    assert "PRIMARY KEY (id, created_at)" in partitioned.values()
    assert sorted(OcppMessage.objects.values_list("pk", flat=True)) == [f.pk for f in frames]
    later = OcppMessage.objects.create(station=station, direction="in", created_at=timezone.now())
    assert later.pk > max(f.pk for f in frames)  # the identity went on where it was

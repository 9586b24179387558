"""Time partitions of the large append-only tables (PostgreSQL declarative range partitioning).

Meter samples and status events are split by month, the OCPP frame log by day. Each table has a default
partition that catches a row no partition covers (a station replaying a queue from long ago), so no insert
ever fails for want of a partition; ``partitions_ensure`` (Celery beat, hourly) creates the partitions of the
coming periods ahead and moves whatever landed in a default partition into partitions of its own. Retention
drops whole partitions (``partitions_drop_before``): no row-by-row DELETE, no bloat, no long vacuum.

``table_partition`` / ``table_unpartition`` convert an existing table in place (the migrations that
introduced partitioning use them): the primary key becomes (id, time column), as PostgreSQL requires the
partition key in every unique key; Django still addresses rows by ``id`` alone, which stays unique (one
identity sequence); indexes and constraints keep their names, so later migrations find them.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

logger = logging.getLogger(__name__)

MONTH, DAY = "month", "day"


@dataclass(frozen=True)
class PartitionedTable:
    table: str
    column: str
    period: str  # MONTH or DAY
    ahead: int  # periods created in advance, beyond the current one


# The apps' tables, by name: a migration runs this module with the models of its own moment.
TABLES = (
    PartitionedTable("charging_sessions_metersample", "timestamp", MONTH, ahead=3),
    PartitionedTable("stations_connectorstatusevent", "timestamp", MONTH, ahead=3),
    PartitionedTable("stations_ocppmessage", "created_at", DAY, ahead=14),
)


def period_start(moment: datetime, period: str) -> datetime:
    """The start (UTC) of the period holding ``moment``."""
    moment = moment.astimezone(UTC)
    if period == MONTH:
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def period_after(start: datetime, period: str) -> datetime:
    """The start of the period following the one starting at ``start``."""
    if period == MONTH:
        return start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
    return start + timedelta(days=1)


def partition_name(spec: PartitionedTable, start: datetime) -> str:
    return f"{spec.table}_p{start:%Y%m}" if spec.period == MONTH else f"{spec.table}_p{start:%Y%m%d}"


def default_partition_name(spec: PartitionedTable) -> str:
    return f"{spec.table}_default"


def table_partition(spec: PartitionedTable, cursor) -> None:
    """Turn ``spec.table`` into a partitioned table with the same rows, ids, indexes and constraints."""
    _rebuild(spec, cursor, partitioned=True)


def table_unpartition(spec: PartitionedTable, cursor) -> None:
    """The reverse: one plain table again, primary key ``id``."""
    _rebuild(spec, cursor, partitioned=False)


def _rebuild(spec: PartitionedTable, cursor, *, partitioned: bool) -> None:
    table, old = spec.table, f"{spec.table}_rebuilt_from"
    cursor.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f') ORDER BY contype DESC, conname",
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s"
        " AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
        [table, table],
    )
    indexes = [row[0] for row in cursor.fetchall()]
    cursor.execute(f'ALTER TABLE "{table}" RENAME TO "{old}"')
    partition_by = f' PARTITION BY RANGE ("{spec.column}")' if partitioned else ""
    cursor.execute(
        f'CREATE TABLE "{table}" (LIKE "{old}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY)'
        f"{partition_by}"
    )
    if partitioned:
        # The partitions first, for the periods of the rows too, so that each row is written once, in place.
        cursor.execute(f'CREATE TABLE "{default_partition_name(spec)}" PARTITION OF "{table}" DEFAULT')
        _ensure(spec, cursor, datetime.now(UTC), rows_in=old)
    cursor.execute(f'INSERT INTO "{table}" OVERRIDING SYSTEM VALUE SELECT * FROM "{old}"')  # noqa: S608 - TABLES
    cursor.execute(f'DROP TABLE "{old}" CASCADE')
    # The new identity continues where the old one was; its sequence takes the old one's name back.
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    sequence = cursor.fetchone()[0]
    next_id = f'SELECT setval(%s, COALESCE((SELECT max(id) FROM "{table}"), 0) + 1, false)'  # noqa: S608 - TABLES
    cursor.execute(next_id, [sequence])
    cursor.execute(f'ALTER SEQUENCE {sequence} RENAME TO "{table}_id_seq"')
    for name, kind, definition in constraints:
        if kind == "p":
            definition = f'PRIMARY KEY (id, "{spec.column}")' if partitioned else "PRIMARY KEY (id)"
        cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    for definition in indexes:
        cursor.execute(definition)


def _bounds(spec: PartitionedTable, cursor) -> dict[str, tuple[datetime, datetime]]:
    """The range partitions of ``spec.table``: name -> (from, to)."""
    cursor.execute(
        "SELECT child.relname, pg_get_expr(child.relpartbound, child.oid) FROM pg_inherits"
        " JOIN pg_class child ON child.oid = pg_inherits.inhrelid WHERE pg_inherits.inhparent = %s::regclass",
        [spec.table],
    )
    bounds = {}
    for name, expression in cursor.fetchall():
        if expression == "DEFAULT":
            continue
        cursor.execute("SELECT %s::timestamptz, %s::timestamptz", _range_literals(expression))
        bounds[name] = cursor.fetchone()
    return bounds


def _range_literals(expression: str) -> list[str]:
    """FOR VALUES FROM ('2026-12-01 00:00:00+00') TO ('2027-01-01 00:00:00+00') -> the two literals."""
    quoted = expression.split("'")
    return [quoted[1], quoted[3]]


def partitions_ensure(*, specs=TABLES, now: datetime | None = None, cursor=None) -> list[str]:
    """Create the partitions of the current and the next ``ahead`` periods, and a partition for every period of
    which rows sit in a default partition (moving them there). Idempotent; the names created."""
    now = now or datetime.now(UTC)
    if cursor is None:
        with transaction.atomic(), connection.cursor() as own:
            return partitions_ensure(specs=specs, now=now, cursor=own)
    created = [name for spec in specs for name in _ensure(spec, cursor, now, rows_in=default_partition_name(spec))]
    if created:
        logger.info("partitions created", extra={"partitions": ",".join(created)})
    return created


def _ensure(spec: PartitionedTable, cursor, now: datetime, *, rows_in: str) -> list[str]:
    """The missing partitions of ``spec``: the current and ``ahead`` periods, and every period of a row in table
    ``rows_in``."""
    wanted = [period_start(now, spec.period)]
    for _ in range(spec.ahead):
        wanted.append(period_after(wanted[-1], spec.period))
    periods = f'SELECT DISTINCT date_trunc(%s, "{spec.column}" AT TIME ZONE \'UTC\') FROM "{rows_in}"'  # noqa: S608
    cursor.execute(periods, [spec.period])
    wanted += [start.replace(tzinfo=UTC) for (start,) in cursor.fetchall()]
    existing = _bounds(spec, cursor)
    created = []
    for start in sorted(set(wanted)):
        name = partition_name(spec, start)
        if name not in existing:
            _partition_create(spec, cursor, name, start, period_after(start, spec.period))
            created.append(name)
    default = default_partition_name(spec)
    if created and rows_in == default:
        # Rows moved out leave the default partition's table and indexes full of dead entries, which every
        # read of the parent would walk until a vacuum. Attaching locked it (no insert can be waiting in it):
        # when nothing is left, empty it for real.
        cursor.execute(f'SELECT EXISTS (SELECT 1 FROM "{default}")')  # noqa: S608 - a partition of TABLES
        if not cursor.fetchone()[0]:
            cursor.execute(f'TRUNCATE "{default}"')
    return created


def _partition_create(spec: PartitionedTable, cursor, name: str, start: datetime, end: datetime) -> None:
    """A partition for [start, end), holding the rows of that range the default partition had caught."""
    default = default_partition_name(spec)
    cursor.execute(f'CREATE TABLE "{name}" (LIKE "{spec.table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)')
    in_range = f'"{spec.column}" >= %s AND "{spec.column}" < %s'
    move = (
        f'WITH moved AS (DELETE FROM "{default}" WHERE {in_range} RETURNING *) INSERT INTO "{name}" SELECT * FROM moved'  # noqa: S608
    )
    cursor.execute(move, [start, end])
    cursor.execute(f'ALTER TABLE "{spec.table}" ATTACH PARTITION "{name}" FOR VALUES FROM (%s) TO (%s)', [start, end])


def partitions_drop_before(spec: PartitionedTable, cutoff: datetime) -> int:
    """Drop the partitions of ``spec.table`` that end at or before ``cutoff``: retention by whole partitions.
    Older rows elsewhere (the default partition, the partition ``cutoff`` falls in) stay. The rows dropped."""
    dropped, rows = [], 0
    with transaction.atomic(), connection.cursor() as cursor:
        for name, (_, end) in sorted(_bounds(spec, cursor).items()):
            if end <= cutoff:
                cursor.execute(f'SELECT count(*) FROM "{name}"')  # noqa: S608 - a partition of TABLES
                rows += cursor.fetchone()[0]
                cursor.execute(f'DROP TABLE "{name}"')
                dropped.append(name)
    if dropped:
        logger.info("partitions dropped", extra={"partitions": ",".join(dropped), "cutoff": cutoff.isoformat()})
    return rows


def partitioned_table(table: str) -> PartitionedTable:
    return next(spec for spec in TABLES if spec.table == table)

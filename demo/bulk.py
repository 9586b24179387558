"""Writing many rows fast with PostgreSQL's COPY, for the demo history.

Django's ``bulk_create`` prepares every value of every row in Python and cannot write ``auto_now`` fields
(a history needs its own times there); COPY takes the rows as they are. Primary keys are taken from the
table's sequence beforehand, so rows can refer to each other before any of them is written.
"""

from collections.abc import Iterable, Sequence

from django.db import connection, models
from django.utils import timezone
from psycopg.types.json import Jsonb


def allocate_ids(model, count: int) -> list[int]:
    """``count`` primary keys from the table's sequence, as inserts would have taken them."""
    if not count:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [model._meta.db_table, count],
        )
        return [row[0] for row in cursor.fetchall()]


def copy_rows(model, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """COPY ``rows`` (tuples of Python values in the order of ``columns``) into ``model``'s table."""
    with connection.cursor() as cursor:
        statement = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
        with cursor.cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)


def assign_ids(model, objects: list[models.Model]) -> None:
    """Give the objects that have none their primary key, before they are written."""
    missing = [obj for obj in objects if obj.pk is None]
    for obj, pk in zip(missing, allocate_ids(model, len(missing)), strict=True):
        obj.pk = pk


def copy_objects(model, objects: list[models.Model]) -> None:
    """Insert unsaved ``objects`` with every concrete field as set on them, giving each its primary key.

    A foreign key set to an object that had no key yet takes that object's key now (as ``save`` does);
    ``auto_now``/``auto_now_add`` fields left empty get the current time, as a save would give them.
    """
    assign_ids(model, objects)
    fields = model._meta.concrete_fields
    now = timezone.now()
    automatic = [f.attname for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
    relations = [f for f in fields if f.is_relation]
    json = {index for index, f in enumerate(fields) if isinstance(f, models.JSONField)}

    def rows():
        for obj in objects:
            for name in automatic:
                if getattr(obj, name) is None:
                    setattr(obj, name, now)
            for relation in relations:
                if getattr(obj, relation.attname) is None and relation.is_cached(obj):
                    related = relation.get_cached_value(obj)
                    setattr(obj, relation.attname, related.pk if related is not None else None)
            row = [getattr(obj, f.attname) for f in fields]
            for index in json:
                row[index] = None if row[index] is None else Jsonb(row[index])
            yield row

    copy_rows(model, [f.column for f in fields], rows())

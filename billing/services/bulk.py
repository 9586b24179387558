"""Writing many new rows fast (the batch pricing): primary keys taken up front, rows sent by one COPY.

``bulk_create`` sends each column as an array parameter that psycopg quotes in Python, value by value; COPY
sends rows that psycopg's C adapters write. Taking the keys first lets rows refer to each other before
any is written: the foreign keys Django creates are checked at the commit (DEFERRABLE INITIALLY DEFERRED).
"""

from enum import Enum

from django.db import connection, models
from psycopg.types.json import Jsonb


def ids_take(model: type[models.Model], objects: list) -> None:
    """Give unsaved ``objects`` primary keys from their table's sequence, in one query."""
    if not objects:
        return
    meta = model._meta
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(objects)],
        )
        for obj, (pk,) in zip(objects, cursor.fetchall(), strict=True):
            obj.pk = pk


def rows_copy(model: type[models.Model], objects: list) -> None:
    """INSERT ``objects`` (keys taken by ``ids_take``) in one COPY, every column as ``save()`` would write it
    (``auto_now`` stamps, defaults set at construction). Call inside the caller's transaction."""
    if not objects:
        return
    fields = model._meta.concrete_fields
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    json_columns = [isinstance(field, models.JSONField) for field in fields]
    # As the ORM's errors (DataError, IntegrityError): the cursor's copy() is psycopg's own, not wrapped.
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.copy(f"COPY {model._meta.db_table} ({columns}) FROM STDIN") as copy,
    ):
        for obj in objects:
            copy.write_row(
                [
                    _adapted(field.pre_save(obj, add=True), is_json)
                    for field, is_json in zip(fields, json_columns, strict=True)
                ]
            )
    for obj in objects:
        obj._state.adding, obj._state.db = False, connection.alias


def _adapted(value, is_json: bool):
    if value is None:
        return None
    if is_json:
        return Jsonb(value)
    if isinstance(value, Enum):  # a TextChoices member: its value, as the ORM writes it
        return value.value
    return value

"""Many ids in one query parameter: a thousand sites' rows are read and written with arrays, not one placeholder
per value (``__in`` prepares and sends each of a thousand ids apart)."""

from collections.abc import Iterable

from django.db.models import BooleanField, F, Func


class AnyOf(Func):
    """``field = ANY(ids)``: the ids travel as one array (``__in`` prepares each of a thousand sites' ids apart)."""

    output_field = BooleanField()

    def __init__(self, field: str, ids: Iterable[int]):
        super().__init__(F(field))
        self.ids = list(ids)

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"{sql} = ANY(%s::bigint[])", (*params, array_literal(self.ids))


def array_literal(values: Iterable) -> str:
    """A PostgreSQL array literal of numbers and strings (None: NULL)."""
    return "{" + ",".join("NULL" if value is None else _array_item(value) for value in values) + "}"


def _array_item(value) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)

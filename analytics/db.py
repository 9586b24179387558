"""Running the analytics SQL: each read in its own short transaction with PostgreSQL's JIT off.

JIT compilation of these large statements (many CTEs, estimated as expensive) takes over a second,
more than the queries themselves; ``SET LOCAL`` keeps the setting from leaking into the connection.
"""

from django.db import connection, transaction

NO_JIT = "SET LOCAL jit = off"


def fetch(sql: str, params: dict) -> list[tuple]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(NO_JIT)
        cursor.execute(sql, params)
        return cursor.fetchall()

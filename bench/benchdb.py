"""The benchmark database: each script measures in a PostgreSQL database of its own, created on first use; and the
CPU its connection's server process spends, the figure that holds on a busy machine."""

import os
from pathlib import Path


def create_database_if_missing(db: dict) -> None:
    """Create the database of a Django ``DATABASES`` entry, connecting to the server's ``postgres`` database."""
    import psycopg

    conninfo = psycopg.conninfo.make_conninfo(
        dbname="postgres",
        user=db["USER"],
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        password=db["PASSWORD"] or None,
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def backend_cpu_seconds() -> float | None:
    """CPU seconds of this connection's PostgreSQL backend so far (None when the server is not on this machine)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

"""The benchmark database: each script measures in a PostgreSQL database of its own, created on first use."""


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

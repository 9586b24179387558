"""Run the whole system: migrate, collect static files, then the portal, the OCPP endpoint and background jobs.

With a broker configured (``REDIS_URL``) a Celery worker with beat runs beside daphne as a child process,
and ``--processes N`` serves with N daphne processes (one per core, on PORT..PORT+N-1, behind a balancer:
deploy/haproxy.cfg, docs/deploy.md), which the Redis channel layer joins into one system; without one,
tasks run in-process and beat runs in a thread of this process (the embedded default). Without
``DATABASE_URL`` the database is the embedded PostgreSQL server, which manage.py has started for this
process and which stops when it exits (cms/embedded_postgres.py).
"""

import contextlib
import ipaddress
import os
import secrets
import socket
import subprocess
import sys
import threading

from celery.beat import EmbeddedService
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from cms.celery import app as celery_app
from cms.partitions import partitions_ensure


class Command(BaseCommand):
    help = "Set up the database and run the portal, the OCPP endpoint and the background jobs."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-worker", action="store_true", help="Do not start background jobs here.")
        parser.add_argument(
            "--processes",
            type=int,
            default=int(os.environ.get("PROCESSES", "1")),
            help="daphne processes serving on PORT, PORT+1, ... (one per core, behind a balancer); needs REDIS_URL.",
        )
        parser.add_argument(
            "--no-beat",
            action="store_true",
            help="Start the Celery worker without beat: beat runs once per installation, on one machine only.",
        )
        parser.add_argument(
            "--demo",
            action="store_true",
            help="Seed the demo network (the first time) and keep a simulated fleet charging at its stations.",
        )

    def handle(self, *args, host, port, no_worker, demo, processes, no_beat, **options):
        if processes < 1:
            raise CommandError("--processes must be at least 1.")
        if processes > 1 and not settings.REDIS_URL:
            raise CommandError(
                "--processes above 1 needs REDIS_URL: without Redis the channel layer lives inside one process, "
                "so commands and live events could not reach the stations and browsers of the others."
            )
        # Stations download firmware from, and upload diagnostics to, the address this server listens on
        # (unless CMS_STATION_FILES_URL or CMS_PORTAL_URL says otherwise); the worker child inherits it.
        os.environ["CMS_SERVER_URL"] = server_url(host, port)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        network = self._ensure_demo() if demo else None
        if network is None:
            self._ensure_admin()  # a demo has its operator already
        self._ensure_invoice_issuer()
        # Beat does so hourly; a database migrated long ago gets its current periods, and a demo's history its own.
        partitions_ensure()

        worker = None
        if not no_worker:
            if settings.CELERY_TASK_ALWAYS_EAGER:
                # Beat runs a registered task in this process (eagerly); an unregistered one it would
                # only send to the in-memory broker, where nothing consumes it.
                celery_app.loader.import_default_modules()
                if not no_beat:
                    EmbeddedService(celery_app, thread=True).start()
                self.stdout.write("Background jobs: in-process (no broker configured).")
            else:
                beat = [] if no_beat else ["--beat"]
                worker = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                    [sys.executable, "-m", "celery", "-A", "cms", "worker", *beat, "--loglevel", "INFO"]
                )
                self.stdout.write(
                    f"Background jobs: Celery worker{'' if no_beat else ' with beat'} (pid {worker.pid})."
                )

        from stations.app_settings import app_settings as station_settings
        from stations.protocol.versions import SUBPROTOCOLS

        database = settings.DATABASES["default"]
        if not os.environ.get("DATABASE_URL"):
            self.stdout.write(f"Database:      embedded PostgreSQL, data in {database['HOST']}")
        if processes > 1:
            self.stdout.write(
                f"daphne:        {processes} processes on ports {port}-{port + processes - 1}: "
                "put a balancer in front (deploy/haproxy.cfg)"
            )
        self.stdout.write(
            f"Portal:        http://{host}:{port}/\n"
            f"OCPP endpoint: ws://{host}:{port}/ocpp/<station_id>  (subprotocols {', '.join(SUBPROTOCOLS)})\n"
            f"Station files: {station_settings.STATION_FILES_URL}/  (firmware downloads, diagnostics uploads)\n"
        )
        from daphne.cli import CommandLineInterface

        # `manage.py simulate` run beside this server finds it here (and connects to this port, not 8000).
        address_file = settings.BASE_DIR / "var" / "server-url"
        address_file.parent.mkdir(exist_ok=True)
        address_file.write_text(os.environ["CMS_SERVER_URL"] + "\n")
        fleet = self._start_fleet(network, host, port) if network is not None else None
        # This process serves on PORT; the others are its children, on the ports after it.
        others = [DaphneChild(host, port + n) for n in range(1, processes)]
        try:
            CommandLineInterface().run(daphne_args(host, port))
        finally:
            for other in others:
                other.stop()
            with contextlib.suppress(OSError):
                if address_file.read_text().strip() == os.environ["CMS_SERVER_URL"]:
                    address_file.unlink()  # unless another server has started since
            if fleet is not None:
                # The server has stopped: the fleet cannot end its sessions cleanly, so it gets a short while.
                fleet.terminate()
                try:
                    fleet.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    fleet.kill()
                    fleet.wait()
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=30)

    def _ensure_demo(self):
        """Seed the demo network unless this database holds it already; print how to log in either way."""
        from demo.management.commands.demo import login_lines
        from demo.services import demo_network, demo_seed

        network = demo_network()
        if network is None:
            self.stdout.write("Seeding the demo network (90 days of history)...")
            result = demo_seed()
            network = result.network
            self.stdout.write(f"Seeded the demo network in {result.seconds:.1f} s.")
        self.stdout.write(self.style.WARNING(login_lines(network)))
        return network

    def _start_fleet(self, network, host: str, port: int) -> subprocess.Popen:
        """The simulated fleet, a child process of its own (``manage.py simulate``), charging at the demo stations
        with the demo drivers' cards, each station in the OCPP version it was registered with; it connects as soon
        as the server below accepts connections."""
        from stations.models import Station

        v201 = sorted(
            Station.objects.filter(
                ocpp_id__startswith=network.station_prefix, ocpp_version=Station.OcppVersion.V201
            ).values_list("ocpp_id", flat=True)
        )
        address = server_url(host, port).removeprefix("http://")
        command = [
            sys.executable,
            str(settings.BASE_DIR / "manage.py"),
            "simulate",
            "--url",
            f"ws://{address}/ocpp",
            "--prefix",
            network.station_prefix,
            "--stations",
            str(network.stations),
            "--password",
            network.station_password,
            "--tags",
            ",".join(network.driver_tokens),
            "--report",
            "0",
            *(["--v201-stations", ",".join(v201)] if v201 else []),
        ]
        fleet = subprocess.Popen(command)  # noqa: S603 - our own manage.py, arguments from our own database
        self.stdout.write(f"Simulated fleet: {network.stations} stations (pid {fleet.pid}).")
        return fleet

    def _ensure_invoice_issuer(self):
        """Invoices need an issuer; on first start the operator's name comes from CMS_OPERATOR_NAME."""
        from billing.models import Operator

        if Operator.objects.exists():
            return
        name = os.environ.get("CMS_OPERATOR_NAME", "Voltgrid operator")
        Operator.objects.create(name=name, legal_name=name, is_default=True)
        self.stdout.write(f"Created the default invoice issuer {name!r}; complete its details in the admin.")

    def _ensure_admin(self):
        """On first start, create an operator admin so that someone can log in."""
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        email = os.environ.get("CMS_ADMIN_EMAIL", "admin@localhost")
        password = os.environ.get("CMS_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        # A superuser's address counts as verified (accounts.models.UserManager): it logs in at once.
        User.objects.create_superuser(email=email, password=password)
        shown = password if "CMS_ADMIN_PASSWORD" not in os.environ else "(from CMS_ADMIN_PASSWORD)"
        self.stdout.write(self.style.WARNING(f"Created operator admin {email} with password {shown}"))


class DaphneChild:
    """One more daphne process, started again a second after it dies (its stations reconnect to the others
    through the balancer meanwhile), until ``stop``."""

    RESTART_AFTER_SECONDS = 1.0

    def __init__(self, host: str, port: int):
        self.args = [sys.executable, "-m", "daphne", *daphne_args(host, port)]
        self.port = port
        self.stopping = threading.Event()
        self.lock = threading.Lock()  # a restart and a stop never cross
        self.process = subprocess.Popen(self.args)  # noqa: S603 - our own interpreter and arguments
        self.watcher = threading.Thread(target=self._watch, name=f"daphne-{port}", daemon=True)
        self.watcher.start()

    def _watch(self) -> None:
        while True:
            code = self.process.wait()
            if self.stopping.wait(self.RESTART_AFTER_SECONDS):
                return
            with self.lock:
                if self.stopping.is_set():
                    return
                print(f"daphne on port {self.port} exited ({code}); starting it again", file=sys.stderr, flush=True)
                self.process = subprocess.Popen(self.args)  # noqa: S603

    def stop(self) -> None:
        with self.lock:
            self.stopping.set()
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.watcher.join(timeout=5)


def daphne_args(host: str, port: int) -> list[str]:
    """daphne's command line for one serving process."""
    # Stations reconnecting all at once after a restart queue for their handshake; give them time.
    return ["-e", daphne_endpoint(host, port), "--websocket_connect_timeout", "30", "cms.asgi:application"]


def server_url(host: str, port: int) -> str:
    """The address stations reach this server at: the one it listens on, or for a wildcard bind
    (0.0.0.0, ::) the machine's address on its default route (no packet is sent to find it)."""
    address = host.strip("[]")
    try:
        wildcard = ipaddress.ip_address(address).is_unspecified
    except ValueError:
        wildcard = False  # a host name
    if wildcard:
        address = "127.0.0.1"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routing only, nothing is sent
                address = probe.getsockname()[0]
            except OSError:
                pass
    if ":" in address:
        address = f"[{address}]"
    return f"http://{address}:{port}"


# Connections the kernel holds for daphne until it accepts them. Twisted's default is 50: in a reconnect storm
# of thousands of stations the rest of the SYNs are dropped, and each station's TCP waits 1, 3, 7, 15 s... before
# trying again, leaving the server idle in between (capped by net.core.somaxconn, 4096 on current Linux).
LISTEN_BACKLOG = 4096


def daphne_endpoint(host: str, port: int) -> str:
    """daphne's ``-b host -p port``, with the listen backlog a reconnect storm needs (Twisted endpoint syntax)."""
    interface = host.strip("[]").replace(":", r"\:")
    return f"tcp:port={port}:interface={interface}:backlog={LISTEN_BACKLOG}"

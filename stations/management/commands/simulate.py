"""``manage.py simulate``: connect N simulated OCPP charge points (1.6J, 2.0.1 or a mix) to a server and let
drivers charge."""

import asyncio
import contextlib
import io
import logging
import signal
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from simulator import DEFAULT_PASSWORD, Simulation, SimulatorConfig, mixed_versions, ocpp_url

# Where ``manage.py runcms`` writes the address it serves while it runs (cms/management/commands/runcms.py).
SERVER_ADDRESS_FILE = settings.BASE_DIR / "var" / "server-url"


def share(value: str) -> float:
    number = float(value)
    if not 0 <= number <= 1:
        raise ValueError(f"not a share between 0 and 1: {value!r}")
    return number


def seconds_range(value: str) -> tuple[float, float]:
    """``120`` or ``60-600``: a fixed length or a range to draw from."""
    low, _, high = value.partition("-")
    try:
        pair = (float(low), float(high or low))
    except ValueError as error:
        raise ValueError(f"not seconds or a range of seconds: {value!r}") from error
    if not 0 <= pair[0] <= pair[1]:
        raise ValueError(f"not a range of seconds: {value!r}")
    return pair


class Command(BaseCommand):
    help = (
        "Run simulated OCPP 1.6J and 2.0.1 charge points against a Voltgrid server: they boot, heartbeat, report "
        "status, and drivers authorise and charge with realistic meter values. Every command from the portal or the "
        "API gets a sensible answer. With --create the stations (and the tags) are registered first, for a demo."
    )

    def add_arguments(self, parser):
        parser.add_argument("-n", "--stations", type=int, default=3, help="How many stations (default 3).")
        parser.add_argument(
            "--url",
            help="The OCPP endpoint without the station id (default: the server's own address: --host/--port, "
            "else where a running `manage.py runcms` listens, else HOST/PORT as runcms reads them, else "
            "127.0.0.1:8000).",
        )
        parser.add_argument("--host", help="The server's host, as given to runcms.")
        parser.add_argument("--port", type=int, help="The server's port, as given to runcms (scripts/run --port).")
        parser.add_argument("--prefix", default="SIM-", help="Station ids are <prefix>001, <prefix>002, ...")
        parser.add_argument("--password", default=DEFAULT_PASSWORD, help="The stations' Basic-auth password.")
        parser.add_argument(
            "--tags",
            help="Comma-separated idTags the drivers present (default: one driver per connector, SIMTAG0001, ...).",
        )
        parser.add_argument("--duration", type=float, help="Seconds to run (default: until Ctrl-C).")
        parser.add_argument("--connectors", type=int, default=2, help="Connectors per station (default 2).")
        parser.add_argument("--max-power", type=int, default=22_000, help="W per connector (default 22000).")
        parser.add_argument("--meter-interval", type=float, default=10, help="Seconds between meter values.")
        parser.add_argument("--session-seconds", type=seconds_range, default="120-600", help="Session length range.")
        parser.add_argument("--idle-seconds", type=seconds_range, default="10-60", help="Pause between sessions.")
        parser.add_argument(
            "--no-autostart", action="store_true", help="No drivers of their own: only remote starts charge."
        )
        parser.add_argument(
            "--v201-share",
            type=share,
            default=0.0,
            help="The share of the stations that speak OCPP 2.0.1, spread evenly (0 to 1; default 0: all 1.6J).",
        )
        parser.add_argument(
            "--v201-stations", help="Comma-separated ids of stations that speak OCPP 2.0.1 (besides --v201-share)."
        )
        parser.add_argument("--seed", type=int, help="Seed for reproducible behaviour.")
        parser.add_argument("--report", type=float, default=30, help="Seconds between progress lines (0: none).")
        parser.add_argument(
            "--create",
            action="store_true",
            help="Register the stations with --password (updating existing ones) and the tags as Accepted first.",
        )

    def handle(self, *args, **options):
        if options["stations"] < 1 or options["connectors"] < 1:
            raise CommandError("--stations and --connectors must be at least 1.")
        ids = Simulation.station_ids(options["prefix"], options["stations"])
        if options["tags"] is None:
            tags = tuple(f"SIMTAG{n:04d}" for n in range(1, options["stations"] * options["connectors"] + 1))
        else:
            tags = tuple(tag.strip() for tag in options["tags"].split(",") if tag.strip())
        with self._quiet_logs(options["verbosity"]):
            self._simulate(ids, tags, options)

    def _simulate(self, ids: list[str], tags: tuple[str, ...], options: dict) -> None:
        if options["create"]:
            self._create(ids, options["password"], tags)
        url = options["url"] or ocpp_url(host=options["host"], port=options["port"], address_file=SERVER_ADDRESS_FILE)
        config = SimulatorConfig(
            url=url,
            password=options["password"],
            connectors=options["connectors"],
            max_power_w=options["max_power"],
            id_tags=tags,
            autostart=not options["no_autostart"],
            session_seconds=options["session_seconds"],
            idle_seconds=options["idle_seconds"],
            meter_interval=options["meter_interval"],
            seed=options["seed"],
        )
        versions = mixed_versions(ids, options["v201_share"])
        named = {ocpp_id.strip() for ocpp_id in (options["v201_stations"] or "").split(",") if ocpp_id.strip()}
        if unknown := named - set(versions):
            raise CommandError(f"--v201-stations names stations not simulated: {', '.join(sorted(unknown))}")
        versions.update(dict.fromkeys(named, "2.0.1"))
        v201 = sum(version == "2.0.1" for version in versions.values())
        self.stdout.write(
            f"Simulating {len(ids)} station(s) {ids[0]}..{ids[-1]} ({v201} speaking OCPP 2.0.1) against {config.url}"
        )
        simulation = Simulation(ids, config, versions=versions)
        stats = asyncio.run(self._run(simulation, options["duration"], options["report"]))
        self.stdout.write(self.style.SUCCESS(f"Done: {self._summary(stats)}"))

    @contextlib.contextmanager
    def _quiet_logs(self, verbosity: int):
        """One short line per event at most: the simulator's warnings by default, its events with -v 2, every
        library's log with -v 3. The server's logging (each job that --create's token changes run in-process
        traced by Celery, kombu warning that the in-memory broker has no host name, the ocpp library's own line
        for each CALLERROR) is for servers, not for this command's output. Restored afterwards."""
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(EventFormatter())
        levels = {"simulator": {0: logging.ERROR, 1: logging.WARNING}.get(verbosity, logging.INFO)}
        if verbosity < 3:
            levels.update(dict.fromkeys(("", "celery", "kombu", "ocpp", "websockets"), logging.ERROR))
        loggers = {name: logging.getLogger(name) for name in levels}
        saved = {name: (log.level, log.handlers[:], log.propagate) for name, log in loggers.items()}
        for name, log in loggers.items():
            log.setLevel(levels[name])
        loggers["simulator"].handlers[:] = [handler]
        loggers["simulator"].propagate = False
        try:
            yield
        finally:
            for name, (level, handlers, propagate) in saved.items():
                loggers[name].setLevel(level)
                loggers[name].handlers[:] = handlers
                loggers[name].propagate = propagate

    def _create(self, ids: list[str], password: str, tags: tuple[str, ...]) -> None:
        from accounts.models import IdToken, IdTokenEvent, normalize_token
        from accounts.services import id_token_create

        for ocpp_id in ids:
            # create_station's checks and messages; --update keeps reruns working and resets the password.
            call_command("create_station", ocpp_id, password=password, update=True, stdout=io.StringIO())
        for tag in tags:
            if not IdToken.objects.filter(token=normalize_token(tag)).exists():
                id_token_create(token=tag, data={"label": "Simulator"}, source=IdTokenEvent.Source.COMMAND)
        self.stdout.write(f"Registered {len(ids)} station(s) and {len(tags)} tag(s).")

    async def _run(self, simulation: Simulation, duration: float | None, report: float):
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # not on Windows
                loop.add_signal_handler(sig, simulation.stop)
        reporter = asyncio.create_task(self._report(simulation, report)) if report > 0 else None
        try:
            return await simulation.run(duration)
        finally:
            if reporter is not None:
                reporter.cancel()

    async def _report(self, simulation: Simulation, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            online = sum(station.booted.is_set() for station in simulation.stations)
            charging = sum(
                connector.busy for station in simulation.stations for connector in station.connectors.values()
            )
            self.stdout.write(f"{online} online, {charging} charging; {self._summary(simulation.stats())}")

    @staticmethod
    def _summary(stats) -> str:
        """What the server answered: sessions it accepted, refused, answered with an error; stops it confirmed."""
        return (
            f"{stats.boots} boots, {stats.sessions_started} sessions started, {stats.sessions_completed} completed, "
            f"{stats.sessions_refused} refused, {stats.sessions_errored} errored, {stats.energy_wh / 1000:.1f} kWh, "
            f"{stats.commands_answered} commands answered, {stats.calls_sent} calls sent ({stats.call_errors} "
            f"CALLERROR, {stats.calls_failed} unanswered)"
        )


class EventFormatter(logging.Formatter):
    """``12:03:04 SIM-001 session completed answer=EVDisconnected``: the time, the station, the event, its details
    (each cut short: an HTTP library's error can be a paragraph)."""

    def format(self, record: logging.LogRecord) -> str:
        details = {
            key: value
            for key, value in vars(record).items()
            if key not in STANDARD_RECORD_FIELDS and key != "station_id" and value is not None
        }
        station = getattr(record, "station_id", "")
        line = " ".join(part for part in (self.formatTime(record, "%H:%M:%S"), station, record.getMessage()) if part)
        return " ".join([line, *(f"{key}={shorten(value)}" for key, value in details.items())])


def shorten(value, limit: int = 100) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


STANDARD_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

"""Analytics at scale: 1,000 stations, 2,000,000 sessions with meter samples; each dashboard's response time.

Generates a realistic year of network history into its own database (COPY through psycopg), builds the
rollups the way the Celery job does on its first run, times one incremental refresh, then requests every
dashboard through Django's test client (view, SQL, plotly figures and template: the whole response) for
several filter scopes and prints the median of a few runs. Target: every dashboard under 1 s.

    .venv/bin/python bench/analytics_scale.py                      # load (once) and measure
    .venv/bin/python bench/analytics_scale.py --reload             # drop and load again
    .venv/bin/python bench/analytics_scale.py --stations 50 --sessions 50000   # a quick look

The database is BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/voltgrid_bench_analytics);
it is created and migrated when missing and kept afterwards, so a second run only measures.

What is generated: 100 sites of 10 stations (70 % AC 2 x 11 kW, 30 % DC 2 x 50-150 kW; three models with
their firmware versions, one of them fault-prone); sessions arriving with a commuter-shaped daily curve,
AC sessions charging 5-45 kWh then idling, DC sessions short; 15-minute clock-aligned register and power
samples; the status notifications of each session, faults with OCPP error codes and repairs, offline
periods; 50,000 drivers plus anonymous cards; billing (when the billing app is installed): priced
sessions on six tariffs and a few months of invoices and payments, some unpaid.
"""

import argparse
import io
import math
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/voltgrid_bench_analytics"
# Arrivals per hour of day (local time): a morning and an evening peak, a quiet night.
HOURLY = [
    1,
    0.6,
    0.4,
    0.3,
    0.4,
    0.8,
    2.0,
    4.0,
    6.0,
    5.5,
    4.5,
    4.0,
    4.2,
    4.0,
    3.8,
    4.0,
    5.0,
    6.5,
    7.0,
    5.5,
    4.0,
    3.0,
    2.2,
    1.5,
]
ERRORS = [
    "GroundFailure",
    "OverCurrentFailure",
    "PowerMeterFailure",
    "ConnectorLockFailure",
    "EVCommunicationError",
    "HighTemperature",
    "InternalError",
    "OtherError",
]
MODELS = [
    ("Alpha", "AC22", ["1.4.2", "1.5.0"], 1.0),
    ("Alpha", "DC150", ["3.1.0", "3.2.1"], 1.5),
    ("Borealis", "Wallbox-X", ["0.9.8", "1.0.1"], 3.0),
]


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")
    os.environ.setdefault("TIME_ZONE", "UTC")
    import django

    django.setup()


def ensure_database(url: str, reload: bool) -> bool:
    """Create the database when missing (drop it first with --reload); True when it must be loaded."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and reload:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return not exists


# ------------------------------------------------------------------------------------------- generation


class Copier:
    """COPY rows into a model's table, filling every column not given with the field's default."""

    def __init__(self, cursor, model, columns: list[str]):
        self.cursor, self.model, self.columns = cursor, model, columns
        now = datetime.now(UTC)
        defaults = {}
        for field in model._meta.concrete_fields:
            if field.column in columns or field.primary_key:
                continue
            auto = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
            defaults[field.column] = _text(now if auto else field.get_default())
        self.default_columns = list(defaults)
        self.default_text = "\t".join(defaults.values())
        self.buffer = io.StringIO()
        self.rows = 0

    def add(self, *values) -> None:
        line = "\t".join(_text(v) for v in values)
        if self.default_columns:
            line += "\t" + self.default_text
        self.buffer.write(line + "\n")
        self.rows += 1
        if self.rows % 200_000 == 0:
            self.flush()

    def flush(self) -> None:
        data = self.buffer.getvalue()
        if not data:
            return
        table = self.model._meta.db_table
        columns = ", ".join(f'"{c}"' for c in self.columns + self.default_columns)
        with self.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            copy.write(data)
        self.buffer = io.StringIO()


def _text(value) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        import json

        return json.dumps(value)
    return str(value).replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


def drop_indexes(cursor, table: str) -> list[str]:
    """Drop a table's secondary indexes and unique constraints for a fast load; the SQL to put them back."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'u'",
        [table],
    )
    restore = [f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}" for name, definition in cursor.fetchall()]
    for statement in restore:
        cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {statement.split()[5]}")
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT LIKE '%%_pkey'", [table]
    )
    for name, definition in cursor.fetchall():
        cursor.execute(f"DROP INDEX {name}")
        # A partitioned table's index is defined "ON ONLY" the parent; created so, no partition would get it.
        restore.append(definition.replace(" ON ONLY ", " ON ", 1))
    return restore


def poisson(rng: random.Random, mean: float) -> int:
    threshold, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def create_history_partitions(tables: list[str], start: datetime, now: datetime) -> None:
    """The monthly partitions of the whole history, made before the load as a year of production would have
    them (rows COPYed into a default partition would be read as one unpartitioned table)."""
    from cms.partitions import partitioned_table, partitions_ensure

    specs = [partitioned_table(table) for table in tables]
    moment = start
    while moment <= now:
        partitions_ensure(specs=specs, now=moment)  # this month and the next three
        moment += timedelta(days=100)
    partitions_ensure(specs=specs, now=now)


def generate(n_stations: int, n_sessions: int, days: int, seed: int = 7) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from accounts.models import IdToken
    from analytics.models import StationOfflinePeriod
    from sessions.models import MeterSample, Transaction
    from stations.models import Connector, ConnectorStatusEvent, Site, Station

    rng = random.Random(seed)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    # Two spare days at the end take the sessions a busy connector pushes past the last day, so that exactly
    # n_sessions fit before now.
    start = (now - timedelta(days=days + 2)).replace(hour=0)
    t0 = time.monotonic()

    sites = Site.objects.bulk_create(
        [Site(name=f"Site {i:03d}", address=f"{i} Main Street") for i in range(max(1, n_stations // 10))]
    )
    stations = []
    for i in range(n_stations):
        vendor, model, firmwares, _ = MODELS[i % len(MODELS)]
        stations.append(
            Station(
                ocpp_id=f"BENCH-{i:04d}",
                name=f"Station {i}",
                site=sites[i % len(sites)],
                vendor=vendor,
                model=model,
                firmware_version=firmwares[(i // len(MODELS)) % 2],
                ocpp_version="1.6",
                is_online=rng.random() > 0.02,
                last_seen_at=now,
                connected_at=now - timedelta(hours=1),
            )
        )
    stations = Station.objects.bulk_create(stations)
    Station.objects.update(created_at=start - timedelta(days=1))
    connectors = Connector.objects.bulk_create(
        [Connector(station=s, connector_id=c, status="Available") for s in stations for c in (1, 2)]
    )
    user_model = get_user_model()
    n_users = max(100, n_sessions // 40)
    users = [user_model(email=f"driver{i}@bench.example", password="!") for i in range(n_users)]
    user_ids = [u.pk for u in user_model.objects.bulk_create(users, batch_size=5000)]
    # Anonymous RFID cards: known to the CSMS as ID tokens, owned by nobody.
    cards = [
        t.pk
        for t in IdToken.objects.bulk_create(
            [IdToken(token=f"CARD-{i:05d}") for i in range(n_users // 2)], batch_size=5000
        )
    ]
    print(
        f"  {len(stations)} stations, {len(connectors)} connectors, {n_users} drivers ({time.monotonic() - t0:.0f} s)",
        flush=True,
    )

    # Sessions per connector-day: Poisson around the target rate, busier stations busier, then the total
    # adjusted to the exact target.
    # Clipped so that the busiest connector still fits its day's sessions in the day (no backlog growing all year).
    popularity = {s.pk: min(max(rng.lognormvariate(0, 0.5), 0.3), 2.2) for s in stations}
    norm = sum(popularity[c.station_id] for c in connectors) / len(connectors)
    rate = n_sessions / (len(connectors) * days)
    counts = [[poisson(rng, rate * popularity[c.station_id] / norm) for _ in range(days)] for c in connectors]
    total = sum(map(sum, counts))
    while total != n_sessions:
        row, day = rng.randrange(len(connectors)), rng.randrange(days)
        if total > n_sessions and counts[row][day]:
            counts[row][day] -= 1
            total -= 1
        elif total < n_sessions:
            counts[row][day] += 1
            total += 1

    is_dc = {s.pk: s.model == "DC150" for s in stations}
    fault_rate = {
        s.pk: next(m[3] for m in MODELS if m[1] == s.model) * (1.6 if s.firmware_version in ("1.4.2", "0.9.8") else 1.0)
        for s in stations
    }
    cursor = connection.cursor().cursor  # the psycopg cursor under Django's wrapper
    tables = [Transaction, MeterSample, ConnectorStatusEvent]
    create_history_partitions([model._meta.db_table for model in tables[1:]], start, now)
    restore = []
    for model in tables:
        # Foreign keys are not checked row by row (the generator keeps them right); indexes are rebuilt after.
        cursor.execute(f"ALTER TABLE {model._meta.db_table} DISABLE TRIGGER ALL")
        restore += drop_indexes(cursor, model._meta.db_table)
    tx = Copier(
        cursor,
        Transaction,
        [
            "id",
            "station_id",
            "connector_id",
            "id_tag",
            "id_token_id",
            "user_id",
            "status",
            "authorization_status",
            "meter_start",
            "meter_stop",
            "energy_wh",
            "started_at",
            "stopped_at",
            "stop_reason",
            "created_at",
            "updated_at",
        ],
    )
    samples = Copier(
        cursor,
        MeterSample,
        [
            "transaction_id",
            "station_id",
            "connector_id",
            "timestamp",
            "measurand",
            "phase",
            "location",
            "context",
            "unit",
            "value",
        ],
    )
    events = Copier(
        cursor, ConnectorStatusEvent, ["station_id", "connector_id", "status", "error_code", "timestamp", "received_at"]
    )
    weights = HOURLY
    tx_id = 0
    charged = []  # (tx id, user id, station, started_at, energy, charging s, idle s) for billing
    quarter = timedelta(minutes=15)
    for c_index, connector in enumerate(connectors):
        sid, cid = connector.station_id, connector.connector_id
        register = rng.randrange(0, 5_000_000)
        free_at = start
        events.add(sid, cid, "Available", "NoError", start - timedelta(hours=1), start)
        for day_index, n in enumerate(counts[c_index]):
            day = start + timedelta(days=day_index)
            arrivals = sorted(
                day + timedelta(hours=rng.choices(range(24), weights)[0], seconds=rng.randrange(3600)) for _ in range(n)
            )
            for arrival in arrivals:
                begin = max(arrival, free_at + timedelta(minutes=5))
                if begin >= now - timedelta(hours=3):
                    continue
                if is_dc[sid]:
                    power = rng.uniform(50_000, 150_000)
                    energy = int(rng.uniform(15_000, 60_000))
                    idle = rng.expovariate(1 / 300)
                else:
                    power = rng.choice([7_400, 11_000])
                    energy = int(min(max(rng.gauss(18_000, 9_000), 2_000), 45_000))
                    idle = rng.expovariate(1 / 2400)
                charging = energy / power * 3600
                charge_end = begin + timedelta(seconds=30 + charging)
                end = charge_end + timedelta(seconds=idle + 30)
                tx_id += 1
                user = rng.choice(user_ids) if rng.random() < 0.85 else None
                card = None if user else rng.randrange(len(cards))
                tag = f"U{user:06d}" if user else f"CARD-{card:05d}"
                tx.add(
                    tx_id,
                    sid,
                    cid,
                    tag,
                    None if user else cards[card],
                    user,
                    "completed",
                    "Accepted",
                    register,
                    register + energy,
                    energy,
                    begin,
                    end,
                    "EVDisconnected",
                    end,
                    end,
                )
                events.add(sid, cid, "Preparing", "NoError", begin, begin)
                events.add(sid, cid, "Charging", "NoError", begin + timedelta(seconds=30), begin)
                if idle > 60:
                    events.add(sid, cid, "SuspendedEV", "NoError", charge_end, charge_end)
                events.add(sid, cid, "Finishing", "NoError", end - timedelta(seconds=20), end)
                events.add(sid, cid, "Available", "NoError", end, end)
                moment = begin.replace(minute=begin.minute // 15 * 15, second=0, microsecond=0) + quarter
                while moment < end:
                    done = min((moment - begin).total_seconds() - 30, charging)
                    value = register + max(0, int(energy * done / charging))
                    samples.add(
                        tx_id,
                        sid,
                        cid,
                        moment,
                        "Energy.Active.Import.Register",
                        "",
                        "Outlet",
                        "Sample.Clock",
                        "Wh",
                        value,
                    )
                    samples.add(
                        tx_id,
                        sid,
                        cid,
                        moment,
                        "Power.Active.Import",
                        "",
                        "Outlet",
                        "Sample.Clock",
                        "W",
                        round(power) if moment < charge_end else 0,
                    )
                    moment += quarter
                charged.append((tx_id, user, sid, begin, energy, int(charging), int(idle)))
                register += energy
                free_at = end
                if rng.random() < 0.012 * fault_rate[sid]:
                    fault_at = end + timedelta(minutes=rng.uniform(1, 60))
                    repaired = fault_at + timedelta(seconds=min(rng.expovariate(1 / 5400), 3 * 86400))
                    events.add(sid, cid, "Faulted", rng.choice(ERRORS), fault_at, fault_at)
                    events.add(sid, cid, "Available", "NoError", repaired, repaired)
                    free_at = repaired
        if c_index % 200 == 199:
            print(
                f"  {c_index + 1} connectors, {tx_id} sessions, {samples.rows} samples, {events.rows} events "
                f"({time.monotonic() - t0:.0f} s)",
                flush=True,
            )
    for copier in (tx, samples, events):
        copier.flush()
    for model in tables:
        cursor.execute(f"ALTER TABLE {model._meta.db_table} ENABLE TRIGGER ALL")
    began = time.monotonic()
    for statement in restore:
        cursor.execute(statement)
    print(f"  indexes rebuilt in {time.monotonic() - began:.0f} s", flush=True)
    cursor.execute(f"SELECT setval(pg_get_serial_sequence('{Transaction._meta.db_table}', 'id'), %s)", [tx_id])

    offline = Copier(cursor, StationOfflinePeriod, ["station_id", "started_at", "ended_at", "updated_at"])
    for station in stations:
        for _ in range(poisson(rng, days / 15)):
            began = start + timedelta(seconds=rng.uniform(0, days * 86400))
            ended = began + timedelta(seconds=min(rng.expovariate(1 / 2700), 2 * 86400))
            if ended < now:
                offline.add(station.pk, began, ended, ended)
    offline.flush()
    print(
        f"  generated {tx_id} sessions, {samples.rows} meter samples, {events.rows} status events, "
        f"{offline.rows} offline periods ({time.monotonic() - t0:.0f} s)",
        flush=True,
    )
    generate_billing(cursor, rng, charged, stations, user_ids, now)
    for model in [*tables, StationOfflinePeriod]:
        cursor.execute(f"ANALYZE {model._meta.db_table}")
    print(f"  loaded in {time.monotonic() - t0:.0f} s", flush=True)


def generate_billing(cursor, rng, charged, stations, user_ids, now) -> None:
    from django.apps import apps

    if not apps.is_installed("billing"):
        return
    from billing.models import Invoice, Operator, Payment, SessionCharge, Tariff

    operator = Operator.objects.create(name="Bench operator", legal_name="Bench Charging Ltd", is_default=True)
    begin = min(row[3] for row in charged) - timedelta(days=1)
    prices = [
        ("Standard AC", "0.39"),
        ("Standard DC", "0.59"),
        ("City AC", "0.35"),
        ("Fleet", "0.29"),
        ("Night saver", "0.25"),
        ("Motorway DC", "0.69"),
    ]
    tariffs = [
        Tariff.objects.create(
            name=name,
            price_per_kwh=Decimal(price),
            start_fee=Decimal("0.50"),
            tax_rate=Decimal("19.00"),
            currency="EUR",
            valid_from=begin,
        )
        for name, price in prices
    ]
    site_of = {s.pk: s.site_id for s in stations}
    charges = Copier(
        cursor,
        SessionCharge,
        [
            "transaction_id",
            "status",
            "tariff_id",
            "operator_id",
            "user_id",
            "currency",
            "energy_wh",
            "charging_seconds",
            "idle_seconds",
            "net_amount",
            "tax_rate",
            "tax_amount",
            "gross_amount",
            "session_started_at",
            "priced_at",
            "breakdown",
        ],
    )
    cent = Decimal("0.01")
    for tx_id, user, sid, started, energy, charging, idle in charged:
        tariff = tariffs[site_of[sid] % len(tariffs)]
        net = (tariff.price_per_kwh * energy / 1000 + tariff.start_fee).quantize(cent)
        tax = (net * Decimal("0.19")).quantize(cent)
        status = "billable" if user else "no_customer"
        charges.add(
            tx_id,
            status,
            tariff.pk,
            operator.pk,
            user,
            "EUR",
            energy,
            charging,
            idle,
            net,
            "19.00",
            tax,
            net + tax,
            started,
            started,
            {},
        )
    charges.flush()
    invoices = Copier(
        cursor,
        Invoice,
        [
            "id",
            "operator_id",
            "customer_id",
            "kind",
            "purpose",
            "status",
            "number",
            "currency",
            "issued_at",
            "due_at",
            "paid_at",
            "net_total",
            "tax_total",
            "gross_total",
            "created_at",
            "updated_at",
        ],
    )
    payments = Copier(
        cursor,
        Payment,
        [
            "invoice_id",
            "user_id",
            "method",
            "amount",
            "currency",
            "status",
            "attempts",
            "succeeded_at",
            "created_at",
            "updated_at",
            "refunded_amount",
        ],
    )
    number = 0
    for months_ago in (3, 2, 1):
        issued = (now.replace(day=1) - timedelta(days=30 * (months_ago - 1))).replace(day=1, hour=3)
        for user in rng.sample(user_ids, k=min(len(user_ids), 15_000)):
            number += 1
            gross = Decimal(rng.randrange(500, 15_000)) / 100
            net = (gross / Decimal("1.19")).quantize(cent)
            paid = rng.random() > 0.04
            status = "paid" if paid else rng.choice(["open", "open", "uncollectible"])
            invoices.add(
                number,
                operator.pk,
                user,
                "invoice",
                "statement",
                status,
                f"INV-{number:07d}",
                "EUR",
                issued,
                issued + timedelta(days=14),
                issued + timedelta(days=2) if paid else None,
                net,
                gross - net,
                gross,
                issued,
                issued,
            )
            payments.add(
                number,
                user,
                rng.choice(["wallet", "card"]),
                gross,
                "EUR",
                "succeeded" if paid else "failed",
                1 if paid else 3,
                issued + timedelta(days=2) if paid else None,
                issued,
                issued,
                "0",
            )
    invoices.flush()
    payments.flush()
    cursor.execute(f"SELECT setval(pg_get_serial_sequence('{Invoice._meta.db_table}', 'id'), %s)", [number])
    print(f"  billing: {charges.rows} priced sessions, {invoices.rows} invoices", flush=True)


# ------------------------------------------------------------------------------------------- measuring


class QueryClock:
    """Wall time spent in the database (``connection.execute_wrapper``) while a request is served."""

    def __init__(self):
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - began


def timed_request(fn, runs: int) -> tuple[float, float, float, object]:
    """Median whole-response, in-database and Python CPU seconds of ``fn`` (a test client request), after a
    warm-up. On a shared machine the wall times include the waits for a core; the CPU time does not."""
    from django.db import connection

    fn()
    totals, in_db, cpu, result = [], [], [], None
    for _ in range(runs):
        clock = QueryClock()
        began, began_cpu = time.perf_counter(), time.process_time()
        with connection.execute_wrapper(clock):
            result = fn()
        totals.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
        in_db.append(clock.seconds)
    return statistics.median(totals), statistics.median(in_db), statistics.median(cpu), result


# What each page's time grows with, for the extrapolation to a full year of 10,000 stations:
# "network" (connectors x days of the rollups), "sessions" (every session or sample), "one station" (that
# station's sessions), "fixed" (one session, one page of a list).
SCALES_WITH = {
    "whole network": "network",
    "one site": "fixed",  # a site's rollup rows: its 10 stations' connector-days, whatever the network's size
    "one station": "one station",
    "one tariff": "sessions",
}
FULL_YEAR = {"stations": 10_000, "days": 365, "sessions_per_station_day": 4}


def get_page(client, label: str, url: str, scales: str, runs: int, results: list, query=None) -> None:
    seconds, in_db, cpu, response = timed_request(lambda: client.get(url, query or {}), runs)
    assert response.status_code == 200, (url, query, response.status_code)
    results.append((label, seconds, in_db, cpu, scales))
    print(
        f"{label:<50} {seconds * 1000:>7.0f} ms  (SQL {in_db * 1000:>5.0f} ms, Python CPU {cpu * 1000:>5.0f} ms)"
        f"  {scales}",
        flush=True,
    )


def operator(username: str):
    """A staff user with the operator-admin role (not a superuser: the role checks run as in production)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from accounts.roles import Role

    user, _ = get_user_model().objects.get_or_create(email=username)
    user.groups.add(Group.objects.get_or_create(name=Role.OPERATOR_ADMIN)[0])
    return user


def measure(runs: int) -> list[tuple[str, float, float, str]]:
    from django.contrib.auth import get_user_model
    from django.db.models import Count, F
    from django.test import Client
    from django.utils import timezone

    from analytics import money
    from analytics.views import DASHBOARDS
    from sessions.models import Transaction
    from stations.models import Site, Station

    client = Client()
    client.force_login(operator("bench-operator@bench.example"))
    today = timezone.localdate()
    site = Site.objects.order_by("pk").first()
    station = Station.objects.order_by("pk")[len(Station.objects.all()) // 2]
    driver = Transaction.objects.filter(user__isnull=False).order_by("-started_at").values_list("user", flat=True)[0]
    scopes = [
        ("last 30 days, whole network", {}),
        ("last 365 days, whole network", {"start": today - timedelta(days=364), "end": today, "grain": "month"}),
        ("last 30 days, one site", {"site": site.pk}),
        ("last 365 days, one site", {"start": today - timedelta(days=364), "end": today, "site": site.pk}),
        ("last 365 days, one station", {"start": today - timedelta(days=364), "end": today, "station": station.pk}),
    ]
    if money.available():
        from billing.models import Tariff

        scopes.append(("last 30 days, one tariff", {"tariff": Tariff.objects.order_by("pk").first().pk}))
    results = []
    print(f"\n{'page':<50} {'median':>9}   grows with  (of {runs}, whole HTTP response)")
    for name in DASHBOARDS:
        for label, query in scopes:
            if "tariff" in query and not DASHBOARDS[name].tariff:
                continue
            scales = SCALES_WITH[label.split(", ")[1]]
            get_page(client, f"{name} / {label}", f"/analytics/{name}/", scales, runs, results, query)
    get_page(
        client,
        "CSV export, utilisation per connector (30 days)",
        "/analytics/utilisation/export/connectors.csv",
        "network",
        runs,
        results,
    )
    get_page(client, "home page with KPIs", "/", "network", runs, results)
    driver_client = Client()
    driver_client.force_login(get_user_model().objects.get(pk=driver))
    get_page(driver_client, "driver's own page, this year", "/analytics/me/", "fixed", runs, results)

    # The operator's pages of one station and one session: the busiest station, the longest session.
    busiest = (
        Transaction.objects.values("station").annotate(n=Count("pk")).order_by("-n").values_list("station", "n")[0]
    )
    busy = Station.objects.get(pk=busiest[0])
    longest = (
        Transaction.objects.filter(stopped_at__isnull=False)
        .annotate(length=F("stopped_at") - F("started_at"))
        .order_by("-length")
        .values_list("pk", "length")[0]
    )
    print(f"busiest station {busy.ocpp_id}: {busiest[1]:,} sessions; longest session {longest[0]}: {longest[1]}")
    get_page(
        client, "station page, busiest station", f"/operator/stations/{busy.ocpp_id}/", "one station", runs, results
    )
    get_page(client, "session detail, longest session", f"/operator/sessions/{longest[0]}/", "fixed", runs, results)
    get_page(client, "session list, first page, with totals", "/operator/sessions/", "sessions", runs, results)
    get_page(
        client,
        "session list, busiest station",
        "/operator/sessions/",
        "one station",
        runs,
        results,
        {"station": busy.ocpp_id},
    )
    get_page(client, "station list, first page", "/operator/stations/", "stations", runs, results)
    return results


def report(results, *, stations: int, days: int, sessions: int, load_s: float | None) -> None:
    """The table of the run, each page extrapolated to a full year of 10,000 stations at 4 sessions a station a
    day where this run loaded less: its SQL time grown linearly with what it reads, plus its Python CPU time
    (which the waits for a core on a shared machine do not inflate). Linear is an upper bound for the index
    reads, about right for the scans."""
    full_sessions = FULL_YEAR["stations"] * FULL_YEAR["days"] * FULL_YEAR["sessions_per_station_day"]
    factors = {
        "network": FULL_YEAR["stations"] * FULL_YEAR["days"] / (stations * days),
        "sessions": full_sessions / max(sessions, 1),
        "one station": full_sessions / FULL_YEAR["stations"] / max(sessions / stations, 1),
        "stations": FULL_YEAR["stations"] / stations,
        "fixed": 1.0,
    }
    loaded = f"loaded in {load_s / 60:.0f} min" if load_s else "loaded earlier"
    print(
        f"\n{stations:,} stations, {days} days, {sessions:,} sessions "
        f"({sessions / stations / days:.2f} a station a day), {loaded}; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"full year: {FULL_YEAR['stations']:,} stations, {full_sessions:,} sessions")
    print(
        f"{'page':<50} {'median':>8} {'SQL':>8} {'Py CPU':>8} {'grows with':>12} {'x':>6} {'full year':>10}"
        "  (SQL x + Py CPU)"
    )
    for label, seconds, in_db, cpu, scales in results:
        factor = factors[scales]
        full = cpu + in_db * factor
        flag = "" if full < 1 else "  OVER 1 s"
        print(
            f"{label:<50} {seconds * 1000:>5.0f} ms {in_db * 1000:>5.0f} ms {cpu * 1000:>5.0f} ms {scales:>12}"
            f" {factor:>6.1f} {full * 1000:>7.0f} ms{flag}"
        )
    slowest = max(results, key=lambda item: item[1])
    verdict = "all under 1 s" if slowest[1] < 1 else "OVER 1 s"
    print(f"\nslowest measured: {slowest[0]} {slowest[1] * 1000:.0f} ms: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reload", action="store_true", help="drop the bench database and load it again")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    must_load = ensure_database(url, args.reload)
    load_s = None
    setup_django(url)
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from analytics.services import rollups_refresh

    call_command("migrate", verbosity=0)
    print(f"database {urlparse(url).path.lstrip('/')}")
    if must_load:
        print(f"loading {args.stations} stations, {args.sessions} sessions over {args.days} days ...", flush=True)
        began = time.perf_counter()
        generate(args.stations, args.sessions, args.days)
        rollups_began = time.perf_counter()
        rollups_refresh()
        load_s = time.perf_counter() - began
        print(f"rollups built from scratch (first refresh): {time.perf_counter() - rollups_began:.1f} s", flush=True)
    began = time.perf_counter()
    rollups_refresh(now=timezone.now())
    print(f"incremental rollup refresh (today and yesterday): {time.perf_counter() - began:.2f} s")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM charging_sessions_transaction")
        sessions = cursor.fetchone()[0]
        # The table is partitioned: its estimate is the sum of its partitions'.
        cursor.execute(
            "SELECT sum(greatest(c.reltuples, 0))::bigint FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'charging_sessions_metersample'::regclass"
        )
        samples = cursor.fetchone()[0] or 0
        cursor.execute("SELECT count(*) FROM analytics_connectorday")
        rollup_rows = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM stations_station")
        stations = cursor.fetchone()[0]
        # A dashboard reads at most a year; the generator loads two spare days.
        cursor.execute("SELECT least((max(day) - min(day)) + 1, 365) FROM analytics_connectorday")
        days = cursor.fetchone()[0] or args.days
    print(f"{sessions:,} sessions, ~{samples:,} meter samples, {rollup_rows:,} connector-day rollup rows")
    results = measure(args.runs)
    report(results, stations=stations, days=days, sessions=sessions, load_s=load_s)


if __name__ == "__main__":
    main()

"""Billing benchmark: prices 100,000 finished sessions and prints sessions/s.

Figures:

- engine: the pricing engine alone (``billing.pricing.price_session``) on the usage of the sessions
  (meter curve, idle time) loaded from the database, 100,000 prices computed in memory;
- end to end, one at a time: ``billing.services.session_charge_create`` per session, as the per-session
  Celery task runs it: the session row locked, its energy samples and status history read, the tariff
  (with peak/off-peak periods, time and idle fees) chosen, the charge stored, a receipt issued with its
  gap-free number and a payment created, one commit per session. ``--workers`` processes price disjoint
  sessions at once, as Celery workers would. One synchronous commit per session bounds this figure, so it
  runs on the first ``--end-to-end`` 2,000 sessions;
- end to end, in batches: ``billing.services.sessions_charge_batch`` (``PRICING_BATCH`` sessions, one
  transaction each: the same work, reads made once per batch, rows written in bulk, receipt numbers taken
  per batch) over the next ``--batched`` sessions, ``--workers`` processes at once;
- backlog sweep: what remains (a day's backlog after an outage) priced by ``sessions_price_missing``, the
  beat's sweep, in one process, as it runs after an outage;
- payments: the payments of all those receipts collected from the drivers' wallets by
  ``payments_collect_batch`` (the ``collect_payments`` task), ``--workers`` processes at once.

Each figure also says the CPU it took per session: the workers' own and their PostgreSQL backends' (read
from /proc, so only for a server on this machine). On a shared machine that, not the wall clock, is the
figure to compare: two cores can price 2 / (CPU ms per session) thousand sessions a second.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/voltgrid_bench .venv/bin/python bench/billing_pricing.py

The database named by DATABASE_URL is created and migrated when missing. The benchmark's own rows (site
"BENCH billing", stations BENCH-BILL-*, drivers bench-driver-*@example.com, operator "BENCH billing") are
deleted and created again on each run. Options: --sessions, --samples (per session), --workers, --end-to-end,
--batched.
"""

import argparse
import multiprocessing
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from pathlib import Path

from benchdb import backend_cpu_seconds, create_database_if_missing

ROOT = Path(__file__).resolve().parent.parent
SITE = "BENCH billing"
STATIONS = 200
DRIVERS = 2_000


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def delete_previous_run() -> None:
    """Remove the rows of an earlier run, children first, in plain SQL (the ORM's cascade collector is slow)."""
    from django.db import connection

    from billing.models import (
        DocumentSequence,
        Invoice,
        InvoiceLine,
        Operator,
        OperatorSite,
        Payment,
        PaymentAttempt,
        SessionCharge,
        Tariff,
        TariffPeriod,
        Wallet,
        WalletEntry,
    )
    from sessions.models import MeterSample, Transaction
    from stations.models import ConnectorStatusEvent, Station

    operator_ids = list(Operator.objects.filter(name=SITE).values_list("pk", flat=True))
    station_ids = list(Station.objects.filter(ocpp_id__startswith="BENCH-BILL-").values_list("pk", flat=True))
    statements = [
        (
            PaymentAttempt,
            "payment_id IN (SELECT id FROM {payment} WHERE invoice_id IN "
            "(SELECT id FROM {invoice} WHERE operator_id = ANY(%(operators)s)))",
        ),
        (Payment, "invoice_id IN (SELECT id FROM {invoice} WHERE operator_id = ANY(%(operators)s))"),
        (InvoiceLine, "invoice_id IN (SELECT id FROM {invoice} WHERE operator_id = ANY(%(operators)s))"),
        (SessionCharge, "operator_id = ANY(%(operators)s)"),
        (Invoice, "operator_id = ANY(%(operators)s)"),
        (DocumentSequence, "operator_id = ANY(%(operators)s)"),
        (MeterSample, "station_id = ANY(%(stations)s)"),
        (ConnectorStatusEvent, "station_id = ANY(%(stations)s)"),
        (Transaction, "station_id = ANY(%(stations)s)"),
        (TariffPeriod, "tariff_id IN (SELECT id FROM {tariff} WHERE name LIKE 'BENCH%%')"),
        (Tariff, "name LIKE 'BENCH%%'"),
    ]
    names = {"payment": Payment._meta.db_table, "invoice": Invoice._meta.db_table, "tariff": Tariff._meta.db_table}
    with connection.cursor() as cursor:
        for model, where in statements:
            cursor.execute(
                f"DELETE FROM {model._meta.db_table} WHERE {where.format(**names)}",
                {"operators": operator_ids, "stations": station_ids},
            )
    WalletEntry.objects.filter(wallet__user__email__startswith="bench-driver-").delete()
    Wallet.objects.filter(user__email__startswith="bench-driver-").delete()
    OperatorSite.objects.filter(operator_id__in=operator_ids).delete()
    Operator.objects.filter(pk__in=operator_ids).delete()
    Station.objects.filter(pk__in=station_ids).delete()


def create_data(sessions: int, samples: int) -> list[int]:
    """Stations at a Berlin site, drivers, a time-of-day tariff, and finished sessions with meter samples."""
    from django.contrib.auth import get_user_model

    from billing.models import Operator, OperatorSite, Tariff, TariffPeriod
    from sessions.models import MeterSample, Transaction
    from stations.models import ConnectorStatusEvent, Site, Station

    site, _ = Site.objects.get_or_create(name=SITE, defaults={"timezone": "Europe/Berlin"})
    operator = Operator.objects.create(
        name=SITE,
        legal_name="Bench Energy GmbH",
        address="Benchstr. 1\n10115 Berlin",  # an issuer with its legal details: receipts are issued at once
        vat_id="DE136695976",
        timezone="Europe/Berlin",
        invoice_prefix="BENCH-",
    )
    OperatorSite.objects.create(operator=operator, site=site)
    stations = Station.objects.bulk_create([Station(ocpp_id=f"BENCH-BILL-{i:04d}", site=site) for i in range(STATIONS)])
    User = get_user_model()
    existing = set(User.objects.filter(email__startswith="bench-driver-").values_list("email", flat=True))
    User.objects.bulk_create(
        [
            User(email=f"bench-driver-{i:05d}@example.com")
            for i in range(DRIVERS)
            if f"bench-driver-{i:05d}@example.com" not in existing
        ]
    )
    drivers = list(User.objects.filter(email__startswith="bench-driver-").values_list("pk", flat=True))
    fund_wallets(drivers)
    tariff = Tariff.objects.create(
        name="BENCH time of day",
        currency="EUR",
        tax_rate=Decimal("19"),
        site=site,
        valid_from=datetime(2020, 1, 1, tzinfo=UTC),
        price_per_kwh=Decimal("0.49"),
        price_per_minute=Decimal("0.01"),
        start_fee=Decimal("0.50"),
        idle_price_per_minute=Decimal("0.10"),
        idle_grace_minutes=15,
        max_price=Decimal("80"),
    )
    TariffPeriod.objects.create(
        tariff=tariff,
        name="Off-peak",
        weekdays="1234567",
        start_time=clock(22),
        end_time=clock(6),
        price_per_kwh=Decimal("0.35"),
        idle_price_per_minute=Decimal("0"),
    )
    TariffPeriod.objects.create(
        tariff=tariff,
        name="Weekend",
        position=1,
        weekdays="67",
        start_time=clock(0),
        end_time=clock(0),
        price_per_kwh=Decimal("0.42"),
    )

    rng = random.Random(42)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    batch = 2_000
    ids: list[int] = []
    for offset in range(0, sessions, batch):
        transactions, plans = [], []
        for index in range(offset, min(offset + batch, sessions)):
            begins = start + timedelta(minutes=index * 7 + rng.randint(0, 6))
            minutes = rng.randint(20, 240)
            charging = int(minutes * rng.uniform(0.6, 1.0))
            energy = int(charging / 60 * rng.uniform(3_000, 22_000))
            meter_start = rng.randint(0, 50_000_000)
            transactions.append(
                Transaction(
                    station=stations[index % STATIONS],
                    connector_id=1 + index % 2,
                    id_tag=f"BENCH{index}",
                    user_id=drivers[index % len(drivers)],
                    meter_start=meter_start,
                    meter_stop=meter_start + energy,
                    energy_wh=energy,
                    started_at=begins,
                    stopped_at=begins + timedelta(minutes=minutes),
                    status=Transaction.Status.COMPLETED,
                )
            )
            plans.append((begins, minutes, charging, energy, meter_start))
        transactions = Transaction.objects.bulk_create(transactions)
        meter_rows, status_rows = [], []
        for session, (begins, minutes, charging, energy, meter_start) in zip(transactions, plans, strict=True):
            for step in range(1, samples + 1):
                at_minute = minutes * step / (samples + 1)
                delivered = energy if at_minute >= charging else int(energy * at_minute / charging)
                meter_rows.append(
                    MeterSample(
                        transaction=session,
                        station_id=session.station_id,
                        connector_id=session.connector_id,
                        timestamp=begins + timedelta(minutes=at_minute),
                        unit="Wh",
                        location="Outlet",
                        context="Sample.Periodic",
                        value=meter_start + delivered,
                    )
                )
            status_rows += [
                ConnectorStatusEvent(
                    station_id=session.station_id,
                    connector_id=session.connector_id,
                    status="Charging",
                    timestamp=begins + timedelta(seconds=20),
                ),
                ConnectorStatusEvent(
                    station_id=session.station_id,
                    connector_id=session.connector_id,
                    status="SuspendedEV",
                    timestamp=begins + timedelta(minutes=charging),
                ),
            ]
        MeterSample.objects.bulk_create(meter_rows, batch_size=5_000)
        ConnectorStatusEvent.objects.bulk_create(status_rows, batch_size=5_000, ignore_conflicts=True)
        ids += [session.pk for session in transactions]
        print(f"\r  created {len(ids):,} sessions", end="", flush=True)
    print()
    return ids


def fund_wallets(drivers: list[int]) -> None:
    """Each driver's wallet, credited enough for every session of the run (their payments are collected)."""
    from billing.models import Wallet, WalletEntry

    credit = Decimal("1000000")
    wallets = Wallet.objects.bulk_create([Wallet(user_id=pk, currency="EUR", balance=credit) for pk in drivers])
    WalletEntry.objects.bulk_create(
        [
            WalletEntry(
                wallet=wallet,
                kind=WalletEntry.Kind.TOP_UP,
                amount=credit,
                balance_after=credit,
                reference=f"bench:{wallet.user_id}",
            )
            for wallet in wallets
        ],
        batch_size=5_000,
    )


def engine_rate(ids: list[int], limit: int) -> tuple[float, int]:
    """Sessions/s of the engine alone; usages are loaded first (not timed)."""
    from billing.pricing import TariffSpec, price_session
    from billing.selectors import session_usage, tariff_for
    from sessions.models import Transaction

    sample = Transaction.objects.filter(pk__in=ids[:limit]).select_related("station")
    usages = [session_usage(session) for session in sample]
    first = sample[0]
    spec = TariffSpec.from_model(tariff_for(station=first.station, at=first.started_at), "Europe/Berlin")
    rounds = max(1, len(ids) // len(usages))
    began = time.perf_counter()
    for _ in range(rounds):
        for usage in usages:
            price_session(spec, usage)
    return rounds * len(usages) / (time.perf_counter() - began), rounds * len(usages)


def timed(work):
    """``work()``'s count, with the CPU seconds it took here and in this process's PostgreSQL backend."""
    client, server = time.process_time(), backend_cpu_seconds() or 0.0
    done = work()
    return done, time.process_time() - client, (backend_cpu_seconds() or 0.0) - server


def price_share(ids: list[int]) -> tuple[int, float, float]:
    """One worker's part: what ``billing.tasks.price_session`` does, per session."""
    setup_django()
    from django.db import connection

    from billing.services import session_charge_create

    _quiet_broker()
    connection.close()

    def price_each() -> int:
        for transaction_id in ids:
            session_charge_create(transaction_id=transaction_id)
        return len(ids)

    return timed(price_each)


def _quiet_broker() -> None:
    """Payment collection is queued on commit; here to an in-memory broker, so it is timed on its own."""
    from cms.celery import app

    app.conf.task_always_eager, app.conf.broker_url = False, "memory://"


def batch_share(ids: list[int]) -> tuple[int, float, float]:
    """One worker's part of the batched figure: ``sessions_charge_batch``, a batch at a time."""
    setup_django()
    from django.db import connection

    from billing.services import sessions_charge_batch
    from billing.services.pricing import PRICING_BATCH

    _quiet_broker()
    connection.close()
    return timed(
        lambda: sum(
            sessions_charge_batch(transaction_ids=ids[start : start + PRICING_BATCH])
            for start in range(0, len(ids), PRICING_BATCH)
        )
    )


def collect_share(payment_ids: list[int]) -> tuple[int, float, float]:
    """One worker's part of the payments: ``payments_collect_batch``, as the ``collect_payments`` task."""
    setup_django()
    from django.db import connection

    from billing.services import payments_collect_batch
    from billing.services.pricing import PRICING_BATCH

    _quiet_broker()
    connection.close()
    return timed(
        lambda: sum(
            payments_collect_batch(payment_ids=payment_ids[start : start + PRICING_BATCH])
            for start in range(0, len(payment_ids), PRICING_BATCH)
        )
    )


def _in_workers(function, shares: list[list[int]]) -> tuple[int, float, str]:
    """Sessions done, seconds, and the CPU they took per session (workers + their backends)."""
    from django.db import connection

    connection.close()
    began = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(len(shares)) as pool:
        results = pool.map(function, shares)
    elapsed = time.perf_counter() - began
    done = sum(count for count, _client, _server in results)
    client = sum(client for _count, client, _server in results)
    server = sum(server for _count, _client, server in results)
    return done, elapsed, _cpu_per_session(done, client, server)


def _cpu_per_session(done: int, client: float, server: float) -> str:
    per = 1000 / max(done, 1)
    return f"CPU per session {per * (client + server):.2f} ms: {per * client:.2f} Python, {per * server:.2f} PostgreSQL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=8, help="energy register samples per session")
    parser.add_argument("--workers", type=int, default=2, help="processes pricing at once, like Celery workers")
    parser.add_argument("--end-to-end", type=int, default=2_000, help="sessions priced one at a time")
    parser.add_argument("--batched", type=int, default=50_000, help="sessions priced in batches by the workers")
    args = parser.parse_args()

    setup_django()
    import logging

    from django.conf import settings
    from django.core.management import call_command

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database for a meaningful figure.")
    logging.disable(logging.INFO)  # one log line per priced session would measure the console
    create_database_if_missing(settings.DATABASES["default"])
    call_command("migrate", verbosity=0, interactive=False)
    print("Preparing data ...")
    delete_previous_run()
    began = time.perf_counter()
    ids = create_data(args.sessions, args.samples)
    print(f"  {len(ids):,} sessions with {args.samples} samples each in {time.perf_counter() - began:.1f} s")

    rate, count = engine_rate(ids, limit=min(len(ids), 5_000))
    print(
        f"engine only:  {rate:>10,.0f} sessions/s  ({count:,} prices computed in memory, usage of "
        f"{min(len(ids), 5_000):,} distinct sessions)"
    )

    from billing.models import Invoice, Payment, SessionCharge
    from billing.services import sessions_price_missing

    one_by_one = ids[: args.end_to_end]
    batched = ids[args.end_to_end : args.end_to_end + args.batched]
    backlog = ids[args.end_to_end + args.batched :]

    priced, elapsed, cpu = _in_workers(price_share, [one_by_one[w :: args.workers] for w in range(args.workers)])
    print(
        f"end to end, one at a time: {priced / elapsed:>8,.0f} sessions/s  ({priced:,} sessions priced, invoiced "
        f"and payments created by {args.workers} worker(s) in {elapsed:.1f} s, one commit each; {cpu})"
    )
    if batched:
        # Contiguous shares, as the sweep or a backlog hands out batches.
        size = -(-len(batched) // args.workers)
        shares = [batched[start : start + size] for start in range(0, len(batched), size)]
        priced, elapsed, cpu = _in_workers(batch_share, shares)
        print(
            f"end to end, in batches:    {priced / elapsed:>8,.0f} sessions/s  ({priced:,} sessions priced, invoiced "
            f"and payments created by {args.workers} worker(s) in {elapsed:.1f} s, one commit per batch; {cpu})"
        )
    if backlog:
        _quiet_broker()
        began = time.perf_counter()
        priced, client, server = timed(
            lambda: sessions_price_missing(settle_seconds=0, days=100_000, budget_seconds=3_600)
        )
        elapsed, cpu = time.perf_counter() - began, _cpu_per_session(priced, client, server)
        print(
            f"backlog sweep:             {priced / elapsed:>8,.0f} sessions/s  ({priced:,} sessions left unpriced, "
            f"cleared by the beat's sweep in one process in {elapsed:.1f} s; {cpu})"
        )
    payments = list(
        Payment.objects.filter(invoice__operator__name=SITE, status=Payment.Status.PENDING)
        .order_by("user_id", "pk")
        .values_list("user_id", "pk")
    )
    # Each worker its own drivers, as batches of receipts mostly are.
    shares = [[pk for user_id, pk in payments if user_id % args.workers == w] for w in range(args.workers)]
    collected, elapsed, cpu = _in_workers(collect_share, shares)
    paid = Payment.objects.filter(invoice__operator__name=SITE, status=Payment.Status.SUCCEEDED).count()
    print(
        f"payments:                  {collected / elapsed:>8,.0f} payments/s  ({paid:,} of {collected:,} collected "
        f"from wallets by {args.workers} worker(s) in {elapsed:.1f} s; {cpu.replace('session', 'payment')})"
    )
    charges = SessionCharge.objects.filter(transaction_id__in=ids).count()
    numbers = sorted(
        int(number.rsplit("-", 1)[1])
        for number in Invoice.objects.filter(operator__name=SITE, number__isnull=False).values_list("number", flat=True)
    )
    gap_free = numbers == list(range(numbers[0], numbers[0] + len(numbers))) if numbers else True
    print(
        f"check:        {charges:,} charges, {len(numbers):,} invoices, numbers "
        f"{'gap-free' if gap_free else 'WITH GAPS'}"
    )


if __name__ == "__main__":
    main()

"""Ninety days of plausible network history, planned in Python and written in bulk (no OCPP is replayed).

The plan comes first (``plan_history``): per connector a timeline of sessions, faults, maintenance and
outages that never overlap, sessions drawn by hour of day, weekday and a slowly growing network. Then
``write_history`` stores it the way the CSMS would have: sessions with their meter curves and status
history, offline periods and closed alerts; each session priced by billing's own engine from the very
readings and status events stored (``billing.usage.build_usage``, ``billing.pricing.price_session``),
receipts numbered by billing's sequence, paid from the driver's wallet with a ledger entry each.
"""

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from analytics.models import StationOfflinePeriod
from billing.app_settings import app_settings as billing_settings
from billing.models import (
    Invoice,
    InvoiceLine,
    Operator,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    SessionCharge,
    Wallet,
    WalletEntry,
)
from billing.money import ZERO
from billing.pricing import TariffSpec, price_session
from billing.selectors import ENERGY_REGISTER, tariff_for
from billing.services.invoices import _customer_details, _session_line, invoice_recalculate, next_document_numbers
from billing.usage import build_usage
from demo.bulk import assign_ids, copy_objects, copy_rows
from demo.catalogue import CONNECTORS_PER_STATION, FAULT_CODES, TIMEZONE
from monitoring.models import Alert, AlertEvent
from sessions.models import MeterSample, Transaction
from stations.models import ConnectorStatusEvent, Station

# Sessions started per connector and day, before the weekday and growth factors.
RATE = {False: 0.55, True: 0.95}
# Relative chance of a session starting in each local hour: AC follows commuters, DC the road.
AC_HOURS = (1, 1, 0, 0, 0, 1, 3, 8, 10, 8, 5, 4, 4, 4, 4, 5, 7, 9, 9, 7, 5, 4, 3, 2)
DC_HOURS = (1, 1, 0, 0, 0, 1, 2, 4, 6, 6, 7, 8, 9, 8, 7, 8, 9, 10, 9, 7, 5, 3, 2, 1)
STOP_REASONS = (("EVDisconnected", 6), ("Local", 3), ("Remote", 1))


@dataclass
class Planned:
    """One session of the plan; ``curve`` is (moment, Wh delivered since the start)."""

    station: Station
    connector_id: int
    driver_index: int
    started_at: datetime
    charging_until: datetime
    stopped_at: datetime
    curve: list[tuple[datetime, int]]
    power_w: list[int]
    meter_start: int = 0
    stop_reason: str = "EVDisconnected"

    @property
    def energy_wh(self) -> int:
        return self.curve[-1][1]


@dataclass
class Plan:
    sessions: list[Planned] = field(default_factory=list)
    # (station, connector_id, start, end, error_code, info): connector 0 is the whole station.
    faults: list[tuple[Station, int, datetime, datetime, str, str]] = field(default_factory=list)
    maintenance: list[tuple[Station, datetime, datetime]] = field(default_factory=list)
    outages: list[tuple[Station, datetime, datetime]] = field(default_factory=list)


class _Timeline:
    """The busy intervals of one connector, to keep sessions, faults and outages apart."""

    def __init__(self):
        self.blocked: list[tuple[datetime, datetime]] = []
        self.free_from: datetime | None = None

    def is_free(self, start: datetime, end: datetime) -> bool:
        if self.free_from is not None and start < self.free_from:
            return False
        return not any(a < end and start < b for a, b in self.blocked)


def _poisson(rng: random.Random, mean: float) -> int:
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _weighted(rng: random.Random, pairs) -> object:
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights=weights)[0]


def _session_shape(rng: random.Random, model_power_w: int, dc: bool, start: datetime):
    """(charging_until, stopped_at, curve, power samples) of one session: AC at the car's constant power,
    DC tapering as the battery fills; some cars stay plugged in after charging (idle time)."""
    if dc:
        car_w = rng.choice((50_000, 75_000, 100_000, 135_000, 150_000))
        peak_w = min(model_power_w, car_w) * rng.uniform(0.85, 1.0)
        energy_wh = rng.uniform(12_000, 55_000)
        average_w = peak_w / 1.8  # the curve below starts at the peak and tapers
        idle = timedelta(minutes=rng.uniform(0.5, 4)) if rng.random() > 0.12 else timedelta(minutes=rng.uniform(16, 45))
    else:
        car_w = rng.choice((3_700, 7_400, 11_000, 11_000, 11_000, 22_000))
        peak_w = min(model_power_w, car_w) * rng.uniform(0.9, 1.0)
        energy_wh = rng.uniform(5_000, 32_000)
        average_w = peak_w
        idle = timedelta(minutes=rng.uniform(1, 60)) if rng.random() > 0.3 else timedelta(minutes=rng.uniform(60, 420))
    charging = timedelta(hours=energy_wh / average_w)
    charging_until = start + charging
    stopped_at = charging_until + idle
    # About a dozen samples while charging, at whole minutes, as a station's MeterValueSampleInterval gives.
    step = timedelta(seconds=max(60, round(charging.total_seconds() / 12 / 60) * 60))
    curve, power = [], []
    moment = start + step
    total = charging.total_seconds()
    while moment < stopped_at:
        elapsed = min((moment - start).total_seconds(), total) / total
        # DC: the delivered share follows 1-(1-x)^1.8, i.e. power falling off towards a full battery.
        share = 1 - (1 - elapsed) ** 1.8 if dc else elapsed
        curve.append((moment, round(energy_wh * share)))
        if moment >= charging_until:
            power.append(0)
        else:
            slope = 1.8 * (1 - elapsed) ** 0.8 if dc else 1.0  # d(share)/d(elapsed)
            power.append(round(average_w * slope * rng.uniform(0.97, 1.0)))
        moment += step
    curve.append((stopped_at, round(energy_wh)))
    return charging_until, stopped_at, curve, power


def plan_history(
    *,
    rng: random.Random,
    stations: list[tuple[Station, object]],
    drivers: int,
    fleet: set[int],
    fleet_site_id: int,
    start: datetime,
    end: datetime,
) -> Plan:
    """Sessions, faults, maintenance and outages from ``start`` to ``end`` for ``stations`` ((station, model))."""
    zone = ZoneInfo(TIMEZONE)
    plan = Plan()
    timelines = {(station.pk, n): _Timeline() for station, _ in stations for n in range(1, CONNECTORS_PER_STATION + 1)}
    days = (end - start).days

    for station, model in stations:
        # Outages: a few short ones, and now and then a long one (a modem, a power cut).
        for _ in range(_poisson(rng, 3.5)):
            a = start + timedelta(seconds=rng.uniform(0, (end - start).total_seconds() - 86_400))
            length = timedelta(minutes=rng.uniform(4, 180) if rng.random() > 0.15 else rng.uniform(300, 1600))
            plan.outages.append((station, a, a + length))
        # Faults of single connectors, cleared after minutes to hours; now and then the whole station.
        for _ in range(_poisson(rng, 2.5 if model.dc else 1.5)):
            a = start + timedelta(seconds=rng.uniform(0, (end - start).total_seconds() - 86_400))
            length = timedelta(minutes=rng.uniform(15, 360))
            code, info = rng.choice(FAULT_CODES)
            connector = 0 if rng.random() < 0.15 else rng.randint(1, CONNECTORS_PER_STATION)
            plan.faults.append((station, connector, a, a + length, code, info))
        if rng.random() < 0.4:
            a = start + timedelta(days=rng.randint(1, days - 2), hours=rng.choice((7, 8, 9)))
            plan.maintenance.append((station, a, a + timedelta(minutes=rng.uniform(45, 150))))
    for station, a, b in plan.outages + [(s, a, b) for s, a, b in plan.maintenance]:
        for n in range(1, CONNECTORS_PER_STATION + 1):
            timelines[(station.pk, n)].blocked.append((a, b))
    for station, connector, a, b, _, _ in plan.faults:
        for n in range(1, CONNECTORS_PER_STATION + 1) if connector == 0 else (connector,):
            timelines[(station.pk, n)].blocked.append((a, b))

    driver_free_from: dict[int, datetime] = {}
    first_day = start.astimezone(zone).date()
    for offset in range(days + 1):
        day = first_day + timedelta(days=offset)
        growth = 0.75 + 0.5 * offset / max(days, 1)
        weekday_factor = 0.7 if day.isoweekday() >= 6 else 1.0
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        starts = []
        for station, model in stations:
            hours = DC_HOURS if model.dc else AC_HOURS
            mean = RATE[model.dc] * CONNECTORS_PER_STATION * growth * weekday_factor
            for _ in range(_poisson(rng, mean)):
                hour = rng.choices(range(24), weights=hours)[0]
                starts.append((midnight + timedelta(hours=hour, seconds=rng.uniform(0, 3600)), station, model))
        for started_at, station, model in sorted(starts, key=lambda item: item[0]):
            if started_at < start:
                continue
            charging_until, stopped_at, curve, power = _session_shape(rng, model.power_w, model.dc, started_at)
            if stopped_at > end:
                continue
            margin = timedelta(minutes=2)
            connector = next(
                (
                    n
                    for n in range(1, CONNECTORS_PER_STATION + 1)
                    if timelines[(station.pk, n)].is_free(started_at - margin, stopped_at + margin)
                ),
                None,
            )
            if connector is None:
                continue
            prefer_fleet = station.site_id == fleet_site_id and rng.random() < 0.6
            candidates = sorted(fleet) if prefer_fleet else range(drivers)
            driver = next(
                (
                    d
                    for d in rng.sample(list(candidates), k=min(6, len(candidates)))
                    if driver_free_from.get(d, start) <= started_at
                ),
                None,
            )
            if driver is None:
                continue
            timelines[(station.pk, connector)].free_from = stopped_at + timedelta(minutes=1)
            driver_free_from[driver] = stopped_at + timedelta(hours=rng.uniform(4, 40))
            plan.sessions.append(
                Planned(
                    station=station,
                    connector_id=connector,
                    driver_index=driver,
                    started_at=started_at,
                    charging_until=charging_until,
                    stopped_at=stopped_at,
                    curve=curve,
                    power_w=power,
                    stop_reason=_weighted(rng, STOP_REASONS),
                )
            )
    plan.sessions.sort(key=lambda session: session.started_at)
    return plan


def _status_rows(plan: Plan, stations: list[Station], start: datetime) -> list[tuple]:
    """The status history each station would have reported for the plan."""
    rows = []
    for station in stations:
        for n in range(0, CONNECTORS_PER_STATION + 1):
            rows.append((station, n, start, "Available", ""))
    for session in plan.sessions:
        station, n = session.station, session.connector_id
        rows.append((station, n, session.started_at - timedelta(seconds=50), "Preparing", ""))
        rows.append((station, n, session.started_at, "Charging", ""))
        if session.stopped_at - session.charging_until > timedelta(seconds=60):
            rows.append((station, n, session.charging_until, "SuspendedEV", ""))
        rows.append((station, n, session.stopped_at, "Finishing", ""))
        rows.append((station, n, session.stopped_at + timedelta(seconds=40), "Available", ""))
    for station, n, a, b, code, _ in plan.faults:
        rows.append((station, n, a, "Faulted", code))
        rows.append((station, n, b, "Available", ""))
    for station, a, b in plan.maintenance:
        rows.append((station, 0, a, "Unavailable", ""))
        rows.append((station, 0, b, "Available", ""))
    info = dict(FAULT_CODES)
    # Received as sent: the columns of STATUS_COLUMNS.
    return [(station.pk, n, status, code, info.get(code, ""), "", "", at, at) for station, n, at, status, code in rows]


def _alerts(plan: Plan) -> list[Alert]:
    """The alerts the plan's faults and outages raised, each closed when its condition cleared."""
    alerts = []
    for station, n, a, b, code, info in plan.faults:
        if n == 0:
            continue
        alerts.append(
            Alert(
                station=station,
                kind=Alert.Kind.CONNECTOR_FAULT,
                severity=Alert.Severity.WARNING,
                subject=f"connector:{n}",
                connector_id=n,
                summary=f"Connector {n} of {station.ocpp_id} is Faulted: {code} ({info}).",
                details={"error_code": code, "info": info},
                opened_at=a,
                closed_at=b,
                close_reason="The connector reported Available.",
            )
        )
    for station, a, b in plan.outages:
        if b - a < timedelta(minutes=10):
            continue  # shorter than the alert's own delay: never raised
        alerts.append(
            Alert(
                station=station,
                kind=Alert.Kind.OFFLINE,
                severity=Alert.Severity.CRITICAL,
                summary=f"{station.ocpp_id} has sent nothing since {a:%Y-%m-%d %H:%M} UTC.",
                opened_at=a,
                closed_at=b,
                close_reason="The station is back online.",
            )
        )
    return alerts


@dataclass
class Written:
    sessions: int = 0
    meter_samples: int = 0
    status_events: int = 0
    offline_periods: int = 0
    alerts: int = 0
    invoices: int = 0
    payments: int = 0
    wallet_entries: int = 0


STATUS_COLUMNS = (
    "station_id",
    "connector_id",
    "status",
    "error_code",
    "info",
    "vendor_id",
    "vendor_error_code",
    "timestamp",
    "received_at",
)
SAMPLE_COLUMNS = (
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
    "signed_data",
)


def write_history(
    *,
    plan: Plan,
    stations: list[Station],
    drivers: list,
    tokens: list,
    fleet: set[int],
    operator: Operator,
    start: datetime,
    now: datetime,
    rng: random.Random,
    low_wallets: set[int],
) -> Written:
    """Store ``plan``: the CSMS's records of it, then its billing. Runs inside the caller's transaction."""
    written = Written()
    meter = defaultdict(lambda: rng.randint(150_000, 4_000_000))  # each connector's energy register, Wh
    for session in plan.sessions:
        key = (session.station.pk, session.connector_id)
        session.meter_start = meter[key]
        meter[key] += session.energy_wh + rng.randint(0, 30)  # a little self-consumption between sessions

    transactions = [
        Transaction(
            station=s.station,
            connector_id=s.connector_id,
            id_tag=tokens[s.driver_index].token,
            id_token=tokens[s.driver_index],
            id_token_type="ISO14443",
            user=drivers[s.driver_index],
            status=Transaction.Status.COMPLETED,
            authorization_status="Accepted",
            meter_start=s.meter_start,
            meter_stop=s.meter_start + s.energy_wh,
            energy_wh=s.energy_wh,
            started_at=s.started_at,
            stopped_at=s.stopped_at,
            stop_reason=s.stop_reason,
            stop_id_tag=tokens[s.driver_index].token if s.stop_reason == "Local" else "",
            created_at=s.started_at,
            updated_at=s.stopped_at,
        )
        for s in plan.sessions
    ]
    assign_ids(Transaction, transactions)
    for transaction in transactions:
        transaction.ocpp_transaction_id = str(transaction.pk)  # as the CSMS numbers a 1.6 station's sessions
    copy_objects(Transaction, transactions)
    written.sessions = len(transactions)

    def samples():
        for session, row in zip(plan.sessions, transactions, strict=True):
            head = (row.pk, session.station.pk, session.connector_id)
            for (moment, delivered), power in zip(session.curve[:-1], session.power_w, strict=True):
                written.meter_samples += 2
                yield (
                    *head,
                    moment,
                    ENERGY_REGISTER,
                    "",
                    "Outlet",
                    "Sample.Periodic",
                    "Wh",
                    session.meter_start + delivered,
                    "",
                )
                yield (*head, moment, "Power.Active.Import", "", "Outlet", "Sample.Periodic", "W", power, "")

    copy_rows(MeterSample, SAMPLE_COLUMNS, samples())
    events = _status_rows(plan, stations, start)
    copy_rows(ConnectorStatusEvent, STATUS_COLUMNS, events)
    written.status_events = len(events)

    periods = [
        StationOfflinePeriod(station=station, started_at=a, ended_at=b, updated_at=b) for station, a, b in plan.outages
    ]
    copy_objects(StationOfflinePeriod, periods)
    written.offline_periods = len(periods)

    alerts = _alerts(plan)
    Alert.objects.bulk_create(alerts)
    AlertEvent.objects.bulk_create(
        [
            AlertEvent(alert=alert, kind=AlertEvent.Kind.OPENED, message=alert.summary[:255], at=alert.opened_at)
            for alert in alerts
        ]
        + [
            AlertEvent(alert=alert, kind=AlertEvent.Kind.CLOSED, message=alert.close_reason, at=alert.closed_at)
            for alert in alerts
        ]
    )
    written.alerts = len(alerts)

    charges, invoices, lines = _bill(plan, transactions, drivers, fleet, operator, rng)
    payments, attempts, wallets, entries = _pay(invoices, drivers, now, rng, low_wallets)
    copy_objects(Invoice, invoices)
    copy_objects(SessionCharge, charges)
    copy_objects(InvoiceLine, lines)
    copy_objects(Payment, payments)
    copy_objects(PaymentAttempt, attempts)
    copy_objects(Wallet, wallets)
    copy_objects(WalletEntry, entries)
    written.invoices, written.payments, written.wallet_entries = len(invoices), len(payments), len(entries)
    return written


def _usage(session: Planned):
    """The session's usage exactly as billing.selectors.session_usage reads it back from the stored rows:
    meterStart, every energy register sample, meterStop, and the status events from start to stop."""
    readings = [(session.started_at, session.meter_start)]
    readings += [(moment, session.meter_start + delivered) for moment, delivered in session.curve[:-1]]
    readings.append((session.stopped_at, session.meter_start + session.energy_wh))
    status_events = [(session.started_at, "Charging")]
    if session.stopped_at - session.charging_until > timedelta(seconds=60):
        status_events.append((session.charging_until, "SuspendedEV"))
    return build_usage(
        started_at=session.started_at,
        ended_at=session.stopped_at,
        readings=readings,
        status_events=status_events,
        max_power_w=billing_settings.MAX_CHARGER_POWER_W,
    )


def _bill(plan, transactions, drivers, fleet, operator, rng) -> tuple[list, list, list]:
    """Price every session with billing's engine and issue its receipt, numbered by billing's sequence; the
    charges, receipts and their lines are returned unsaved."""
    specs: dict[tuple[int, bool], tuple] = {}
    charges, invoices, lines = [], [], []
    for session, row in zip(plan.sessions, transactions, strict=True):
        user = drivers[session.driver_index]
        key = (session.station.pk, session.driver_index in fleet)
        if key not in specs:
            # Every demo tariff is valid over the whole history: one look-up per station and kind of driver.
            tariff = tariff_for(station=session.station, user=user, at=session.started_at)
            specs[key] = (tariff, TariffSpec.from_model(tariff, operator.timezone))
        tariff, spec = specs[key]
        usage = _usage(session)
        price = price_session(spec, usage)
        charge = SessionCharge(
            transaction=row,
            status=SessionCharge.Status.BILLABLE if price.gross else SessionCharge.Status.FREE,
            tariff=tariff,
            operator=operator,
            user=user,
            currency=price.currency,
            energy_wh=usage.energy_wh,
            charging_seconds=max(0, int((usage.charging_until - usage.started_at).total_seconds())),
            idle_seconds=max(0, int((usage.ended_at - usage.charging_until).total_seconds())),
            net_amount=price.net,
            tax_rate=price.tax_rate,
            tax_amount=price.tax,
            gross_amount=price.gross,
            breakdown={**price.as_dict(), "detail": price.detail},
            session_started_at=session.started_at,
            priced_at=session.stopped_at + timedelta(seconds=3),
        )
        charges.append(charge)
        if charge.status == SessionCharge.Status.BILLABLE:
            issued_at = session.stopped_at + timedelta(seconds=rng.uniform(5, 90))
            invoice = Invoice(
                operator=operator,
                customer=user,
                purpose=Invoice.Purpose.SESSION,
                currency=price.currency,
                issued_at=issued_at,
                due_at=issued_at + timedelta(days=operator.payment_terms_days),
                issuer=operator.issuer_snapshot(),
                status=Invoice.Status.OPEN,
                created_at=issued_at,
                updated_at=issued_at,
                customer_details=_customer_details(user, user.billing_profile),
            )
            line = _session_line(charge, 1)
            invoice_recalculate(invoice, [line])
            charge.invoice = invoice
            invoices.append(invoice)
            lines.append(line)

    # Receipts are numbered in the order they were issued, by billing's own gap-free sequence.
    invoices.sort(key=lambda invoice: invoice.issued_at)
    by_year = defaultdict(list)
    for invoice in invoices:
        by_year[invoice.issued_at.astimezone(ZoneInfo(operator.timezone)).year].append(invoice)
    for same_year in by_year.values():
        numbers = next_document_numbers(
            operator=operator, kind=Invoice.Kind.INVOICE, issued_at=same_year[0].issued_at, count=len(same_year)
        )
        for invoice, number in zip(same_year, numbers, strict=True):
            invoice.number = number
    for line in lines:
        line.invoice = line.session_charge.invoice
    return charges, invoices, lines


@dataclass
class _Entry:
    at: datetime
    user: object
    kind: str
    amount: Decimal
    reference: str
    description: str
    payment: Payment | None = None


def _pay(invoices, drivers, now, rng, low_wallets) -> tuple[list, list, list, list]:
    """Each receipt paid from the wallet the way WalletGateway pays it, the wallet topped up (test payments)
    whenever it would not cover the receipt. Drivers in ``low_wallets`` let their last receipts fail, as an
    empty wallet does: those payments wait for their retry (the dunning list). Returns the payments, their
    attempts, the wallets and their ledger, unsaved; the receipts' status is set here."""
    currency = invoices[0].currency if invoices else billing_settings.CURRENCY
    balances = {user.pk: ZERO for user in drivers}
    top_ups = defaultdict(int)
    entries: list[_Entry] = []

    def top_up(user, at, amount):
        top_ups[user.pk] += 1
        balances[user.pk] += amount
        entries.append(
            _Entry(
                at,
                user,
                WalletEntry.Kind.TOP_UP,
                amount,
                f"demo-top-up:{user.pk}:{top_ups[user.pk]}",
                "Top-up (test payment, demo history)",
            )
        )

    for user in drivers:
        top_up(user, user.date_joined + timedelta(minutes=5), Decimal(rng.choice((30, 50, 50, 100))))

    payments, attempts = [], []
    failing_since = now - timedelta(days=4)
    for invoice in invoices:  # in the order they were issued
        user, due = invoice.customer, invoice.gross_total
        fails = user.pk in low_wallets and invoice.issued_at >= failing_since and balances[user.pk] < due
        if not fails and balances[user.pk] < due:
            # Drivers running low top up just what is due, and soon fall short.
            extra = Decimal(0) if user.pk in low_wallets else Decimal(rng.choice((20, 50, 50, 100)))
            top_up(user, invoice.issued_at - timedelta(minutes=rng.uniform(30, 600)), extra + (due // 10 + 1) * 10)
        payment = Payment(
            invoice=invoice,
            user=user,
            method=PaymentMethod.WALLET,
            amount=due,
            currency=currency,
            attempts=1,
            created_at=invoice.issued_at,
            updated_at=invoice.issued_at,
        )
        if fails:
            payment.status = Payment.Status.FAILED
            payment.next_retry_at = now + timedelta(hours=rng.uniform(1, 20))
            payment.last_error_code = "insufficient_funds"
            payment.last_error_message = f"The wallet holds {balances[user.pk]:.2f} {currency}; {due:.2f} is due."
        else:
            paid_at = invoice.issued_at + timedelta(seconds=2)
            payment.status, payment.succeeded_at, payment.updated_at = Payment.Status.SUCCEEDED, paid_at, paid_at
            invoice.status, invoice.paid_at, invoice.updated_at = Invoice.Status.PAID, paid_at, paid_at
            balances[user.pk] -= due
            entries.append(_Entry(paid_at, user, WalletEntry.Kind.PAYMENT, -due, "", "", payment))
        payments.append(payment)
    assign_ids(Payment, payments)
    for payment in payments:
        succeeded = payment.status == Payment.Status.SUCCEEDED
        if succeeded:
            payment.gateway_reference = f"payment:{payment.pk}"  # what WalletGateway answers
        attempts.append(
            PaymentAttempt(
                payment=payment,
                number=1,
                method=PaymentMethod.WALLET,
                succeeded=succeeded,
                gateway_reference=payment.gateway_reference,
                error_code=payment.last_error_code,
                error_message=payment.last_error_message,
                created_at=payment.updated_at,
            )
        )

    wallets = {user.pk: Wallet(user=user, currency=currency, balance=balances[user.pk]) for user in drivers}
    ledger, running = [], defaultdict(lambda: ZERO)
    for entry in sorted(entries, key=lambda e: (e.at, e.kind != WalletEntry.Kind.TOP_UP)):
        running[entry.user.pk] += entry.amount
        if entry.payment is not None:
            # As WalletGateway books it: the payment's id is the reference, the receipt in the description.
            entry.reference = f"payment:{entry.payment.pk}"
            entry.description = f"{Invoice.Purpose.SESSION.label} {entry.payment.invoice.number}"
        ledger.append(
            WalletEntry(
                wallet=wallets[entry.user.pk],
                kind=entry.kind,
                amount=entry.amount,
                balance_after=running[entry.user.pk],
                reference=entry.reference,
                description=entry.description,
                created_at=entry.at,
            )
        )
    return payments, attempts, list(wallets.values()), ledger

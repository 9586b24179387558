"""Reads of the billing app: which tariff and issuer apply, what a session costs so far, may a driver charge."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from billing.app_settings import app_settings
from billing.models import (
    BillingProfile,
    DriverGroup,
    Invoice,
    Operator,
    OperatorSite,
    Payment,
    PaymentMethod,
    SessionCharge,
    Subscription,
    Tariff,
    Wallet,
)
from billing.money import WH_PER_KWH, ZERO
from billing.pricing import Allowance, Price, PriceLine, TariffSpec, Usage, planned_usage, price_session
from billing.usage import build_usage

ENERGY_REGISTER = "Energy.Active.Import.Register"
# Readings of what the car received (blank: a sample stored without a location).
DELIVERY_LOCATIONS = ("", "Outlet", "Cable", "EV")
LINE_PHASES = ("L1", "L2", "L3")


def tariff_for(*, station, user=None, at: datetime) -> Tariff | None:
    """The tariff in force at ``at`` for ``user`` charging at ``station`` (precedence: see ``Tariff``)."""
    place = Q(station=station) | Q(station__isnull=True, site__isnull=True)
    if station.site_id:
        place |= Q(station__isnull=True, site_id=station.site_id)
    for_whom = Q(driver_group__isnull=True)
    if user is not None and user.pk:
        for_whom |= Q(driver_group__members=user)
    candidates = Tariff.objects.filter(
        place,
        for_whom,
        Q(valid_until__isnull=True) | Q(valid_until__gt=at),
        valid_from__lte=at,
    ).prefetch_related("periods")
    return _first_in_precedence(candidates, station)


def _first_in_precedence(candidates, station) -> Tariff | None:
    return min(
        candidates,
        key=lambda tariff: (_precedence(tariff, station), -tariff.valid_from.timestamp(), -tariff.pk),
        default=None,
    )


class TariffBook:
    """``tariff_for`` of many sessions (the batch pricing): the tariffs in force at their stations over a span of
    time and the driver groups of the drivers, read once; each session's choice made from them by the same rules."""

    def __init__(self, *, since: datetime, until: datetime, user_ids, stations):
        site_ids = {station.site_id for station in stations if station.site_id}
        place = (
            Q(station_id__in={station.pk for station in stations})
            | Q(station__isnull=True, site__isnull=True)
            | Q(station__isnull=True, site_id__in=site_ids)
        )
        self.tariffs = list(
            Tariff.objects.filter(place, Q(valid_until__isnull=True) | Q(valid_until__gt=since), valid_from__lte=until)
            .prefetch_related("periods")
            .order_by("pk")
        )
        self.groups: dict[int, set[int]] = {}
        members = DriverGroup.members.through.objects.filter(user_id__in=[pk for pk in user_ids if pk])
        for user_id, group_id in members.values_list("user_id", "drivergroup_id"):
            self.groups.setdefault(user_id, set()).add(group_id)

    def tariff_for(self, *, station, user=None, at: datetime) -> Tariff | None:
        groups = self.groups.get(user.pk, set()) if user is not None and user.pk else set()
        candidates = [
            tariff
            for tariff in self.tariffs
            if (
                tariff.station_id == station.pk
                or (tariff.station_id is None and tariff.site_id is None)
                or (tariff.station_id is None and station.site_id and tariff.site_id == station.site_id)
            )
            and (tariff.driver_group_id is None or tariff.driver_group_id in groups)
            and tariff.valid_from <= at
            and (tariff.valid_until is None or tariff.valid_until > at)
        ]
        return _first_in_precedence(candidates, station)


def _precedence(tariff: Tariff, station) -> int:
    """0 is the most specific: a group's tariff at the station; 5 the public network-wide tariff."""
    place = 0 if tariff.station_id == station.pk else 1 if tariff.site_id else 2
    return place if tariff.driver_group_id else 3 + place


def operator_for(station) -> Operator | None:
    """The operator billing sessions at ``station``: its site's, else the default one."""
    if not station.site_id:
        return Operator.objects.filter(is_default=True).first()
    candidates = Operator.objects.filter(Q(is_default=True) | Q(site_links__site_id=station.site_id)).annotate(
        for_site=Exists(OperatorSite.objects.filter(operator=OuterRef("pk"), site_id=station.site_id))
    )
    return max(candidates, key=lambda operator: operator.for_site, default=None)


def timezone_for(station, operator: Operator | None = None) -> str:
    if station.site_id and station.site.timezone:
        return station.site.timezone
    return operator.timezone if operator else settings.TIME_ZONE


def station_timezone(station) -> str:
    """The zone the station's sessions are priced and invoiced in (``timezone_for`` its billing operator); the
    operator is looked up only for a station whose site names no zone."""
    if station.site_id and station.site.timezone:
        return station.site.timezone
    return timezone_for(station, operator_for(station))


def live_subscription(user, *, at: datetime | None = None) -> Subscription | None:
    if user is None or not user.pk:
        return None
    at = at or timezone.now()
    return (
        Subscription.objects.select_related("plan")
        .filter(user=user, status=Subscription.Status.ACTIVE, current_period_start__lte=at, current_period_end__gt=at)
        .first()
    )


def allowance_of(subscription: Subscription | None, currency: str) -> Allowance:
    if subscription is None or subscription.plan.currency != currency:
        return Allowance()
    plan = subscription.plan
    return Allowance(
        included_wh=max(0, plan.included_energy_wh - subscription.included_wh_used),
        energy_discount_percent=plan.energy_discount_percent,
    )


def session_usage(transaction, *, until: datetime | None = None) -> Usage:
    """The usage of a session from its meter samples and its connector's status history; a running one's until
    ``until`` (default: now)."""
    return sessions_usage([transaction], until=None if until is None else {transaction.pk: until})[transaction.pk]


def sessions_usage(transactions, *, until: Mapping[int, datetime] | None = None) -> dict[int, Usage]:
    """``session_usage`` of many sessions at once (the batch pricing, the running costs): two queries for all.

    A stopped session's usage runs to its stop, a running one's to ``until[pk]`` (default: now).
    """
    from sessions.models import MeterSample
    from stations.models import ConnectorStatusEvent

    if not transactions:
        return {}
    now = timezone.now()
    ends = {session.pk: session.stopped_at or (until or {}).get(session.pk) or now for session in transactions}
    samples: dict[int, list] = {session.pk: [] for session in transactions}
    since = min(session.started_at for session in transactions)
    last = max(ends.values())
    rows = (
        MeterSample.objects.filter(
            transaction_id__in=list(samples),
            measurand=ENERGY_REGISTER,
            location__in=DELIVERY_LOCATIONS,
            value__isnull=False,
            timestamp__gte=since,  # the batch's span: only its months' partitions are read
            timestamp__lte=last,
        )
        .order_by("transaction_id", "timestamp", "pk")
        .values_list("transaction_id", "timestamp", "phase", "value")
    )
    for transaction_id, moment, phase, value in rows:
        samples[transaction_id].append((moment, phase, value))
    events: dict[tuple[int, int], list] = {}
    rows = (
        ConnectorStatusEvent.objects.filter(
            station_id__in={session.station_id for session in transactions},
            timestamp__gte=since,
            timestamp__lt=last,
        )
        .order_by("timestamp", "pk")
        .values_list("station_id", "connector_id", "timestamp", "status")
    )
    for station_id, connector_id, moment, status in rows:
        events.setdefault((station_id, connector_id), []).append((moment, status))
    usages = {}
    for session in transactions:
        started, ended = session.started_at, ends[session.pk]
        within = [sample for sample in samples[session.pk] if started <= sample[0] <= ended]
        history = events.get((session.station_id, session.connector_id), ())
        usages[session.pk] = _usage_of(
            session, ended, within, [event for event in history if started <= event[0] < ended]
        )
    return usages


def _usage_of(transaction, ended_at: datetime, samples, status_events: list) -> Usage:
    readings = [] if transaction.meter_start is None else [(transaction.started_at, transaction.meter_start)]
    readings += _register_totals(samples)
    if transaction.stopped_at and transaction.meter_stop is not None:
        readings.append((transaction.stopped_at, transaction.meter_stop))
    return build_usage(
        started_at=transaction.started_at,
        ended_at=ended_at,
        readings=readings,
        status_events=status_events,
        max_power_w=app_settings.MAX_CHARGER_POWER_W,
    )


def _register_totals(samples) -> list[tuple[datetime, int]]:
    """One register value per moment: the reading without a phase, else the sum of the line phases."""
    by_moment: dict[datetime, dict[str, float]] = {}
    for moment, phase, value in samples:
        by_moment.setdefault(moment, {})[phase] = value
    totals = []
    for moment, values in by_moment.items():
        if "" in values:
            totals.append((moment, round(values[""])))
        elif any(phase in values for phase in LINE_PHASES):
            totals.append((moment, round(sum(values.get(phase, 0) for phase in LINE_PHASES))))
    return totals


def driver_of(transaction):
    """The driver to bill: the session's user, else the owner of the ID token used."""
    if transaction.user_id:
        return transaction.user
    if transaction.id_token_id and transaction.id_token.owner_id:
        return transaction.id_token.owner
    return None


@dataclass(frozen=True)
class RunningCost:
    price: Price | None
    tariff: Tariff | None
    energy_wh: int
    as_of: datetime


def session_running_cost(transaction, *, at: datetime | None = None) -> RunningCost:
    """What a session costs so far (or cost, once stopped): for the live session page and the API.

    Nothing is stored; the subscription's included energy is read, not consumed.
    """
    return sessions_running_cost([(transaction, at or timezone.now())])[0]


def sessions_running_cost(asked: list[tuple]) -> list[RunningCost]:
    """``session_running_cost`` of many (session, as of) at once, in their order: what the 2.0.1 chargers are
    told while they charge, a few queries for all of them (``BatchPricingReads``)."""
    charges = {
        charge.transaction_id: charge
        for charge in SessionCharge.objects.filter(
            transaction_id__in=[session.pk for session, _ in asked]
        ).select_related("tariff")
    }
    running = [(session, at) for session, at in asked if session.pk not in charges]
    reads = BatchPricingReads([session for session, _ in running], until={session.pk: at for session, at in running})
    costs = []
    for session, at in asked:
        if (charge := charges.get(session.pk)) is not None:
            price = _stored_price(charge)
            costs.append(
                RunningCost(price=price, tariff=charge.tariff, energy_wh=charge.energy_wh, as_of=charge.priced_at)
            )
            continue
        usage = reads.usage(session)
        user = driver_of(session)
        tariff = reads.tariff(station=session.station, user=user, at=session.started_at)
        if tariff is None:
            costs.append(RunningCost(price=None, tariff=None, energy_wh=usage.energy_wh, as_of=at))
            continue
        spec = TariffSpec.from_model(tariff, reads.timezone(session.station))
        allowance = allowance_of(reads.subscription(user, at=session.started_at), tariff.currency)
        price = price_session(spec, usage, allowance)
        costs.append(RunningCost(price=price, tariff=tariff, energy_wh=usage.energy_wh, as_of=at))
    return costs


class PricingReads:
    """What pricing reads besides the session: one session's worth, a few queries each."""

    def operator(self, station):
        return operator_for(station)

    def timezone(self, station) -> str:
        return station_timezone(station)

    def usage(self, session):
        return session_usage(session)

    def tariff(self, *, station, user, at):
        return tariff_for(station=station, user=user, at=at)

    def subscription(self, user, *, at):
        return live_subscription(user, at=at)


class BatchPricingReads(PricingReads):
    """The same reads for a batch of sessions, each made once for all of them: usages in two queries (a running
    session's until ``until[pk]``), the tariffs in force at their stations and the drivers' groups in two,
    operators and zones once per site, the drivers' live subscriptions in one."""

    def __init__(self, sessions: list, *, until: Mapping[int, datetime] | None = None):
        self._operators: dict = {}
        self._zones: dict = {}
        if not sessions:
            return
        self._usages = sessions_usage(sessions, until=until)
        user_ids = {user.pk for user in map(driver_of, sessions) if user is not None}
        starts = [session.started_at for session in sessions]
        self._tariffs = TariffBook(
            since=min(starts), until=max(starts), user_ids=user_ids, stations=[session.station for session in sessions]
        )
        self._subscriptions = {
            subscription.user_id: subscription
            for subscription in Subscription.objects.select_related("plan").filter(
                user_id__in=user_ids, status=Subscription.Status.ACTIVE
            )
        }

    def operator(self, station):
        if station.site_id not in self._operators:
            self._operators[station.site_id] = operator_for(station)
        return self._operators[station.site_id]

    def timezone(self, station) -> str:
        if station.site_id not in self._zones:
            self._zones[station.site_id] = station_timezone(station)
        return self._zones[station.site_id]

    def usage(self, session):
        return self._usages[session.pk]

    def tariff(self, *, station, user, at):
        return self._tariffs.tariff_for(station=station, user=user, at=at)

    def subscription(self, user, *, at):
        """``live_subscription``: a driver has one active subscription at most (``one_live_subscription``)."""
        live = self._subscriptions.get(user.pk) if user is not None else None
        if live is None or not live.current_period_start <= at < live.current_period_end:
            return None
        return live


def _stored_price(charge: SessionCharge) -> Price:
    return Price(
        currency=charge.currency,
        tax_rate=charge.tax_rate,
        net=charge.net_amount,
        tax=charge.tax_amount,
        gross=charge.gross_amount,
        subtotal=Decimal(charge.breakdown.get("subtotal", charge.net_amount)),
        energy_wh=charge.energy_wh,
        charging_seconds=charge.charging_seconds,
        idle_seconds=charge.idle_seconds,
        included_wh=charge.included_energy_wh,
        tariff_id=charge.tariff_id,
        free_reason=charge.breakdown.get("free_reason", ""),
    )


def session_price_estimate(
    *, station, user=None, energy_wh: int, minutes: int, starts_at: datetime | None = None
) -> tuple[Tariff | None, Price | None]:
    """The price of a planned session (energy delivered evenly, no idle time), shown before starting."""
    starts_at = starts_at or timezone.now()
    tariff = tariff_for(station=station, user=user, at=starts_at)
    if tariff is None:
        return None, None
    spec = TariffSpec.from_model(tariff, station_timezone(station))
    allowance = allowance_of(live_subscription(user, at=starts_at), tariff.currency)
    usage = planned_usage(starts_at=starts_at, energy_wh=energy_wh, minutes=minutes)
    return tariff, price_session(spec, usage, allowance)


def profile_of(user) -> BillingProfile:
    """The user's billing profile, unsaved defaults if they have none yet."""
    return BillingProfile.objects.filter(user=user).first() or BillingProfile(user=user)


def unbilled_amount(user, currency: str) -> Decimal:
    """Priced sessions not yet on an issued invoice (a monthly statement still open), gross."""
    total = SessionCharge.objects.filter(
        Q(invoice__isnull=True) | Q(invoice__status=Invoice.Status.DRAFT),
        user=user,
        currency=currency,
        status=SessionCharge.Status.BILLABLE,
    ).aggregate(total=Sum("gross_amount"))["total"]
    return total or ZERO


def wallet_available_balance(user) -> tuple[Decimal, str]:
    """The wallet balance less what is already owed and not yet collected."""
    wallet = Wallet.objects.filter(user=user).first()
    currency = wallet.currency if wallet else app_settings.CURRENCY
    balance = wallet.balance if wallet else ZERO
    owed = (
        Payment.objects.filter(
            user=user,
            currency=currency,
            method=PaymentMethod.WALLET,
            status__in=[Payment.Status.PENDING, Payment.Status.FAILED, Payment.Status.PROCESSING],
        ).aggregate(total=Sum("amount"))["total"]
        or ZERO
    )
    return balance - owed - unbilled_amount(user, currency), currency


def user_can_start_charging(user, *, station=None) -> tuple[bool, str]:
    """Whether ``user`` may start a session now as far as money goes, and if not, why (for the driver)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False, "Log in to charge."
    if Payment.objects.filter(user=user, status__in=[Payment.Status.FAILED, Payment.Status.UNCOLLECTIBLE]).exists():
        return False, "A payment failed: settle your open invoice or update your payment method first."
    if station is not None:
        tariff = tariff_for(station=station, user=user, at=timezone.now())
        if tariff is not None and _is_free(tariff):
            return True, ""
    profile = profile_of(user)
    if profile.payment_method == PaymentMethod.CARD:
        if not profile.has_card:
            return False, "Add a payment card first."
        return True, ""
    available, currency = wallet_available_balance(user)
    if available <= app_settings.WALLET_MIN_BALANCE:
        return False, f"Your wallet is empty ({available:.2f} {currency} available): top it up to charge."
    return True, ""


def _is_free(tariff: Tariff) -> bool:
    prices = [
        tariff.price_per_kwh,
        tariff.price_per_minute,
        tariff.start_fee,
        tariff.idle_price_per_minute,
        tariff.min_price or ZERO,
    ]
    prices += [
        value or ZERO
        for period in tariff.periods.all()
        for value in (period.price_per_kwh, period.price_per_minute, period.idle_price_per_minute)
    ]
    return not any(prices)


def invoices_of(user) -> QuerySet[Invoice]:
    """A driver's issued invoices and credit notes (drafts are not documents yet)."""
    return Invoice.objects.filter(customer=user).exclude(status=Invoice.Status.DRAFT).select_related("operator")


def invoices_for_staff(*, filters: dict) -> QuerySet[Invoice]:
    """All invoices, filtered by status, kind, purpose, operator, customer e-mail, issue date range, number."""
    queryset = Invoice.objects.select_related("operator", "customer", "payment")
    if filters.get("status"):
        queryset = queryset.filter(status=filters["status"])
    if filters.get("kind"):
        queryset = queryset.filter(kind=filters["kind"])
    if filters.get("purpose"):
        queryset = queryset.filter(purpose=filters["purpose"])
    if filters.get("operator"):
        queryset = queryset.filter(operator=filters["operator"])
    if filters.get("customer"):
        queryset = queryset.filter(customer__email__icontains=filters["customer"])
    if filters.get("number"):
        queryset = queryset.filter(number__icontains=filters["number"])
    if filters.get("issued_from"):
        queryset = queryset.filter(issued_at__date__gte=filters["issued_from"])
    if filters.get("issued_to"):
        queryset = queryset.filter(issued_at__date__lte=filters["issued_to"])
    return queryset.order_by("-issued_at", "-id")


def dunning_list() -> QuerySet[Payment]:
    """Payments that failed and are being retried, or failed for good: the operator's dunning list."""
    return (
        Payment.objects.filter(status__in=[Payment.Status.FAILED, Payment.Status.UNCOLLECTIBLE])
        .select_related("invoice", "user", "invoice__operator")
        .order_by("next_retry_at", "-updated_at")
    )


@dataclass(frozen=True)
class SessionPriceBreakdown:
    """A session's price for the operator: the stored charge and its lines once priced, else what it costs so
    far; and the issued invoice it is on, if any."""

    charge: SessionCharge | None
    cost: RunningCost
    lines: list[PriceLine]
    invoice: Invoice | None


def session_price_breakdown(transaction) -> SessionPriceBreakdown:
    charge = SessionCharge.objects.filter(transaction=transaction).select_related("tariff", "invoice").first()
    cost = session_running_cost(transaction)
    if charge is not None:
        lines = [
            PriceLine(
                kind=line["kind"],
                description=line["description"],
                quantity=Decimal(line["quantity"]),
                unit=line["unit"],
                unit_price=Decimal(line["unit_price"]),
                amount=Decimal(line["amount"]),
            )
            for line in charge.breakdown.get("lines", [])
        ]
    else:
        lines = list(cost.price.lines) if cost.price else []
    invoice = charge.invoice if charge and charge.invoice and charge.invoice.status != Invoice.Status.DRAFT else None
    return SessionPriceBreakdown(charge=charge, cost=cost, lines=lines, invoice=invoice)


def tariff_timezone(tariff: Tariff) -> str:
    """The time zone a tariff's periods are read in: its site's (or its station's site's), else the default
    operator's, as pricing does for a session at one of its stations."""
    site = tariff.site if tariff.site_id else tariff.station.site if tariff.station_id else None
    if site is not None and site.timezone:
        return site.timezone
    operator = Operator.objects.filter(is_default=True).first()
    return operator.timezone if operator else settings.TIME_ZONE


def tariff_preview(*, spec: TariffSpec, energy_kwh: Decimal, minutes: int, starts_at: datetime) -> Price:
    """What a sample session (energy delivered evenly over ``minutes`` from ``starts_at``) costs under ``spec``:
    the engine's own ``planned_usage`` and ``price_session``, as a driver's estimate is computed."""
    energy_wh = int((energy_kwh * WH_PER_KWH).to_integral_value(rounding=ROUND_HALF_UP))
    return price_session(spec, planned_usage(starts_at=starts_at, energy_wh=energy_wh, minutes=minutes))


def tariffs_for_staff(*, filters: dict) -> QuerySet[Tariff]:
    tariffs = Tariff.objects.select_related("station", "site", "driver_group")
    if filters.get("q"):
        tariffs = tariffs.filter(name__icontains=filters["q"].strip())
    if filters.get("currency"):
        tariffs = tariffs.filter(currency=filters["currency"].upper())
    if filters.get("in_force"):
        now = timezone.now()
        tariffs = tariffs.filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now), valid_from__lte=now)
    return tariffs.order_by("name", "-valid_from")


def payments_for_staff(*, filters: dict) -> QuerySet[Payment]:
    payments = Payment.objects.select_related("invoice", "user")
    if filters.get("status"):
        payments = payments.filter(status=filters["status"])
    if filters.get("method"):
        payments = payments.filter(method=filters["method"])
    if filters.get("customer"):
        payments = payments.filter(user__email__icontains=filters["customer"].strip())
    return payments.order_by("-created_at", "-id")


def drivers_for_staff(*, search: str = "") -> QuerySet:
    """Accounts that are not staff, with their wallet and how many cards and open invoices they have."""
    from django.contrib.auth import get_user_model

    drivers = get_user_model().objects.filter(is_staff=False, is_superuser=False)
    if search.strip():
        term = search.strip()
        drivers = drivers.filter(
            Q(email__icontains=term)
            | Q(first_name__icontains=term)
            | Q(last_name__icontains=term)
            | Q(billing_profile__billing_name__icontains=term)
        )
    return (
        drivers.select_related("wallet")
        .annotate(
            open_invoices=Count("invoices", filter=Q(invoices__status=Invoice.Status.OPEN), distinct=True),
        )
        .order_by("email")
    )


def issuers_incomplete() -> list[Operator]:
    """Operators whose legal details an invoice needs are missing: their invoices wait (see ``_issue``)."""
    return [operator for operator in Operator.objects.all() if operator.missing_legal_details()]


def invoices_waiting(*, operators=None) -> QuerySet[Invoice]:
    """Drafts due to be issued (receipts, statements of a month that is over, credit notes): they wait only
    while their issuer's legal details are incomplete."""
    drafts = Invoice.objects.filter(
        ~Q(purpose=Invoice.Purpose.STATEMENT) | Q(period_end__lte=timezone.now()), status=Invoice.Status.DRAFT
    )
    return drafts.filter(operator__in=operators) if operators is not None else drafts


@dataclass(frozen=True)
class SessionBill:
    """What a driver is told a session cost: the amount and the invoice it is on, or why there is nothing to pay.

    ``state``: charged, no_charge, pending (not priced yet), review (held by the operator), in_progress, refused.
    """

    state: str
    text: str
    gross: Decimal | None = None
    currency: str = ""
    invoice: Invoice | None = None  # an issued invoice; a draft statement is not shown as one

    @property
    def on_statement(self) -> bool:
        return self.state == "charged" and self.invoice is None


def session_bill(session) -> SessionBill:
    """The driver's view of ``session``'s charge (read through ``session.charge``: select it with the session).

    A session that cost nothing says so, with why, the way a receipt would: it gets no invoice (there is
    nothing to invoice), and a driver should not wait for one.
    """
    from sessions.models import Transaction

    if session.status == Transaction.Status.REFUSED:
        return SessionBill("refused", "Not charged: the card was refused.")
    if session.status == Transaction.Status.ACTIVE:
        return SessionBill("in_progress", "In progress")
    charge = getattr(session, "charge", None)
    if charge is None:
        return SessionBill("pending", "Being priced")
    if charge.status == SessionCharge.Status.HELD:
        return SessionBill("review", "Being checked by the operator before it is billed")
    if charge.status == SessionCharge.Status.BILLABLE:
        invoice = charge.invoice if charge.invoice and charge.invoice.status != Invoice.Status.DRAFT else None
        return SessionBill("charged", "", charge.gross_amount, charge.currency, invoice)
    amount = charge.gross_amount if charge.currency else None  # no tariff: no currency to say 0.00 in
    return SessionBill("no_charge", f"No charge: {_why_free(charge)}", amount, charge.currency)


def _why_free(charge: SessionCharge) -> str:
    if charge.status == SessionCharge.Status.NO_TARIFF:
        return "this charger has no price."
    if charge.energy_wh == 0:
        return "no energy was delivered, no invoice is issued."
    if charge.breakdown.get("free_reason") == "below_min_energy" and charge.tariff is not None:
        least = Decimal(charge.tariff.min_billable_energy_wh) / WH_PER_KWH
        return f"less than {least.normalize():f} kWh was delivered, no invoice is issued."
    if charge.included_energy_wh and charge.included_energy_wh >= charge.energy_wh:
        return "covered by your subscription, no invoice is issued."
    return "this session was free, no invoice is issued."

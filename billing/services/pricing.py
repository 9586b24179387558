"""Pricing a finished session, exactly once, and handing it on to invoicing; tariff versions."""

import logging
import time
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError
from django.db import transaction as db_transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from billing.app_settings import app_settings
from billing.hooks import pause_point
from billing.models import SessionCharge, Subscription, Tariff, TariffPeriod
from billing.money import ZERO
from billing.pricing import Price, TariffSpec, price_session
from billing.selectors import (
    BatchPricingReads,
    PricingReads,
    allowance_of,
    driver_of,
    operator_for,
    timezone_for,
)
from billing.services.invoices import charges_save_and_bill, invoice_add_session
from sessions.anomalies import anomalies_record, anomaly

logger = logging.getLogger(__name__)


def session_ended(*, transaction, estimated: bool = False, **_) -> None:
    """Subscribed to ``sessions.signals.session_stopped``: prices the session in a Celery task after the commit.

    Pricing is idempotent, and ``sessions_price_missing`` prices what this missed (a broker down at that
    moment). An estimated stop waits for that sweep, after its grace: the station's own stop may replace it.
    """
    from billing.tasks import price_session as price_session_task

    if estimated:
        return
    transaction_id = transaction.pk
    db_transaction.on_commit(lambda: price_session_task.delay(transaction_id), robust=True)


def session_charge_create(*, transaction_id: int) -> SessionCharge | None:
    """Price a stopped session and bill it. Idempotent: a second call returns the first charge.

    The session row is locked first, so concurrent calls wait and then find the charge; the charge's
    one-to-one key on the session is the database's own guarantee behind that. Never raises for the
    session's own data: what no rule can price is held for review (see ``SessionCharge.Status.HELD``),
    and every meter reading set aside is recorded on the session.
    """
    try:
        charge = _charge_create(transaction_id)
    except IntegrityError:
        # Lost a race the row lock could not prevent: the other pricing stands.
        return SessionCharge.objects.filter(transaction_id=transaction_id).first()
    except _DATA_ERRORS as error:
        # A rule below should have caught it; hold the session rather than fail on it again and again.
        logger.exception("pricing: the session's data broke pricing", extra={"transaction_id": transaction_id})
        charge = _charge_hold(transaction_id, f"pricing failed: {type(error).__name__}: {error}")
    if charge is not None:
        logger.info(
            "session priced",
            extra={"transaction_id": transaction_id, "status": charge.status, "gross": str(charge.gross_amount)},
        )
    return charge


# Raised by bad data, not by a broken database connection (OperationalError) or a bug (TypeError, ...).
_DATA_ERRORS = (DataError, ArithmeticError, ValueError)
# The largest amount a charge can store (``AMOUNT``: 14 digits, 4 decimals).
_AMOUNT_LIMIT = Decimal(10) ** 10
_MAX_METER_ANOMALIES = 20
# A station's clock may run a little ahead of ours; beyond this a timestamp is not a real moment yet.
_CLOCK_TOLERANCE = timedelta(hours=1)


def _locked_session(transaction_id: int):
    from sessions.models import Transaction

    priced = SessionCharge.objects.filter(transaction_id=OuterRef("pk"))
    return (
        Transaction.objects.select_for_update(of=("self",))
        .select_related("station__site", "user", "id_token__owner")
        .annotate(already_priced=Exists(priced))
        .filter(pk=transaction_id)
        .first()
    )


def _charge_create(transaction_id: int) -> SessionCharge | None:
    with db_transaction.atomic():
        session = _locked_session(transaction_id)
        if session is None:
            logger.warning("pricing: no such session", extra={"transaction_id": transaction_id})
            return None
        if session.already_priced:
            return SessionCharge.objects.get(transaction_id=session.pk)
        if session.stopped_at is None:
            logger.warning("pricing: session not stopped yet", extra={"transaction_id": transaction_id})
            return None
        charge = _priced(session)
        if charge.status == SessionCharge.Status.BILLABLE:
            invoice_add_session(charge=charge)
        else:
            charge.save()
        pause_point("price_session")
    return charge


def _charge_hold(transaction_id: int, reason: str) -> SessionCharge | None:
    with db_transaction.atomic():
        session = _locked_session(transaction_id)
        if session is None:
            return None
        if session.already_priced:
            return SessionCharge.objects.get(transaction_id=session.pk)
        charge = _held(session, driver_of(session), operator_for(session.station), reason)
        charge.save()
    return charge


# Sessions priced, invoiced and billed in one transaction by the batch path (the sweep, a backlog).
PRICING_BATCH = 500
# Unpriced sessions the sweep looks up at a time, priced PRICING_BATCH at a time.
SWEEP_PAGE = 10 * PRICING_BATCH


def sessions_charge_batch(*, transaction_ids) -> int:
    """Price many stopped sessions and bill them, in one transaction: what ``session_charge_create`` does for
    one, with the reads made once for the batch, the charges, receipts, lines and payments written in bulk
    and the receipts' gap-free numbers taken per operator in one UPDATE. Returns how many were priced now.

    Idempotent as the one-session path: sessions already priced are left alone, and so are those another
    pricer holds locked at this moment (SKIP LOCKED: that pricer bills them). A session whose data breaks
    the batch is priced on its own, so that it is held for review instead of failing the others.
    """
    try:
        return _batch_create(list(transaction_ids))
    except _DATA_ERRORS:
        logger.exception("batch pricing: a session's data broke the batch; pricing them one by one")
        return sum(session_charge_create(transaction_id=pk) is not None for pk in transaction_ids)


def _batch_create(transaction_ids: list[int]) -> int:
    from sessions.models import Transaction

    with db_transaction.atomic():
        sessions = list(
            Transaction.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("station__site", "user", "id_token__owner")
            .filter(pk__in=transaction_ids, stopped_at__isnull=False)
            .exclude(Exists(SessionCharge.objects.filter(transaction_id=OuterRef("pk"))))
            .order_by("pk")
        )
        if not sessions:
            return 0
        lookups = BatchPricingReads(sessions)
        # Driver by driver, in time order: a subscription's included energy goes to the earlier sessions, and
        # racing batches lock subscriptions in the same order. Receipts follow the sessions' order.
        by_driver = sorted(sessions, key=lambda session: (_driver_id(session), session.started_at, session.pk))
        priced = {session.pk: _priced(session, lookups) for session in by_driver}
        charges = [priced[session.pk] for session in sessions]
        charges_save_and_bill(charges=charges)
    logger.info("sessions priced in a batch", extra={"count": len(charges)})
    return len(charges)


def _driver_id(session) -> int:
    driver = driver_of(session)
    return driver.pk if driver is not None else 0


def sessions_price_missing(
    *, now: datetime | None = None, settle_seconds: int = 60, days: int = 7, budget_seconds: float = 50
) -> int:
    """Price the stopped sessions of the last ``days`` that have no charge: a pricing task that was never
    queued (the broker was down at the stop) or died with its worker, or a whole backlog after an outage.
    Run by Celery beat every minute and by each worker as it starts; pricing is idempotent, so racing the
    session's own task costs nothing.

    Ages are read from our own clock (``created_at``, ``updated_at``), never the station's timestamps, so
    a session stamped 1970 or 2099 is still found. A session the CSMS closed with an estimate waits
    ``ESTIMATE_GRACE_MINUTES``, so that a stop still in the station's queue prices it with the station's own
    figures instead. The unpriced are found ``SWEEP_PAGE`` at a time, oldest first, on an index-only walk of the
    window's completed sessions, and go ``PRICING_BATCH`` at a time through ``sessions_charge_batch`` for about
    ``budget_seconds`` (the next run goes on), so a day's backlog clears in minutes. A batch that fails is
    priced one session at a time: one session failing never stops the others: it is logged, recorded on the
    session, and tried again on the next run. Returns how many were priced.
    """
    from sessions.anomalies import estimated_stop_q
    from sessions.models import Transaction

    now = now or timezone.now()
    # Unpriced sessions of the window, from the sweep's index (``transaction_completed_sweep``) and the charges'
    # key alone; what settled, from the rows of those found only.
    unpriced = (
        Transaction.objects.filter(status=Transaction.Status.COMPLETED, created_at__gte=now - timedelta(days=days))
        .exclude(Exists(SessionCharge.objects.filter(transaction_id=OuterRef("pk"))))
        .order_by("created_at", "pk")
        .values_list("created_at", "pk")
    )
    settled = Transaction.objects.filter(updated_at__lte=now - timedelta(seconds=settle_seconds)).exclude(
        estimated_stop_q(), updated_at__gt=now - timedelta(minutes=app_settings.ESTIMATE_GRACE_MINUTES)
    )
    count, deadline = 0, time.monotonic() + budget_seconds
    page = list(unpriced[:SWEEP_PAGE])
    while page and time.monotonic() < deadline:
        (created, after), page_ids = page[-1], [pk for _created, pk in page]
        ready = list(settled.filter(pk__in=page_ids).order_by("created_at", "pk").values_list("pk", flat=True))
        for start in range(0, len(ready), PRICING_BATCH):
            if time.monotonic() >= deadline:
                return count
            batch = ready[start : start + PRICING_BATCH]
            try:
                count += sessions_charge_batch(transaction_ids=batch)
            except Exception:
                logger.exception("pricing sweep: the batch failed, pricing its sessions one by one")
                count += _price_one_by_one(batch)
        page = list(unpriced.filter(created_at__gte=created).exclude(created_at=created, pk__lte=after)[:SWEEP_PAGE])
    return count


def _price_one_by_one(transaction_ids: list[int]) -> int:
    count = 0
    for transaction_id in transaction_ids:
        try:
            count += session_charge_create(transaction_id=transaction_id) is not None
        except Exception as error:
            logger.exception("pricing sweep: session not priced, going on", extra={"transaction_id": transaction_id})
            _record_failure(transaction_id, error)
    return count


def _record_failure(transaction_id: int, error: Exception) -> None:
    try:
        anomalies_record(
            transaction_id=transaction_id,
            entries=[anomaly("pricing_failed", f"{type(error).__name__}: {error}; retried by the next sweep")],
        )
    except Exception:  # the database itself may be what failed; the log above has it
        logger.exception("pricing sweep: could not record the failure", extra={"transaction_id": transaction_id})


def _unpriceable(session) -> str:
    """Why no rule can price this session's times, or ""."""
    started, stopped = session.started_at, session.stopped_at
    if stopped < started:
        return f"stopped ({stopped.isoformat()}) before it started ({started.isoformat()})"
    if stopped > timezone.now() + _CLOCK_TOLERANCE:
        return f"stopped in the future ({stopped.isoformat()})"
    if stopped - started > timedelta(days=app_settings.MAX_SESSION_DAYS):
        return (
            f"lasted from {started.isoformat()} to {stopped.isoformat()}, longer than "
            f"{app_settings.MAX_SESSION_DAYS} days"
        )
    return ""


def _priced(session, lookups: PricingReads | None = None) -> SessionCharge:
    """The session's charge, not saved yet; the subscription's included energy is consumed here.

    Should be called while holding a SELECT FOR UPDATE lock on the session.
    """
    lookups = lookups or PricingReads()
    user = driver_of(session)
    operator = lookups.operator(session.station)
    reason = _unpriceable(session)
    if reason:
        return _held(session, user, operator, reason)
    usage = lookups.usage(session)
    anomalies_record(transaction_id=session.pk, entries=_meter_anomalies(usage.anomalies))
    tariff = lookups.tariff(station=session.station, user=user, at=session.started_at)
    subscription = None
    if tariff is None:
        price = None
    else:
        live = lookups.subscription(user, at=session.started_at)
        if live is not None:
            subscription = Subscription.objects.select_for_update().select_related("plan").get(pk=live.pk)
        spec = TariffSpec.from_model(tariff, timezone_for(session.station, operator))
        price = price_session(spec, usage, allowance_of(subscription, tariff.currency))
        if abs(price.gross) >= _AMOUNT_LIMIT:
            return _held(session, user, operator, f"{usage.energy_wh} Wh would cost {price.gross} {price.currency}")
    if subscription is not None and price.included_wh:
        Subscription.objects.filter(pk=subscription.pk).update(
            included_wh_used=F("included_wh_used") + price.included_wh
        )
    return SessionCharge(
        transaction=session,
        status=_status(price, user, operator),
        tariff=tariff,
        operator=operator,
        user=user,
        subscription=subscription if price and price.included_wh else None,
        currency=price.currency if price else "",
        energy_wh=usage.energy_wh,
        included_energy_wh=price.included_wh if price else 0,
        charging_seconds=max(0, int((usage.charging_until - usage.started_at).total_seconds())),
        idle_seconds=max(0, int((usage.ended_at - usage.charging_until).total_seconds())),
        net_amount=price.net if price else ZERO,
        tax_rate=price.tax_rate if price else ZERO,
        tax_amount=price.tax if price else ZERO,
        gross_amount=price.gross if price else ZERO,
        breakdown={**price.as_dict(), "detail": price.detail} if price else {},
        session_started_at=session.started_at,
    )


def _meter_anomalies(found: tuple[tuple[str, str], ...]) -> list[dict]:
    """The session's record of the meter readings set aside; a station sending thousands of bad readings
    gets the first ones and a count, not thousands of entries."""
    entries = [anomaly(code, detail) for code, detail in found[:_MAX_METER_ANOMALIES]]
    if len(found) > _MAX_METER_ANOMALIES:
        entries.append(anomaly("meter_glitch", f"and {len(found) - _MAX_METER_ANOMALIES} more readings set aside"))
    return entries


def _held(session, user, operator, reason: str) -> SessionCharge:
    """A charge that bills nothing and says why, for the operator to review; recorded on the session too."""
    logger.warning("pricing: session held for review", extra={"transaction_id": session.pk, "reason": reason})
    anomalies_record(transaction_id=session.pk, entries=[anomaly("pricing_held", reason)])
    return SessionCharge(
        transaction=session,
        status=SessionCharge.Status.HELD,
        operator=operator,
        user=user,
        currency="",
        energy_wh=0,
        charging_seconds=0,
        idle_seconds=0,
        net_amount=ZERO,
        tax_rate=ZERO,
        tax_amount=ZERO,
        gross_amount=ZERO,
        breakdown={"held": reason},
        session_started_at=session.started_at,
    )


def _status(price: Price | None, user, operator) -> str:
    if price is None:
        return SessionCharge.Status.NO_TARIFF
    if price.gross == 0:
        return SessionCharge.Status.FREE
    if user is None or operator is None:
        return SessionCharge.Status.NO_CUSTOMER
    return SessionCharge.Status.BILLABLE


@db_transaction.atomic
def tariff_new_version(*, tariff: Tariff, valid_from: datetime | None = None, **changes) -> Tariff:
    """A copy of ``tariff`` with ``changes``, in force from ``valid_from``; the old one ends there.

    Sessions started before keep the old prices; the old tariff row stays as it was for them.
    """
    valid_from = valid_from or timezone.now()
    tariff = Tariff.objects.select_for_update().get(pk=tariff.pk)
    if valid_from <= tariff.valid_from:
        raise ValidationError("The new version must start after the current one.")
    periods = list(tariff.periods.all())
    old_until = tariff.valid_until
    tariff.valid_until = valid_from
    tariff.save(update_fields=["valid_until", "updated_at"])
    new = Tariff.objects.get(pk=tariff.pk)
    new.pk = None
    new.valid_from, new.valid_until = valid_from, old_until
    for name, value in changes.items():
        setattr(new, name, value)
    new.full_clean()
    new.save()
    TariffPeriod.objects.bulk_create(
        [
            TariffPeriod(
                tariff=new,
                name=p.name,
                position=p.position,
                weekdays=p.weekdays,
                start_time=p.start_time,
                end_time=p.end_time,
                price_per_kwh=p.price_per_kwh,
                price_per_minute=p.price_per_minute,
                idle_price_per_minute=p.idle_price_per_minute,
            )
            for p in periods
        ]
    )
    return new

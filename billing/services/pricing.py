"""Pricing a finished session, exactly once, and handing it on to invoicing; tariff versions."""

import logging
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db import transaction as db_transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from billing.hooks import pause_point
from billing.models import SessionCharge, Subscription, Tariff, TariffPeriod
from billing.pricing import Price, TariffSpec, price_session
from billing.selectors import (
    allowance_of,
    driver_of,
    live_subscription,
    operator_for,
    session_usage,
    tariff_for,
    timezone_for,
)
from billing.services.invoices import invoice_add_session

logger = logging.getLogger(__name__)


def session_ended(*, transaction) -> None:
    """Called by the sessions app when a session stops: prices it in a Celery task after the commit."""
    from billing.tasks import price_session as price_session_task

    transaction_id = transaction.pk
    db_transaction.on_commit(lambda: price_session_task.delay(transaction_id))


def session_charge_create(*, transaction_id: int) -> SessionCharge | None:
    """Price a stopped session and bill it. Idempotent: a second call returns the first charge.

    The session row is locked first, so concurrent calls wait and then find the charge; the charge's
    one-to-one key on the session is the database's own guarantee behind that.
    """
    from sessions.models import Transaction

    try:
        with db_transaction.atomic():
            priced = SessionCharge.objects.filter(transaction_id=OuterRef("pk"))
            session = (
                Transaction.objects.select_for_update(of=("self",))
                .select_related("station__site", "user", "id_token__owner")
                .annotate(already_priced=Exists(priced))
                .filter(pk=transaction_id)
                .first()
            )
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
    except IntegrityError:
        # Lost a race the row lock could not prevent: the other pricing stands.
        return SessionCharge.objects.filter(transaction_id=transaction_id).first()
    logger.info(
        "session priced",
        extra={"transaction_id": transaction_id, "status": charge.status, "gross": str(charge.gross_amount)},
    )
    return charge


def sessions_price_missing(*, now: datetime | None = None, settle_minutes: int = 10, days: int = 7) -> int:
    """Price the stopped sessions of the last ``days`` that have no charge (a pricing task that was never
    queued, e.g. the broker was down at the stop). Run by Celery beat; pricing is idempotent anyway."""
    from sessions.models import Transaction

    now = now or timezone.now()
    missing = (
        Transaction.objects.filter(
            status=Transaction.Status.COMPLETED,
            started_at__gte=now - timedelta(days=days),
            stopped_at__lte=now - timedelta(minutes=settle_minutes),
        )
        .exclude(Exists(SessionCharge.objects.filter(transaction_id=OuterRef("pk"))))
        .values_list("pk", flat=True)
    )
    count = 0
    for transaction_id in list(missing[:1000]):
        count += session_charge_create(transaction_id=transaction_id) is not None
    return count


def _priced(session) -> SessionCharge:
    """The session's charge, not saved yet; the subscription's included energy is consumed here."""
    user = driver_of(session)
    operator = operator_for(session.station)
    tariff = tariff_for(station=session.station, user=user, at=session.started_at)
    usage = session_usage(session)
    subscription = None
    if tariff is None:
        price = None
    else:
        live = live_subscription(user, at=session.started_at)
        if live is not None:
            subscription = Subscription.objects.select_for_update().select_related("plan").get(pk=live.pk)
        spec = TariffSpec.from_model(tariff, timezone_for(session.station, operator))
        price = price_session(spec, usage, allowance_of(subscription, tariff.currency))
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
        charging_seconds=int((usage.charging_until - usage.started_at).total_seconds()),
        idle_seconds=int((usage.ended_at - usage.charging_until).total_seconds()),
        net_amount=price.net if price else 0,
        tax_rate=price.tax_rate if price else 0,
        tax_amount=price.tax if price else 0,
        gross_amount=price.gross if price else 0,
        breakdown={**price.as_dict(), "detail": price.detail} if price else {},
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
    TariffPeriod.objects.bulk_create([
        TariffPeriod(
            tariff=new, name=p.name, position=p.position, weekdays=p.weekdays, start_time=p.start_time,
            end_time=p.end_time, price_per_kwh=p.price_per_kwh, price_per_minute=p.price_per_minute,
            idle_price_per_minute=p.idle_price_per_minute,
        )
        for p in periods
    ])
    return new

"""Subscription plans for drivers: start, cancel at period end, and monthly renewal (run by Celery beat)."""

import calendar
import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import Invoice, InvoiceLine, Operator, Subscription, SubscriptionPlan, SubscriptionRenewal
from billing.services.invoices import invoice_finalize

logger = logging.getLogger(__name__)


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` later; the 31st becomes the month's last day when it has fewer."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _bill_period(subscription: Subscription, period_start: datetime, period_end: datetime) -> Invoice | None:
    """Invoice one month of ``subscription`` once; None when this month was already billed."""
    plan = subscription.plan
    operator = plan.operator or Operator.objects.filter(is_default=True).first()
    if operator is None:
        raise ValidationError("No operator issues invoices: set a default operator or the plan's operator.")
    try:
        with transaction.atomic():
            renewal = SubscriptionRenewal.objects.create(
                subscription=subscription, period_start=period_start, period_end=period_end
            )
    except IntegrityError:
        return None
    invoice = Invoice.objects.create(
        operator=operator,
        customer_id=subscription.user_id,
        purpose=Invoice.Purpose.SUBSCRIPTION,
        currency=plan.currency,
        period_start=period_start,
        period_end=period_end,
    )
    InvoiceLine.objects.create(
        invoice=invoice,
        position=1,
        unit="month",
        quantity=1,
        unit_price=plan.monthly_fee,
        net_amount=plan.monthly_fee,
        tax_rate=plan.tax_rate,
        description=f"Subscription {plan.name}, {period_start:%Y-%m-%d} to {period_end:%Y-%m-%d}",
    )
    renewal.invoice = invoice
    renewal.save(update_fields=["invoice"])
    return invoice_finalize(invoice=invoice)


@transaction.atomic
def subscription_start(*, user, plan: SubscriptionPlan, at: datetime | None = None) -> Subscription:
    """Subscribe ``user`` to ``plan`` from now, and bill the first month."""
    if not plan.is_active:
        raise ValidationError("This plan is no longer offered.")
    now = at or timezone.now()
    if (
        Subscription.objects.select_for_update()
        .filter(user=user, status__in=[Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE])
        .exists()
    ):
        raise ValidationError("You already have a subscription: cancel it first.")
    subscription = Subscription.objects.create(
        user=user, plan=plan, started_at=now, current_period_start=now, current_period_end=add_months(now, 1)
    )
    _bill_period(subscription, subscription.current_period_start, subscription.current_period_end)
    return subscription


def subscription_cancel(*, subscription: Subscription) -> Subscription:
    """Stop renewing: the subscription runs to the end of the month paid for."""
    Subscription.objects.filter(
        pk=subscription.pk, status__in=[Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE]
    ).update(cancel_at_period_end=True)
    subscription.refresh_from_db()
    return subscription


@transaction.atomic
def subscription_renew(*, subscription_id: int, now: datetime | None = None) -> Subscription | None:
    """Move a subscription whose month is over into the next one and bill it; end it if it must end."""
    now = now or timezone.now()
    subscription = (
        Subscription.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("plan")
        .filter(pk=subscription_id, current_period_end__lte=now)
        .exclude(status=Subscription.Status.CANCELLED)
        .first()
    )
    if subscription is None:
        return None
    if subscription.cancel_at_period_end or subscription.status == Subscription.Status.PAST_DUE:
        # Asked to stop, or last month is still unpaid: no new month.
        subscription.status = Subscription.Status.CANCELLED
        subscription.cancelled_at = now
        subscription.save(update_fields=["status", "cancelled_at"])
        return subscription
    months = subscription.renewals.count()
    start = add_months(subscription.started_at, months)
    end = add_months(subscription.started_at, months + 1)
    subscription.current_period_start, subscription.current_period_end = start, end
    subscription.included_wh_used = 0
    subscription.save(update_fields=["current_period_start", "current_period_end", "included_wh_used"])
    _bill_period(subscription, start, end)
    return subscription


def subscriptions_renew_due(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    due = list(
        Subscription.objects.filter(current_period_end__lte=now)
        .exclude(status=Subscription.Status.CANCELLED)
        .values_list("pk", flat=True)
    )
    renewed = 0
    for subscription_id in due:
        try:
            renewed += subscription_renew(subscription_id=subscription_id, now=now) is not None
        except Exception:
            logger.exception("subscription renewal failed", extra={"subscription_id": subscription_id})
    return renewed

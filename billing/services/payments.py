"""Collecting invoices through the driver's payment method, retries with back-off (dunning), and refunds.

The core locks the payment row (``select_for_update``) before calling out to a gateway, so two workers
never collect the same payment at once; the gateway's idempotency key is the attempt number, which is
only advanced when the attempt's outcome commits.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import CharField, F, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from billing.app_settings import app_settings
from billing.gateways import get_gateway
from billing.gateways.interface import CustomerData, GatewayResponse, PaymentData, RefundData, ResponseStatus
from billing.models import Invoice, Payment, PaymentAttempt, Refund, Subscription
from billing.selectors import profile_of
from billing.services.bulk import ids_take, rows_copy

logger = logging.getLogger(__name__)

COLLECTABLE = (Payment.Status.PENDING, Payment.Status.FAILED)


def payment_create(*, invoice: Invoice, method: str | None = None) -> Payment:
    """A payment for an issued invoice, collected by a Celery task once the invoice has committed."""
    from billing.tasks import collect_payment

    payment = Payment.objects.create(
        invoice=invoice,
        user_id=invoice.customer_id,
        method=method or profile_of(invoice.customer).payment_method,
        amount=invoice.gross_total,
        currency=invoice.currency,
    )
    transaction.on_commit(lambda: collect_payment.delay(payment.pk))
    return payment


def payments_create(invoices_and_methods: list[tuple[Invoice, str]]) -> list[Payment]:
    """``payment_create`` for many issued invoices at once (the batch pricing): one COPY, and the payments
    collected after the commit by ``collect_payments``, a batch at a time. The invoices may be written later
    in the same transaction (``billing.services.bulk``)."""
    from billing.tasks import collect_payments

    payments = [
        Payment(
            invoice=invoice,
            user_id=invoice.customer_id,
            method=method,
            amount=invoice.gross_total,
            currency=invoice.currency,
        )
        for invoice, method in invoices_and_methods
    ]
    ids_take(Payment, payments)
    rows_copy(Payment, payments)
    ids = [payment.pk for payment in payments]
    if ids:
        transaction.on_commit(lambda: collect_payments.delay(ids))
    return payments


# Methods whose "gateway" is the CSMS itself: collected inside the batch's transaction. A card payment calls a
# provider, which does not belong inside a long transaction: each has its own task.
IN_HOUSE_METHODS = frozenset({"wallet", "test"})


def payments_collect_batch(*, payment_ids) -> int:
    """Collect many new payments, as ``payment_collect`` collects each, in one transaction: those the driver
    pays from the wallet booked together (``wallet_debits``: wallets locked in one order, entries, attempts,
    payments and invoices written in bulk); the rest one by one as ``payment_collect`` does -- test payments
    here, a wallet that cannot cover it (failed, retried, the driver told), a payment no longer new -- and card
    payments each by its own ``collect_payment`` task after the commit (a provider's call does not belong
    inside a long transaction). Idempotent: a payment collected already is left as it is. Returns how many
    were collected or attempted here."""
    from billing.models import BillingProfile, PaymentMethod
    from billing.services.wallet import wallet_debits
    from billing.tasks import collect_payment

    now = timezone.now()
    with transaction.atomic():
        payments = list(
            Payment.objects.select_for_update(of=("self",))
            .select_related("invoice")
            .filter(pk__in=list(payment_ids))
            .order_by("user_id", "pk")  # every batch locks in this order: racing batches never deadlock
        )
        profiles = {
            profile.user_id: profile
            for profile in BillingProfile.objects.filter(user_id__in={payment.user_id for payment in payments})
        }

        def method(payment) -> str:
            profile = profiles.get(payment.user_id)
            return profile.payment_method if profile else PaymentMethod.WALLET

        new = [payment for payment in payments if payment.status == Payment.Status.PENDING]
        from_wallet = [payment for payment in new if method(payment) == PaymentMethod.WALLET]
        booked = wallet_debits(
            debits=[
                (
                    payment.user_id,
                    payment.amount,
                    payment.currency,
                    f"payment:{payment.pk}",
                    f"{payment.invoice.get_purpose_display()} {payment.invoice.number}",
                )
                for payment in from_wallet
            ]
        )
        paid = [payment for payment, ok in zip(from_wallet, booked, strict=True) if ok]
        _wallet_payments_succeeded(paid, now)
        done = {payment.pk for payment in paid}
        rest = [payment for payment in payments if payment.pk not in done and payment.status in COLLECTABLE]
        here = [payment.pk for payment in rest if method(payment) in IN_HOUSE_METHODS]
        elsewhere = [payment.pk for payment in rest if method(payment) not in IN_HOUSE_METHODS]
        for payment_id in here:
            payment_collect(payment_id=payment_id, now=now)
        transaction.on_commit(lambda: [collect_payment.delay(pk) for pk in elsewhere])
    return len(paid) + len(here)


def _wallet_payments_succeeded(payments: list[Payment], now: datetime) -> None:
    """``payment_succeeded`` of many (locked) payments whose wallet debit is booked: attempt, payment, invoice
    and a past-due subscription, each in one statement."""
    if not payments:
        return
    ids = [payment.pk for payment in payments]
    PaymentAttempt.objects.bulk_create(
        [
            PaymentAttempt(
                payment=payment,
                number=payment.attempts + 1,
                method="wallet",
                succeeded=True,
                gateway_reference=f"payment:{payment.pk}",
            )
            for payment in payments
        ]
    )
    Payment.objects.filter(pk__in=ids).update(
        method="wallet",
        status=Payment.Status.SUCCEEDED,
        attempts=F("attempts") + 1,
        gateway_reference=Concat(Value("payment:"), Cast("pk", CharField())),
        succeeded_at=now,
        next_retry_at=None,
        last_error_code="",
        last_error_message="",
        updated_at=now,
    )
    invoices = [payment.invoice_id for payment in payments]
    Invoice.objects.filter(pk__in=invoices).update(status=Invoice.Status.PAID, paid_at=now)
    Subscription.objects.filter(renewals__invoice_id__in=invoices, status=Subscription.Status.PAST_DUE).update(
        status=Subscription.Status.ACTIVE
    )


def _customer(user) -> CustomerData:
    profile = profile_of(user)
    return CustomerData(
        user_id=user.pk,
        email=user.email,
        name=profile.billing_name or user.get_full_name(),
        gateway_customer_id=profile.stripe_customer_id,
        payment_method_id=profile.card_payment_method_id,
    )


def payment_collect(*, payment_id: int, force: bool = False, now: datetime | None = None) -> Payment:
    """Try to collect a pending payment, or a failed one whose retry is due (or ``force``: now)."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().select_related("invoice", "user").get(pk=payment_id)
        due = payment.next_retry_at is None or payment.next_retry_at <= (now or timezone.now())
        if payment.status not in COLLECTABLE or (payment.status == Payment.Status.FAILED and not (due or force)):
            return payment
        payment.method = profile_of(payment.user).payment_method
        number = payment.attempts + 1
        data = PaymentData(
            payment_id=payment.pk,
            amount=payment.amount,
            currency=payment.currency,
            description=f"{payment.invoice.get_purpose_display()} {payment.invoice.number}",
            idempotency_key=f"payment-{payment.pk}-attempt-{number}",
            customer=_customer(payment.user),
            metadata={"invoice_number": payment.invoice.number or ""},
        )
        response = get_gateway(payment.method).charge(data)
        PaymentAttempt.objects.create(
            payment=payment,
            number=number,
            method=payment.method,
            succeeded=response.succeeded,
            gateway_reference=response.reference,
            error_code=response.error_code,
            error_message=response.error_message[:255],
        )
        payment.attempts = number
        payment.gateway_reference = response.reference or payment.gateway_reference
        if response.status == ResponseStatus.SUCCEEDED:
            payment_succeeded(payment=payment)
        elif response.status == ResponseStatus.PROCESSING:
            payment.status = Payment.Status.PROCESSING
            payment.save()
        else:
            payment_failed(payment=payment, response=response)
    logger.info(
        "payment attempt", extra={"payment_id": payment.pk, "attempt": payment.attempts, "status": payment.status}
    )
    return payment


def payment_succeeded(*, payment: Payment, at: datetime | None = None) -> None:
    """Mark a (locked) payment and its invoice paid; a paid subscription invoice revives its subscription."""
    now = at or timezone.now()
    payment.status = Payment.Status.SUCCEEDED
    payment.succeeded_at = now
    payment.next_retry_at = None
    payment.last_error_code = payment.last_error_message = ""
    payment.save()
    Invoice.objects.filter(pk=payment.invoice_id).update(status=Invoice.Status.PAID, paid_at=now)
    Subscription.objects.filter(renewals__invoice_id=payment.invoice_id, status=Subscription.Status.PAST_DUE).update(
        status=Subscription.Status.ACTIVE
    )


def payment_failed(*, payment: Payment, response: GatewayResponse) -> None:
    """Record a failed attempt on a (locked) payment: schedule the next retry, or give up; tell the driver."""
    from billing.notifications import notify_payment_failed

    delays = app_settings.PAYMENT_RETRY_MINUTES
    payment.last_error_code = response.error_code[:64]
    payment.last_error_message = response.error_message[:255]
    if response.retryable and payment.attempts <= len(delays):
        payment.status = Payment.Status.FAILED
        payment.next_retry_at = timezone.now() + timedelta(minutes=delays[payment.attempts - 1])
        Subscription.objects.filter(renewals__invoice_id=payment.invoice_id, status=Subscription.Status.ACTIVE).update(
            status=Subscription.Status.PAST_DUE
        )
    else:
        payment.status = Payment.Status.UNCOLLECTIBLE
        payment.next_retry_at = None
        Invoice.objects.filter(pk=payment.invoice_id).update(status=Invoice.Status.UNCOLLECTIBLE)
        Subscription.objects.filter(
            renewals__invoice_id=payment.invoice_id,
            status__in=[Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE],
        ).update(status=Subscription.Status.CANCELLED, cancelled_at=timezone.now())
    payment.save()
    payment_id = payment.pk
    transaction.on_commit(lambda: notify_payment_failed(payment_id=payment_id))


def payments_retry_due(*, now: datetime | None = None) -> int:
    """Collect every failed payment whose back-off has passed (run by Celery beat)."""
    now = now or timezone.now()
    due = list(
        Payment.objects.filter(status=Payment.Status.FAILED, next_retry_at__lte=now).values_list("pk", flat=True)
    )
    for payment_id in due:
        try:
            payment_collect(payment_id=payment_id, now=now)
        except Exception:
            logger.exception("payment retry crashed", extra={"payment_id": payment_id})
    return len(due)


def payments_retry_now(*, user_id: int, method: str | None = None) -> None:
    """After a top-up or a new card: retry the driver's failed payments at once (after this commit)."""
    from billing.tasks import collect_payment

    failed = Payment.objects.filter(user_id=user_id, status=Payment.Status.FAILED)
    if method is not None:
        failed = failed.filter(method=method)
    ids = list(failed.values_list("pk", flat=True))
    if ids:
        Payment.objects.filter(pk__in=ids).update(next_retry_at=timezone.now())
        transaction.on_commit(lambda: [collect_payment.delay(pk) for pk in ids])


def payment_refund(*, refund: Refund) -> bool:
    """Refund through the gateway of the (locked) original payment; True when the money went back."""
    payment = Payment.objects.select_for_update().select_related("user").get(pk=refund.payment_id)
    response = get_gateway(payment.method).refund(
        RefundData(
            payment_id=payment.pk,
            refund_id=refund.pk,
            amount=refund.amount,
            currency=payment.currency,
            gateway_reference=payment.gateway_reference,
            idempotency_key=f"refund-{refund.pk}",
            customer=_customer(payment.user),
        )
    )
    refund.gateway_reference = response.reference
    if response.succeeded:
        refund.status = Refund.Status.SUCCEEDED
        payment.refunded_amount += refund.amount
        payment.save(update_fields=["refunded_amount", "updated_at"])
    else:
        refund.status = Refund.Status.FAILED
        refund.error_message = response.error_message[:255]
    refund.save()
    return response.succeeded


def payment_settled_elsewhere(*, payment: Payment, by) -> Payment:
    """An operator records that a failed payment was paid another way (bank transfer, cash)."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.status in (Payment.Status.FAILED, Payment.Status.UNCOLLECTIBLE, Payment.Status.PENDING):
            payment.gateway_reference = f"manual:{by.pk}"
            payment_succeeded(payment=payment)
    return payment

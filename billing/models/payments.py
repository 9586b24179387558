"""How drivers pay: their billing profile, prepaid wallet, payments with attempts and refunds, Stripe events."""

from django.conf import settings
from django.db import models

from billing.models.invoices import AMOUNT
from billing.money import format_money


class PaymentMethod(models.TextChoices):
    WALLET = "wallet", "Prepaid wallet"
    CARD = "card", "Card (Stripe)"


class BillingProfile(models.Model):
    """A driver's chosen payment method, the card on file, and the details printed on their invoices."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="billing_profile")
    payment_method = models.CharField(max_length=16, choices=PaymentMethod.choices, default=PaymentMethod.WALLET)
    billing_name = models.CharField(max_length=200, blank=True)
    billing_address = models.TextField(blank=True)
    vat_id = models.CharField("VAT id", max_length=32, blank=True)
    stripe_customer_id = models.CharField(max_length=64, blank=True)
    card_payment_method_id = models.CharField(max_length=64, blank=True)
    card_brand = models.CharField(max_length=32, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Billing profile of {self.user}"

    @property
    def has_card(self) -> bool:
        return bool(self.stripe_customer_id and self.card_payment_method_id)


class Wallet(models.Model):
    """A prepaid balance. ``balance`` is changed only under a row lock, with a ledger entry each time."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="wallet")
    currency = models.CharField(max_length=3)
    balance = models.DecimalField(default=0, **AMOUNT)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Wallet of {self.user}: {format_money(self.balance, self.currency)}"


class WalletEntry(models.Model):
    """One movement of a wallet; ``reference`` is unique so that a replayed top-up or payment books once."""

    class Kind(models.TextChoices):
        TOP_UP = "top_up", "Top-up"
        PAYMENT = "payment", "Payment"
        REFUND = "refund", "Refund"
        ADJUSTMENT = "adjustment", "Adjustment"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.DecimalField(**AMOUNT)
    balance_after = models.DecimalField(**AMOUNT)
    reference = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "wallet entries"

    def __str__(self):
        """E.g. "Top-up of 20.00 EUR, 2026-03-12 (driver@example.com)": what an admin list shows of an entry."""
        if not self.wallet_id:  # the admin's add form names the entry before the service books it
            return f"{self.get_kind_display()} of {self.amount}"
        when = f", {self.created_at:%Y-%m-%d}" if self.created_at else ""
        amount = format_money(self.amount, self.wallet.currency)
        return f"{self.get_kind_display()} of {amount}{when} ({self.wallet.user})"


class Payment(models.Model):
    """Collecting one invoice. Retries reuse the row; each try is a PaymentAttempt."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing at the provider"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed, will be retried"
        UNCOLLECTIBLE = "uncollectible", "Failed for good"
        CANCELLED = "cancelled", "Cancelled by a credit note"

    invoice = models.OneToOneField("billing.Invoice", on_delete=models.PROTECT, related_name="payment")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments")
    method = models.CharField(max_length=16, choices=PaymentMethod.choices)
    amount = models.DecimalField(**AMOUNT)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    gateway_reference = models.CharField(max_length=100, blank=True)
    last_error_code = models.CharField(max_length=64, blank=True)
    last_error_message = models.CharField(max_length=255, blank=True)
    refunded_amount = models.DecimalField(default=0, **AMOUNT)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_retry_at"]), models.Index(fields=["user", "status"])]

    def __str__(self):
        return f"Payment of {self.invoice}: {self.amount} {self.currency} ({self.status})"


class PaymentAttempt(models.Model):
    """One try to collect a payment, as the provider answered it."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    method = models.CharField(max_length=16, choices=PaymentMethod.choices)
    succeeded = models.BooleanField()
    gateway_reference = models.CharField(max_length=100, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["payment", "number"]
        constraints = [models.UniqueConstraint(fields=["payment", "number"], name="unique_payment_attempt")]

    def __str__(self):
        return f"Attempt {self.number} of payment {self.payment_id}"


class Refund(models.Model):
    """Money given back for a credit note, through the method the invoice was paid with."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    credit_note = models.OneToOneField("billing.Invoice", on_delete=models.PROTECT, related_name="refund")
    amount = models.DecimalField(**AMOUNT)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    gateway_reference = models.CharField(max_length=100, blank=True)
    error_message = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"Refund of {self.amount} for {self.credit_note}"


class StripeEvent(models.Model):
    """A webhook event already handled: a replay finds its id here and changes nothing."""

    event_id = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=100)
    livemode = models.BooleanField(default=False)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self):
        return f"{self.type} {self.event_id}"

"""Priced sessions, invoices (receipts, monthly statements, subscription invoices) and credit notes."""

from django.conf import settings
from django.db import models
from django.db.models import Q

AMOUNT = {"max_digits": 14, "decimal_places": 4}


class SessionCharge(models.Model):
    """The price of one finished session, computed once: the one-to-one key is what makes pricing idempotent."""

    class Status(models.TextChoices):
        BILLABLE = "billable", "Billable"
        FREE = "free", "Free"
        NO_TARIFF = "no_tariff", "No tariff applied"
        NO_CUSTOMER = "no_customer", "No customer to bill"
        # The session's data cannot be priced by any rule (it stopped before it started, lasted months, or
        # prices beyond any amount): nothing billed, the reason in ``breakdown["held"]`` and on the session.
        HELD = "held", "Held for review"

    transaction = models.OneToOneField("charging_sessions.Transaction", on_delete=models.PROTECT, related_name="charge")
    status = models.CharField(max_length=16, choices=Status.choices)
    tariff = models.ForeignKey("billing.Tariff", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    operator = models.ForeignKey("billing.Operator", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="session_charges"
    )
    subscription = models.ForeignKey(
        "billing.Subscription", null=True, blank=True, on_delete=models.SET_NULL, related_name="charges"
    )
    invoice = models.ForeignKey(
        "billing.Invoice", null=True, blank=True, on_delete=models.SET_NULL, related_name="session_charges"
    )
    currency = models.CharField(max_length=3)
    energy_wh = models.BigIntegerField()
    included_energy_wh = models.BigIntegerField(default=0, help_text="Covered by the driver's subscription.")
    charging_seconds = models.PositiveIntegerField()
    idle_seconds = models.PositiveIntegerField()
    net_amount = models.DecimalField(**AMOUNT)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2)
    tax_amount = models.DecimalField(**AMOUNT)
    gross_amount = models.DecimalField(**AMOUNT)
    breakdown = models.JSONField(default=dict)
    session_started_at = models.DateTimeField()
    priced_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-session_started_at"]
        indexes = [models.Index(fields=["user", "status"]), models.Index(fields=["session_started_at"])]

    def __str__(self):
        return f"Session {self.transaction_id}: {self.gross_amount} {self.currency}"


class Invoice(models.Model):
    """An invoice or a credit note. Drafts (monthly statements being filled) have no number yet.

    Amounts of credit notes are negative, so that adding up invoices and credit notes gives revenue.
    """

    class Kind(models.TextChoices):
        INVOICE = "invoice", "Invoice"
        CREDIT_NOTE = "credit_note", "Credit note"

    class Purpose(models.TextChoices):
        SESSION = "session", "Receipt for a session"
        STATEMENT = "statement", "Monthly statement"
        SUBSCRIPTION = "subscription", "Subscription"
        CREDIT = "credit", "Credit"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Awaiting payment"
        PAID = "paid", "Paid"
        UNCOLLECTIBLE = "uncollectible", "Uncollectible"
        CREDITED = "credited", "Credited in full"

    operator = models.ForeignKey("billing.Operator", on_delete=models.PROTECT, related_name="invoices")
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="invoices")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.INVOICE)
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    number = models.CharField(max_length=40, null=True, blank=True, editable=False)  # noqa: DJ001 - drafts have none
    currency = models.CharField(max_length=3)
    issued_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    issuer = models.JSONField(default=dict, help_text="The operator's details as printed when issued.")
    customer_details = models.JSONField(default=dict, help_text="The customer's details as printed when issued.")
    net_total = models.DecimalField(default=0, **AMOUNT)
    tax_total = models.DecimalField(default=0, **AMOUNT)
    gross_total = models.DecimalField(default=0, **AMOUNT)
    tax_breakdown = models.JSONField(default=list, help_text="Per tax rate: net, tax.")
    credited_invoice = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="credit_notes"
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["operator", "number"], condition=Q(number__isnull=False), name="unique_invoice_number"
            ),
            models.UniqueConstraint(
                fields=["operator", "customer", "currency", "period_start"],
                condition=Q(status="draft", purpose="statement"),
                name="one_draft_statement_per_month",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-issued_at"]),
            models.Index(fields=["status", "-issued_at"]),
            models.Index(fields=["-issued_at"]),
        ]

    def __str__(self):
        return self.number or f"Draft {self.get_kind_display().lower()} #{self.pk}"

    @property
    def is_credit_note(self) -> bool:
        return self.kind == self.Kind.CREDIT_NOTE


class InvoiceLine(models.Model):
    """One line: a session, a subscription month, or the credit of either."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    description = models.CharField(max_length=255)
    detail = models.TextField(blank=True, help_text="The price breakdown shown under the line.")
    quantity = models.DecimalField(max_digits=14, decimal_places=3, default=1)
    unit = models.CharField(max_length=16, default="session")
    unit_price = models.DecimalField(**AMOUNT)
    net_amount = models.DecimalField(**AMOUNT)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2)
    session_charge = models.ForeignKey(
        SessionCharge, null=True, blank=True, on_delete=models.PROTECT, related_name="invoice_lines"
    )
    is_credit = models.BooleanField(default=False)
    credits_line = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="credit_line",
        help_text="On a credit note: the invoice line it takes back (each line can be credited once).",
    )

    class Meta:
        ordering = ["invoice", "position", "id"]
        constraints = [
            # A session is billed on one invoice line, ever (credit notes may refer to it again).
            models.UniqueConstraint(fields=["session_charge"], condition=Q(is_credit=False), name="session_billed_once")
        ]

    def __str__(self):
        return self.description

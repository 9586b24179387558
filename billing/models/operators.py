"""The operators that issue invoices, which sites each one bills for, and their gap-free number sequences."""

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

prefix_validator = RegexValidator(r"^[A-Za-z0-9\-_/]{0,16}$", "Letters, digits, - _ / only (at most 16).")


class Operator(models.Model):
    """A charge point operator as the issuer of invoices (the legal entity printed on them).

    A model, not a settings profile: numbering needs a row to lock per issuer anyway, one installation
    may bill for several legal entities (white label, a city and its utility), and the issuer's details
    change over time (each invoice keeps a snapshot of them as they were when it was issued).
    """

    class InvoicingMode(models.TextChoices):
        PER_SESSION = "per_session", "A receipt per session"
        MONTHLY = "monthly", "A monthly statement per driver"

    name = models.CharField(max_length=120, unique=True)
    legal_name = models.CharField(max_length=200)
    address = models.TextField(blank=True)
    vat_id = models.CharField("VAT id", max_length=32, blank=True)
    email = models.EmailField(blank=True)
    timezone = models.CharField(max_length=64, default="UTC", help_text="Dates on invoices and statement months.")
    invoice_prefix = models.CharField(max_length=16, default="INV-", blank=True, validators=[prefix_validator])
    credit_note_prefix = models.CharField(max_length=16, default="CN-", blank=True, validators=[prefix_validator])
    invoicing_mode = models.CharField(max_length=16, choices=InvoicingMode.choices, default=InvoicingMode.PER_SESSION)
    payment_terms_days = models.PositiveIntegerField(default=14)
    is_default = models.BooleanField(default=False, help_text="Bills for every site not assigned to an operator.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_operator")
        ]

    def __str__(self):
        return self.name

    # What an invoice must name of its issuer; while any is missing, invoices wait as drafts.
    LEGAL_DETAILS = (("legal_name", "legal name"), ("address", "address"), ("vat_id", "VAT id"))

    def missing_legal_details(self) -> list[str]:
        return [label for name, label in self.LEGAL_DETAILS if not str(getattr(self, name) or "").strip()]

    def issuer_snapshot(self) -> dict:
        return {
            "name": self.name,
            "legal_name": self.legal_name,
            "address": self.address,
            "vat_id": self.vat_id,
            "email": self.email,
        }


class OperatorSite(models.Model):
    """A site billed by an operator; a site has at most one."""

    operator = models.ForeignKey(Operator, on_delete=models.CASCADE, related_name="site_links")
    site = models.OneToOneField("stations.Site", on_delete=models.CASCADE, related_name="billing_operator")

    class Meta:
        verbose_name = "operator site"

    def __str__(self):
        return f"{self.site} → {self.operator}"


class DocumentSequence(models.Model):
    """The last number used per operator, document kind and year; locked while the next one is taken."""

    operator = models.ForeignKey(Operator, on_delete=models.CASCADE, related_name="sequences")
    kind = models.CharField(max_length=16)
    year = models.PositiveIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["operator", "kind", "year"], name="unique_document_sequence")]

    def __str__(self):
        return f"{self.operator} {self.kind} {self.year}: {self.last_number}"

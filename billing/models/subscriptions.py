"""Subscription plans, drivers' subscriptions and their monthly renewals."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from billing.models.invoices import AMOUNT


class SubscriptionPlan(models.Model):
    """A monthly plan: a fee, and either included energy or a discount on the kWh price (or both)."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    operator = models.ForeignKey(
        "billing.Operator",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="plans",
        help_text="The issuer of its invoices; empty means the default operator.",
    )
    monthly_fee = models.DecimalField(**AMOUNT)
    currency = models.CharField(max_length=3)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    included_energy_wh = models.PositiveBigIntegerField(default=0, help_text="Free energy per month (Wh).")
    energy_discount_percent = models.DecimalField(
        max_digits=5, decimal_places=2, default=0, help_text="Off the kWh price, beyond the included energy."
    )
    is_active = models.BooleanField(default=True, help_text="Offered to drivers.")

    class Meta:
        ordering = ["monthly_fee"]

    def __str__(self):
        return self.name


class Subscription(models.Model):
    """A driver's plan; renewed each month by Celery beat (``billing.tasks.renew_subscriptions``)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        CANCELLED = "cancelled", "Cancelled"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey(SubscriptionPlan, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField()
    included_wh_used = models.PositiveBigIntegerField(default=0)
    cancel_at_period_end = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now, help_text="Periods are whole months from here.")
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=Q(status__in=["active", "past_due"]), name="one_live_subscription"
            )
        ]
        indexes = [models.Index(fields=["status", "current_period_end"])]

    def __str__(self):
        return f"{self.user} on {self.plan} ({self.status})"


class SubscriptionRenewal(models.Model):
    """One billed month of a subscription; unique per period so that a repeated renewal bills once."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="renewals")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    invoice = models.OneToOneField(
        "billing.Invoice", null=True, blank=True, on_delete=models.PROTECT, related_name="subscription_renewal"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-period_start"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "period_start"], name="unique_subscription_period")
        ]

    def __str__(self):
        return f"{self.subscription} {self.period_start:%Y-%m-%d}"

"""Models of the billing app: operators, tariffs, priced sessions, invoices, payments, subscriptions."""

from billing.models.invoices import Invoice, InvoiceLine, SessionCharge
from billing.models.operators import DocumentSequence, Operator, OperatorSite
from billing.models.payments import (
    BillingProfile,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    Refund,
    StripeEvent,
    Wallet,
    WalletEntry,
)
from billing.models.subscriptions import Subscription, SubscriptionPlan, SubscriptionRenewal
from billing.models.tariffs import DriverGroup, Tariff, TariffPeriod

__all__ = [
    "BillingProfile",
    "DocumentSequence",
    "DriverGroup",
    "Invoice",
    "InvoiceLine",
    "Operator",
    "OperatorSite",
    "Payment",
    "PaymentAttempt",
    "PaymentMethod",
    "Refund",
    "SessionCharge",
    "StripeEvent",
    "Subscription",
    "SubscriptionPlan",
    "SubscriptionRenewal",
    "Tariff",
    "TariffPeriod",
    "Wallet",
    "WalletEntry",
]

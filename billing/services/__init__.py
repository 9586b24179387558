"""Business rules of the billing app; each module's functions are re-exported here."""

from billing.services.invoices import (
    charges_save_and_bill,
    invoice_add_session,
    invoice_credit,
    invoice_finalize,
    invoices_issue_waiting,
    next_document_number,
    statements_issue_due,
)
from billing.services.payments import (
    payment_collect,
    payment_refund,
    payment_settled_elsewhere,
    payments_collect_batch,
    payments_create,
    payments_retry_due,
    payments_retry_now,
)
from billing.services.pricing import (
    session_charge_create,
    session_ended,
    sessions_charge_batch,
    sessions_price_missing,
    tariff_new_version,
)
from billing.services.profiles import billing_profile_update, card_setup_start
from billing.services.stripe_events import stripe_webhook_receive
from billing.services.subscriptions import (
    subscription_cancel,
    subscription_renew,
    subscription_start,
    subscriptions_renew_due,
)
from billing.services.tariffs import tariff_has_priced_sessions, tariff_save
from billing.services.wallet import (
    wallet_adjust,
    wallet_post,
    wallet_refund,
    wallet_test_top_up,
    wallet_top_up_confirmed,
    wallet_top_up_start,
)

__all__ = [
    "billing_profile_update",
    "card_setup_start",
    "charges_save_and_bill",
    "invoice_add_session",
    "invoice_credit",
    "invoice_finalize",
    "invoices_issue_waiting",
    "next_document_number",
    "payment_collect",
    "payment_refund",
    "payment_settled_elsewhere",
    "payments_collect_batch",
    "payments_create",
    "payments_retry_due",
    "payments_retry_now",
    "session_charge_create",
    "session_ended",
    "sessions_charge_batch",
    "sessions_price_missing",
    "statements_issue_due",
    "stripe_webhook_receive",
    "subscription_cancel",
    "subscription_renew",
    "subscription_start",
    "subscriptions_renew_due",
    "tariff_has_priced_sessions",
    "tariff_new_version",
    "tariff_save",
    "wallet_adjust",
    "wallet_post",
    "wallet_refund",
    "wallet_test_top_up",
    "wallet_top_up_confirmed",
    "wallet_top_up_start",
]

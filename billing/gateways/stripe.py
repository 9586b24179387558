"""Card payments through Stripe: off-session PaymentIntents with the card on file, refunds, and the
helpers the portal needs (customers, top-up and card set-up intents, webhook verification).

Every call goes through ``stripe.StripeClient`` with an idempotency key, so a retried attempt (a worker
killed after Stripe answered, before our commit) gets Stripe's first answer again instead of a second charge.
"""

from decimal import Decimal

import stripe

from billing.app_settings import app_settings
from billing.gateways.base import PaymentGateway
from billing.gateways.interface import CustomerData, GatewayResponse, PaymentData, RefundData, ResponseStatus
from billing.money import to_minor_units

# PaymentIntent statuses: https://docs.stripe.com/payments/paymentintents/lifecycle
_FAILED_STATUSES = {
    "requires_action": ("authentication_required", "Your bank asks you to confirm this payment."),
    "requires_payment_method": ("card_declined", "The card was declined."),
    "canceled": ("canceled", "The payment was cancelled."),
}


class StripeNotConfigured(Exception):
    pass


def stripe_client() -> stripe.StripeClient:
    if not app_settings.STRIPE_API_KEY:
        raise StripeNotConfigured("Card payments are not configured (STRIPE_API_KEY).")
    return stripe.StripeClient(
        app_settings.STRIPE_API_KEY,
        base_addresses={"api": app_settings.STRIPE_API_BASE},
        max_network_retries=2,
    )


def _failure(error: stripe.StripeError) -> GatewayResponse:
    body = error.json_body or {}
    intent = (body.get("error") or {}).get("payment_intent") or {}
    return GatewayResponse(
        status=ResponseStatus.FAILED,
        reference=intent.get("id", ""),
        error_code=error.code or type(error).__name__,
        error_message=(error.user_message or str(error))[:255],
    )


class StripeGateway(PaymentGateway):
    name = "card"

    def charge(self, data: PaymentData) -> GatewayResponse:
        customer = data.customer
        if not (customer.gateway_customer_id and customer.payment_method_id):
            return GatewayResponse(
                status=ResponseStatus.FAILED, error_code="no_card", error_message="No payment card on file."
            )
        try:
            intent = stripe_client().v1.payment_intents.create(
                params={
                    "amount": to_minor_units(data.amount, data.currency),
                    "currency": data.currency.lower(),
                    "customer": customer.gateway_customer_id,
                    "payment_method": customer.payment_method_id,
                    "off_session": True,
                    "confirm": True,
                    "description": data.description,
                    "metadata": {"payment_id": str(data.payment_id), **data.metadata},
                },
                options={"idempotency_key": data.idempotency_key},
            )
        except StripeNotConfigured as exc:
            return GatewayResponse(status=ResponseStatus.FAILED, error_code="not_configured", error_message=str(exc))
        except stripe.StripeError as error:
            return _failure(error)
        if intent.status == "succeeded":
            return GatewayResponse(status=ResponseStatus.SUCCEEDED, reference=intent.id)
        if intent.status == "processing":
            return GatewayResponse(status=ResponseStatus.PROCESSING, reference=intent.id)
        code, message = _FAILED_STATUSES.get(intent.status, (intent.status, "The payment did not go through."))
        return GatewayResponse(
            status=ResponseStatus.FAILED, reference=intent.id, error_code=code, error_message=message
        )

    def refund(self, data: RefundData) -> GatewayResponse:
        try:
            refund = stripe_client().v1.refunds.create(
                params={
                    "payment_intent": data.gateway_reference,
                    "amount": to_minor_units(data.amount, data.currency),
                    "metadata": {"refund_id": str(data.refund_id)},
                },
                options={"idempotency_key": data.idempotency_key},
            )
        except StripeNotConfigured as exc:
            return GatewayResponse(status=ResponseStatus.FAILED, error_code="not_configured", error_message=str(exc))
        except stripe.StripeError as error:
            return _failure(error)
        if refund.status in ("succeeded", "pending"):
            return GatewayResponse(status=ResponseStatus.SUCCEEDED, reference=refund.id)
        return GatewayResponse(status=ResponseStatus.FAILED, reference=refund.id, error_code=refund.status or "")

    # Beyond the interface: what the portal's card pages need.

    def ensure_customer(self, customer: CustomerData) -> str:
        if customer.gateway_customer_id:
            return customer.gateway_customer_id
        created = stripe_client().v1.customers.create(
            params={"email": customer.email, "name": customer.name, "metadata": {"user_id": str(customer.user_id)}},
            options={"idempotency_key": f"customer-{customer.user_id}"},
        )
        return created.id

    def create_top_up_intent(self, *, customer_id: str, user_id: int, amount: Decimal, currency: str, key: str):
        """A PaymentIntent the driver confirms in the browser; the wallet is credited by its webhook."""
        return stripe_client().v1.payment_intents.create(
            params={
                "amount": to_minor_units(amount, currency),
                "currency": currency.lower(),
                "customer": customer_id,
                "automatic_payment_methods": {"enabled": True},
                "setup_future_usage": "off_session",
                "description": "Wallet top-up",
                "metadata": {"kind": "top_up", "user_id": str(user_id)},
            },
            options={"idempotency_key": key},
        )

    def create_setup_intent(self, *, customer_id: str, user_id: int):
        """A SetupIntent the driver confirms in the browser to save a card for later off-session payments."""
        return stripe_client().v1.setup_intents.create(
            params={
                "customer": customer_id,
                "usage": "off_session",
                "automatic_payment_methods": {"enabled": True},
                "metadata": {"user_id": str(user_id)},
            }
        )

    def card_details(self, payment_method_id: str) -> tuple[str, str]:
        card = stripe_client().v1.payment_methods.retrieve(payment_method_id).to_dict().get("card") or {}
        return card.get("brand", ""), card.get("last4", "")

    def verified_event(self, payload: bytes, signature: str) -> stripe.Event:
        """The webhook's event, once its signature checks out (raises SignatureVerificationError/ValueError)."""
        return stripe.Webhook.construct_event(payload, signature, app_settings.STRIPE_WEBHOOK_SECRET)

"""Stripe webhooks: verified by signature, handled once per event id, each in one database transaction."""

import json
import logging
from decimal import Decimal

from django.db import IntegrityError, transaction

from billing.gateways.interface import GatewayResponse, ResponseStatus
from billing.gateways.stripe import StripeGateway
from billing.models import BillingProfile, Payment, PaymentMethod, StripeEvent
from billing.money import from_minor_units
from billing.services.payments import payment_failed, payment_succeeded, payments_retry_now
from billing.services.wallet import wallet_top_up_confirmed

logger = logging.getLogger(__name__)


def stripe_webhook_receive(*, payload: bytes, signature: str) -> str:
    """Verify and handle one webhook delivery; returns processed, duplicate or ignored.

    Raises ``stripe.SignatureVerificationError`` or ``ValueError`` for a forged or malformed delivery.
    """
    StripeGateway().verified_event(payload, signature)
    # Handlers read the verified body as plain JSON, independent of the library's object model.
    event = json.loads(payload)
    handler = _HANDLERS.get(event["type"])
    try:
        with transaction.atomic():
            StripeEvent.objects.create(event_id=event["id"], type=event["type"], livemode=bool(event.get("livemode")))
            if handler is not None:
                handler(event["data"]["object"])
    except IntegrityError:
        return "duplicate"
    logger.info("stripe event", extra={"event_id": event["id"], "type": event["type"], "handled": bool(handler)})
    return "processed" if handler is not None else "ignored"


def _metadata(obj) -> dict:
    return dict(obj.get("metadata") or {})


def _payment_intent_succeeded(intent) -> None:
    metadata = _metadata(intent)
    if metadata.get("kind") == "top_up" and metadata.get("user_id"):
        amount = from_minor_units(intent.get("amount_received") or intent["amount"], intent["currency"].upper())
        wallet_top_up_confirmed(
            user_id=int(metadata["user_id"]),
            amount=Decimal(amount),
            currency=intent["currency"].upper(),
            reference=f"stripe:{intent['id']}",
        )
        return
    payment = _locked_payment(metadata)
    if payment is not None and payment.status != Payment.Status.SUCCEEDED:
        payment.gateway_reference = intent["id"]
        payment_succeeded(payment=payment)


def _payment_intent_failed(intent) -> None:
    payment = _locked_payment(_metadata(intent))
    # A synchronous failure was recorded when the attempt returned; only an asynchronous outcome is new.
    if payment is None or payment.status != Payment.Status.PROCESSING:
        return
    error = intent.get("last_payment_error") or {}
    payment_failed(
        payment=payment,
        response=GatewayResponse(
            status=ResponseStatus.FAILED,
            reference=intent["id"],
            error_code=error.get("code") or "payment_failed",
            error_message=error.get("message") or "The payment failed.",
        ),
    )


def _locked_payment(metadata: dict) -> Payment | None:
    if not str(metadata.get("payment_id", "")).isdigit():
        return None
    return Payment.objects.select_for_update().filter(pk=int(metadata["payment_id"])).first()


def _setup_intent_succeeded(intent) -> None:
    """A card saved in the browser becomes the driver's payment method."""
    user_id = _metadata(intent).get("user_id")
    method_id = intent.get("payment_method")
    if not (user_id and str(user_id).isdigit() and method_id):
        return
    try:
        brand, last4 = StripeGateway().card_details(method_id)
    except Exception:
        logger.warning("card details unavailable", extra={"payment_method": method_id})
        brand, last4 = "", ""
    profile, _ = BillingProfile.objects.get_or_create(user_id=int(user_id))
    profile.stripe_customer_id = intent.get("customer") or profile.stripe_customer_id
    profile.card_payment_method_id = method_id
    profile.card_brand, profile.card_last4 = brand, last4
    profile.payment_method = PaymentMethod.CARD
    profile.save()
    payments_retry_now(user_id=int(user_id))


_HANDLERS = {
    "payment_intent.succeeded": _payment_intent_succeeded,
    "payment_intent.payment_failed": _payment_intent_failed,
    "setup_intent.succeeded": _setup_intent_succeeded,
}

"""Card payments: the Stripe gateway through the real `stripe` library against our fake API, and signed webhooks."""

import json
import time
from decimal import Decimal

import pytest
from django.urls import reverse

from billing import services
from billing.gateways.interface import CustomerData, PaymentData
from billing.gateways.stripe import StripeGateway
from billing.models import BillingProfile, Invoice, InvoiceLine, Payment, StripeEvent, Wallet, WalletEntry
from tests.billing.fake_stripe import event_payload, sign_webhook

D = Decimal
SECRET = "whsec_test_secret"
WEBHOOK = "/billing/stripe/webhook/"


def card_payment(operator, driver, method_id="pm_card_visa", net="10.00") -> Payment:
    BillingProfile.objects.update_or_create(
        user=driver,
        defaults={
            "payment_method": "card",
            "stripe_customer_id": "cus_000001",
            "card_payment_method_id": method_id,
        },
    )
    invoice = Invoice.objects.create(
        operator=operator, customer=driver, purpose=Invoice.Purpose.SESSION, currency="EUR"
    )
    InvoiceLine.objects.create(
        invoice=invoice, description="Charging", unit_price=D(net), net_amount=D(net), tax_rate=D("19")
    )
    return services.invoice_finalize(invoice=invoice).payment


def post_event(client, event_type, obj, event_id=None, secret=SECRET, timestamp=None):
    payload = event_payload(event_type, obj, event_id)
    return client.post(
        WEBHOOK,
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign_webhook(payload, secret, timestamp),
    )


def test_a_card_payment_is_an_off_session_payment_intent_with_an_idempotency_key(fake_stripe, operator, driver):
    payment = services.payment_collect(payment_id=card_payment(operator, driver).pk)
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.gateway_reference.startswith("pi_")
    request = fake_stripe.posts("/v1/payment_intents")[0]
    assert request["authorization"] == "Bearer sk_test_voltgrid"
    assert request["idempotency_key"] == f"payment-{payment.pk}-attempt-1"
    assert request["params"]["amount"] == "1190"
    assert request["params"]["currency"] == "eur"
    assert request["params"]["off_session"] == "true"
    assert request["params"]["confirm"] == "true"
    assert request["params"]["customer"] == "cus_000001"
    assert request["params"]["metadata"]["payment_id"] == str(payment.pk)


def test_a_retried_attempt_gets_stripes_first_answer_and_is_charged_once(fake_stripe, operator, driver):
    payment = card_payment(operator, driver)
    data = PaymentData(
        payment_id=payment.pk,
        amount=D("11.90"),
        currency="EUR",
        description="x",
        idempotency_key="payment-1-attempt-1",
        customer=CustomerData(
            user_id=driver.pk, email=driver.email, gateway_customer_id="cus_1", payment_method_id="pm_card_visa"
        ),
    )
    first, second = StripeGateway().charge(data), StripeGateway().charge(data)
    assert first.reference == second.reference
    assert len({obj["id"] for obj in fake_stripe.objects.values() if obj["object"] == "payment_intent"}) == 1


def test_a_declined_card_fails_the_payment_with_the_banks_reason(fake_stripe, operator, driver):
    payment = services.payment_collect(payment_id=card_payment(operator, driver, "pm_card_chargeDeclined").pk)
    assert payment.status == Payment.Status.FAILED
    assert payment.last_error_code == "card_declined"
    assert payment.last_error_message == "Your card was declined."
    assert payment.gateway_reference.startswith("pi_")
    assert payment.next_retry_at is not None


def test_a_card_needing_the_customer_fails_as_authentication_required(fake_stripe, operator, driver):
    payment = services.payment_collect(payment_id=card_payment(operator, driver, "pm_card_authenticationRequired").pk)
    assert (payment.status, payment.last_error_code) == (Payment.Status.FAILED, "authentication_required")


def test_stripe_unreachable_is_a_retryable_failure(settings, monkeypatch, operator, driver):
    settings.CMS_BILLING_STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_voltgrid")
    payment = services.payment_collect(payment_id=card_payment(operator, driver).pk)
    assert payment.status == Payment.Status.FAILED
    assert payment.next_retry_at is not None


def test_a_processing_payment_is_settled_by_its_webhook(fake_stripe, client, operator, driver):
    payment = services.payment_collect(payment_id=card_payment(operator, driver, "pm_card_processing").pk)
    assert payment.status == Payment.Status.PROCESSING
    intent = fake_stripe.objects[payment.gateway_reference]
    response = post_event(client, "payment_intent.succeeded", {**intent, "status": "succeeded"})
    assert response.status_code == 200
    assert response.json() == {"outcome": "processed"}
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.invoice.status == Invoice.Status.PAID


def test_an_asynchronous_failure_fails_the_processing_payment_once(fake_stripe, client, operator, driver, mailoutbox):
    payment = services.payment_collect(payment_id=card_payment(operator, driver, "pm_card_processing").pk)
    intent = {
        **fake_stripe.objects[payment.gateway_reference],
        "status": "requires_payment_method",
        "last_payment_error": {"code": "expired_card", "message": "Your card has expired."},
    }
    post_event(client, "payment_intent.payment_failed", intent, event_id="evt_fail_1")
    post_event(client, "payment_intent.payment_failed", intent, event_id="evt_fail_2")  # another event, same news
    payment.refresh_from_db()
    assert (payment.status, payment.last_error_code) == (Payment.Status.FAILED, "expired_card")
    assert payment.attempts == 1


def test_a_replayed_top_up_event_credits_the_wallet_once(fake_stripe, client, driver):
    intent = {
        "id": "pi_topup_1",
        "object": "payment_intent",
        "amount": 2500,
        "amount_received": 2500,
        "currency": "eur",
        "status": "succeeded",
        "metadata": {"kind": "top_up", "user_id": str(driver.pk)},
    }
    first = post_event(client, "payment_intent.succeeded", intent, event_id="evt_topup_1")
    replay = post_event(client, "payment_intent.succeeded", intent, event_id="evt_topup_1")
    assert first.json() == {"outcome": "processed"}
    assert replay.status_code == 200
    assert replay.json() == {"outcome": "duplicate"}
    assert Wallet.objects.get(user=driver).balance == D("25.00")
    assert WalletEntry.objects.get().reference == "stripe:pi_topup_1"
    # Stripe may also send a second event about the same intent: still one booking.
    post_event(client, "payment_intent.succeeded", intent, event_id="evt_topup_2")
    assert Wallet.objects.get(user=driver).balance == D("25.00")


@pytest.mark.parametrize(
    ("secret", "age_seconds"),
    [("whsec_wrong", 0), (SECRET, 3600)],
    ids=["forged-signature", "too-old"],
)
def test_a_webhook_with_a_bad_signature_is_refused_and_changes_nothing(
    fake_stripe, client, driver, secret, age_seconds
):
    intent = {
        "id": "pi_x",
        "object": "payment_intent",
        "amount": 9900,
        "amount_received": 9900,
        "currency": "eur",
        "metadata": {"kind": "top_up", "user_id": str(driver.pk)},
    }
    response = post_event(
        client, "payment_intent.succeeded", intent, secret=secret, timestamp=int(time.time()) - age_seconds
    )
    assert response.status_code == 400
    assert not Wallet.objects.exists()
    assert not StripeEvent.objects.exists()


def test_a_webhook_without_a_signature_or_with_garbage_is_refused(fake_stripe, client, db):
    assert client.post(WEBHOOK, data="{}", content_type="application/json").status_code == 400
    garbage = "not json"
    response = client.post(
        WEBHOOK, data=garbage, content_type="application/json", HTTP_STRIPE_SIGNATURE=sign_webhook(garbage, SECRET)
    )
    assert response.status_code == 400


def test_webhooks_are_refused_while_stripe_is_not_configured(client, db, monkeypatch):
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    assert client.post(WEBHOOK, data="{}", content_type="application/json").status_code == 503


def test_unknown_event_types_are_acknowledged_and_ignored(fake_stripe, client, db):
    response = post_event(client, "customer.created", {"id": "cus_9", "object": "customer"})
    assert response.json() == {"outcome": "ignored"}


def test_a_saved_card_becomes_the_drivers_payment_method(fake_stripe, client, driver):
    intent = {
        "id": "seti_1",
        "object": "setup_intent",
        "status": "succeeded",
        "customer": "cus_000007",
        "payment_method": "pm_card_visa",
        "metadata": {"user_id": str(driver.pk)},
    }
    post_event(client, "setup_intent.succeeded", intent)
    profile = BillingProfile.objects.get(user=driver)
    assert (profile.payment_method, profile.card_brand, profile.card_last4) == ("card", "visa", "4242")
    assert profile.has_card


def test_driver_tops_up_the_wallet_with_a_payment_intent_confirmed_in_the_browser(fake_stripe, client, driver):
    client.force_login(driver)
    response = client.post(reverse("billing:wallet"), {"amount": "20.00"})
    assert response.status_code == 200
    html = response.content.decode()
    intent = next(obj for obj in fake_stripe.objects.values() if obj["object"] == "payment_intent")
    assert intent["client_secret"] in html
    assert "pk_test_voltgrid" in html
    assert intent["amount"] == 2000
    assert intent["metadata"] == {"kind": "top_up", "user_id": str(driver.pk)}
    assert fake_stripe.posts("/v1/customers")[0]["params"]["email"] == "driver@example.com"
    assert not Wallet.objects.filter(balance__gt=0).exists()  # credited only by the webhook


def test_a_top_up_outside_the_limits_is_refused_with_a_message(fake_stripe, client, driver):
    client.force_login(driver)
    response = client.post(reverse("billing:wallet"), {"amount": "5000"})
    assert response.status_code == 200
    assert "Top up between" in response.content.decode()
    assert fake_stripe.posts("/v1/payment_intents") == []


def test_card_setup_page_uses_a_setup_intent(fake_stripe, client, driver):
    client.force_login(driver)
    html = client.post(reverse("billing:card")).content.decode()
    intent = next(obj for obj in fake_stripe.objects.values() if obj["object"] == "setup_intent")
    assert intent["client_secret"] in html
    assert 'data-mode="setup"' in html


def test_refund_of_a_card_payment_goes_through_stripe(fake_stripe, operator, driver):
    payment = services.payment_collect(payment_id=card_payment(operator, driver).pk)
    note = services.invoice_credit(invoice=payment.invoice, reason="Broken connector")
    assert note.status == Invoice.Status.PAID
    refund = fake_stripe.posts("/v1/refunds")[0]
    assert refund["params"]["payment_intent"] == payment.gateway_reference
    assert refund["params"]["amount"] == "1190"
    payment.refresh_from_db()
    assert payment.refunded_amount == D("11.90")


def test_the_webhook_payload_is_parsed_by_stripes_own_library(fake_stripe):
    payload = json.loads(event_payload("payment_intent.succeeded", {"id": "pi_1", "object": "payment_intent"}))
    raw = json.dumps(payload)
    event = StripeGateway().verified_event(raw.encode(), sign_webhook(raw, SECRET))
    assert (event.type, event.data.object.id) == ("payment_intent.succeeded", "pi_1")

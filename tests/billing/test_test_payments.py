"""The test payment method: 'Test payment (demo) - no real money', offered only in demo mode or when configured."""

import uuid
from decimal import Decimal

import pytest

LABEL = "Test payment (demo) — no real money"


@pytest.fixture
def test_payments(settings):
    settings.CMS_BILLING_TEST_PAYMENTS = True


def _top_up(client, amount="20.00", key=None):
    return client.post("/billing/wallet/test-top-up/", {"amount": amount, "key": key or str(uuid.uuid4())})


def test_without_demo_or_setting_there_is_no_test_payment(client, driver):
    from billing.gateways import get_gateway

    client.force_login(driver)
    assert LABEL not in client.get("/billing/wallet/").content.decode()
    assert _top_up(client).status_code == 404
    with pytest.raises(ValueError, match="No gateway"):
        get_gateway("test")


def test_a_seeded_demo_turns_test_payments_on_and_the_setting_can_turn_them_off(client, driver, settings):
    from billing.gateways.test import test_payments_enabled
    from demo.models import DemoNetwork

    DemoNetwork.objects.create(
        operator_email="o@example.com",
        operator_password="x",
        driver_email="d@example.com",
        driver_password="y",
        station_password="z",
        station_prefix="DEMO-",
        stations=1,
        seconds=1,
    )
    assert test_payments_enabled()
    settings.CMS_BILLING_TEST_PAYMENTS = False
    assert not test_payments_enabled()


def test_a_driver_tops_up_with_a_test_payment_once_per_form(client, driver, test_payments):
    from billing.models import Wallet, WalletEntry

    client.force_login(driver)
    page = client.get("/billing/wallet/").content.decode()
    assert LABEL in page
    key = str(uuid.uuid4())
    assert _top_up(client, "20.00", key).status_code == 302
    assert _top_up(client, "20.00", key).status_code == 302  # the same form sent twice books once
    entry = WalletEntry.objects.get(wallet__user=driver)
    assert (entry.kind, entry.amount) == (WalletEntry.Kind.TOP_UP, Decimal("20.00"))
    assert LABEL in entry.description and entry.reference.startswith("test:")
    assert Wallet.objects.get(user=driver).balance == Decimal("20.00")
    assert LABEL in client.get("/billing/wallet/").content.decode()


@pytest.mark.parametrize("amount", ["1", "5000", "-3", "abc"])
def test_a_test_top_up_outside_the_limits_is_a_form_error(client, driver, test_payments, amount):
    from billing.models import WalletEntry

    client.force_login(driver)
    response = _top_up(client, amount)
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not WalletEntry.objects.exists()


def test_top_up_then_charge_then_paid_receipt_with_no_payment_keys(
    client, driver, test_payments, operator, make_tariff, make_session, django_capture_on_commit_callbacks
):
    """The phone flow without Stripe: the test top-up pays the session's receipt from the wallet."""
    from billing.models import Invoice, Payment
    from billing.services import session_charge_create

    make_tariff(price_per_kwh=Decimal("0.50"))
    client.force_login(driver)
    _top_up(client, "20.00")
    session = make_session(user=driver, energy_wh=10_000)
    with django_capture_on_commit_callbacks(execute=True):  # the receipt's collection runs after the commit
        charge = session_charge_create(transaction_id=session.pk)
    invoice = Invoice.objects.get(pk=charge.invoice_id)
    assert invoice.status == Invoice.Status.PAID and invoice.gross_total == Decimal("5.95")
    assert Payment.objects.get(invoice=invoice).status == Payment.Status.SUCCEEDED
    driver.wallet.refresh_from_db()
    assert driver.wallet.balance == Decimal("14.05")

"""An operator credits a driver's wallet from the portal, without any payment provider."""

from decimal import Decimal

import pytest

URL = "/billing/operator/wallets/"


def test_an_operator_credits_a_drivers_wallet_with_a_ledger_entry_naming_who_and_why(client, operator_admin, driver):
    from billing.models import Wallet, WalletEntry

    client.force_login(operator_admin)
    response = client.post(URL, {"driver": "Driver@Example.com", "amount": "12.50", "reason": "Broken connector"})
    assert response.status_code == 302
    entry = WalletEntry.objects.get(wallet__user=driver)
    assert (entry.kind, entry.amount, entry.balance_after) == (
        WalletEntry.Kind.ADJUSTMENT,
        Decimal("12.50"),
        Decimal("12.50"),
    )
    assert (entry.description, entry.created_by) == ("Broken connector", operator_admin)
    assert Wallet.objects.get(user=driver).balance == Decimal("12.50")
    page = client.get(URL).content.decode()
    assert "Broken connector" in page and operator_admin.email in page


def test_finance_staff_may_credit_too(client, finance_user, driver):
    from billing.models import WalletEntry

    client.force_login(finance_user)
    assert client.post(URL, {"driver": driver.email, "amount": "5", "reason": "Bank transfer"}).status_code == 302
    assert WalletEntry.objects.filter(wallet__user=driver, created_by=finance_user).count() == 1


@pytest.mark.parametrize("user_fixture", ["driver", "technician"])
def test_a_driver_or_a_technician_may_not_credit_a_wallet(client, request, user_fixture, driver):
    from billing.models import WalletEntry

    client.force_login(request.getfixturevalue(user_fixture))
    assert client.get(URL).status_code == 403
    response = client.post(URL, {"driver": driver.email, "amount": "100", "reason": "Free money"})
    assert response.status_code == 403
    assert not WalletEntry.objects.exists()


def test_an_anonymous_visitor_is_sent_to_log_in(client, driver):
    response = client.post(URL, {"driver": driver.email, "amount": "100", "reason": "Free money"})
    assert response.status_code == 302 and "/login" in response["Location"]


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        # Every amount out of range gets the range the page states.
        ("-5", "Credit between 0.01 and 1000.00 EUR"),
        ("0", "Credit between 0.01 and 1000.00 EUR"),
        ("abc", "Credit between 0.01 and 1000.00 EUR"),
        ("", "This field is required."),
        ("12.345", "Use at most 2 decimals"),
        ("100000", "Credit between 0.01 and 1000.00 EUR"),
        ("NaN", "Credit between 0.01 and 1000.00 EUR"),
    ],
)
def test_a_bad_amount_is_a_form_error_and_books_nothing(client, operator_admin, driver, amount, message):
    from billing.models import WalletEntry

    client.force_login(operator_admin)
    response = client.post(URL, {"driver": driver.email, "amount": amount, "reason": "Goodwill"})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not WalletEntry.objects.exists()


def test_an_unknown_driver_or_a_blank_reason_is_a_form_error(client, operator_admin, driver):
    from billing.models import WalletEntry

    client.force_login(operator_admin)
    response = client.post(URL, {"driver": "nobody@example.com", "amount": "5", "reason": "Goodwill"})
    assert "No active account has this e-mail address." in response.content.decode()
    response = client.post(URL, {"driver": driver.email, "amount": "5", "reason": "   "})
    assert response.status_code == 200 and "This field is required." in response.content.decode()
    assert not WalletEntry.objects.exists()


def test_a_credit_retries_the_payments_the_empty_wallet_could_not_make(
    client, operator_admin, driver, operator, django_capture_on_commit_callbacks
):
    from billing.models import Invoice, Payment, PaymentMethod

    invoice = Invoice.objects.create(
        operator=operator,
        customer=driver,
        purpose=Invoice.Purpose.SESSION,
        status=Invoice.Status.OPEN,
        number="VG-2025-000001",
        currency="EUR",
        gross_total=Decimal("8.00"),
    )
    payment = Payment.objects.create(
        invoice=invoice,
        user=driver,
        method=PaymentMethod.WALLET,
        amount=Decimal("8.00"),
        currency="EUR",
        status=Payment.Status.FAILED,
        attempts=1,
    )
    client.force_login(operator_admin)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(URL, {"driver": driver.email, "amount": "20", "reason": "Bank transfer received"})
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert driver.wallet.balance == Decimal("12.00")

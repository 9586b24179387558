"""Collecting payments: the wallet, retries with back-off and the driver told, may-I-charge, subscriptions."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from billing import selectors, services
from billing.models import (
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAttempt,
    Subscription,
    SubscriptionPlan,
    Wallet,
    WalletEntry,
)
from billing.services.subscriptions import add_months

D = Decimal


@pytest.fixture
def retry_minutes(settings):
    settings.CMS_BILLING_PAYMENT_RETRY_MINUTES = [60, 360]
    return [60, 360]


def issued(operator, customer, net="10.00", rate="19") -> Invoice:
    invoice = Invoice.objects.create(
        operator=operator, customer=customer, purpose=Invoice.Purpose.SESSION, currency="EUR"
    )
    InvoiceLine.objects.create(
        invoice=invoice, description="Charging", unit_price=D(net), net_amount=D(net), tax_rate=D(rate)
    )
    return services.invoice_finalize(invoice=invoice)


def test_wallet_pays_an_invoice_and_books_it_in_its_ledger(operator, funded_driver):
    invoice = issued(operator, funded_driver)
    payment = services.payment_collect(payment_id=invoice.payment.pk)
    assert payment.status == Payment.Status.SUCCEEDED
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    entry = WalletEntry.objects.get(kind=WalletEntry.Kind.PAYMENT)
    assert (entry.amount, entry.balance_after, entry.reference) == (D("-11.90"), D("38.10"), f"payment:{payment.pk}")


def test_collecting_a_paid_payment_again_changes_nothing(operator, funded_driver):
    payment = services.payment_collect(payment_id=issued(operator, funded_driver).payment.pk)
    again = services.payment_collect(payment_id=payment.pk, force=True)
    assert again.status == Payment.Status.SUCCEEDED
    assert again.attempts == 1
    assert Wallet.objects.get(user=funded_driver).balance == D("38.10")


def test_a_replayed_wallet_booking_is_booked_once(driver):
    for _ in range(2):
        services.wallet_post(user_id=driver.pk, amount=D("20"), currency="EUR", kind="top_up", reference="stripe:pi_1")
    assert Wallet.objects.get(user=driver).balance == D("20")
    assert WalletEntry.objects.count() == 1


def test_an_empty_wallet_fails_the_payment_schedules_a_retry_and_tells_the_driver(
    operator, driver, retry_minutes, mailoutbox
):
    before = timezone.now()
    payment = services.payment_collect(payment_id=issued(operator, driver).payment.pk)
    assert payment.status == Payment.Status.FAILED
    assert payment.last_error_code == "insufficient_funds"
    assert before + timedelta(minutes=60) <= payment.next_retry_at <= timezone.now() + timedelta(minutes=60)
    assert not WalletEntry.objects.exists()
    # The e-mail goes out after the commit.
    assert mailoutbox == []


def test_failure_email_is_sent_after_the_commit(
    operator, driver, retry_minutes, mailoutbox, django_capture_on_commit_callbacks
):
    invoice = issued(operator, driver)
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_collect(payment_id=invoice.payment.pk)
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["driver@example.com"]
    assert "did not go through" in message.subject
    assert invoice.number in message.body
    assert "We will try again" in message.body
    assert "Top up your wallet" in message.body


def test_retries_follow_the_back_off_then_give_up(
    operator, driver, retry_minutes, mailoutbox, django_capture_on_commit_callbacks
):
    payment = issued(operator, driver).payment
    services.payment_collect(payment_id=payment.pk)
    assert services.payments_retry_due() == 0  # not due yet
    payment.refresh_from_db()
    first_retry = payment.next_retry_at
    assert services.payments_retry_due(now=first_retry) == 1
    payment.refresh_from_db()
    assert (payment.status, payment.attempts) == (Payment.Status.FAILED, 2)
    assert payment.next_retry_at >= timezone.now() + timedelta(minutes=359)
    with django_capture_on_commit_callbacks(execute=True):
        services.payments_retry_due(now=payment.next_retry_at)
    payment.refresh_from_db()
    assert (payment.status, payment.attempts, payment.next_retry_at) == (Payment.Status.UNCOLLECTIBLE, 3, None)
    assert payment.invoice.status == Invoice.Status.UNCOLLECTIBLE
    assert PaymentAttempt.objects.filter(payment=payment).count() == 3
    assert "is unpaid" in mailoutbox[-1].subject
    assert "stopped trying" in mailoutbox[-1].body


def test_a_top_up_retries_the_failed_wallet_payments_at_once(
    operator, driver, retry_minutes, django_capture_on_commit_callbacks
):
    payment = services.payment_collect(payment_id=issued(operator, driver).payment.pk)
    assert payment.status == Payment.Status.FAILED
    with django_capture_on_commit_callbacks(execute=True):
        services.wallet_top_up_confirmed(user_id=driver.pk, amount=D("20"), currency="EUR", reference="stripe:pi_9")
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert Wallet.objects.get(user=driver).balance == D("8.10")


def test_the_dunning_list_shows_failing_and_given_up_payments_only(
    operator, other_driver, funded_driver, finance_user, retry_minutes
):
    failing = services.payment_collect(payment_id=issued(operator, other_driver).payment.pk)
    services.payment_collect(payment_id=issued(operator, funded_driver).payment.pk)
    assert list(selectors.dunning_list()) == [failing]
    services.payment_settled_elsewhere(payment=failing, by=finance_user)
    assert list(selectors.dunning_list()) == []
    failing.refresh_from_db()
    assert failing.invoice.status == Invoice.Status.PAID


def test_may_a_driver_start_charging(operator, driver, station, make_tariff, retry_minutes):
    from billing.models import BillingProfile

    make_tariff(price_per_kwh=D("0.40"))
    allowed, reason = selectors.user_can_start_charging(driver)
    assert not allowed and "wallet is empty" in reason
    services.wallet_post(user_id=driver.pk, amount=D("5"), currency="EUR", kind="top_up", reference="t1")
    assert selectors.user_can_start_charging(driver) == (True, "")
    # A spent wallet.
    services.wallet_post(user_id=driver.pk, amount=D("-5"), currency="EUR", kind="payment", reference="p1")
    assert not selectors.user_can_start_charging(driver)[0]
    BillingProfile.objects.create(user=driver, payment_method="card")
    assert selectors.user_can_start_charging(driver) == (False, "Add a payment card first.")
    BillingProfile.objects.filter(user=driver).update(stripe_customer_id="cus_1", card_payment_method_id="pm_1")
    assert selectors.user_can_start_charging(driver) == (True, "")
    services.payment_collect(payment_id=issued(operator, driver).payment.pk)  # the card call fails: not configured
    allowed, reason = selectors.user_can_start_charging(driver)
    assert not allowed and "payment failed" in reason


def test_free_charging_needs_no_money(driver, station, make_tariff):
    make_tariff(price_per_kwh=D("0"), min_billable_energy_wh=0)
    assert not selectors.user_can_start_charging(driver)[0]
    assert selectors.user_can_start_charging(driver, station=station) == (True, "")


def test_anonymous_or_inactive_users_cannot_charge(db, django_user_model):
    from django.contrib.auth.models import AnonymousUser

    assert selectors.user_can_start_charging(AnonymousUser())[0] is False
    inactive = django_user_model.objects.create_user(email="gone@example.com", is_active=False)
    assert selectors.user_can_start_charging(inactive)[0] is False


# Subscriptions


@pytest.fixture
def plan(operator):
    return SubscriptionPlan.objects.create(
        name="Commuter",
        monthly_fee=D("9.90"),
        currency="EUR",
        tax_rate=D("19"),
        included_energy_wh=50_000,
        operator=operator,
    )


def test_months_are_added_by_the_calendar():
    assert add_months(datetime(2025, 1, 31, 10, tzinfo=UTC), 1) == datetime(2025, 2, 28, 10, tzinfo=UTC)
    assert add_months(datetime(2025, 1, 31, 10, tzinfo=UTC), 2) == datetime(2025, 3, 31, 10, tzinfo=UTC)
    assert add_months(datetime(2025, 11, 15, tzinfo=UTC), 2) == datetime(2026, 1, 15, tzinfo=UTC)


def test_subscribing_bills_the_first_month_and_a_second_subscription_is_refused(plan, funded_driver):
    start = datetime(2025, 1, 31, 10, tzinfo=UTC)
    subscription = services.subscription_start(user=funded_driver, plan=plan, at=start)
    assert subscription.current_period_end == datetime(2025, 2, 28, 10, tzinfo=UTC)
    invoice = subscription.renewals.get().invoice
    assert (invoice.purpose, invoice.gross_total) == (Invoice.Purpose.SUBSCRIPTION, D("11.78"))
    with pytest.raises(ValidationError):
        services.subscription_start(user=funded_driver, plan=plan, at=start)


def test_beat_renews_due_subscriptions_once_and_resets_included_energy(plan, funded_driver):
    start = datetime(2025, 1, 31, 10, tzinfo=UTC)
    subscription = services.subscription_start(user=funded_driver, plan=plan, at=start)
    Subscription.objects.filter(pk=subscription.pk).update(included_wh_used=30_000)
    assert services.subscriptions_renew_due(now=datetime(2025, 2, 27, tzinfo=UTC)) == 0
    renewal_time = datetime(2025, 2, 28, 11, tzinfo=UTC)
    assert services.subscriptions_renew_due(now=renewal_time) == 1
    assert services.subscriptions_renew_due(now=renewal_time) == 0
    subscription.refresh_from_db()
    assert (subscription.current_period_start, subscription.current_period_end) == (
        datetime(2025, 2, 28, 10, tzinfo=UTC),
        datetime(2025, 3, 31, 10, tzinfo=UTC),
    )
    assert subscription.included_wh_used == 0
    assert subscription.renewals.count() == 2
    assert Invoice.objects.filter(purpose=Invoice.Purpose.SUBSCRIPTION).count() == 2


def test_an_unpaid_month_makes_the_subscription_past_due_then_ends_it(plan, driver, retry_minutes):
    subscription = services.subscription_start(user=driver, plan=plan, at=datetime(2025, 1, 10, tzinfo=UTC))
    payment = subscription.renewals.get().invoice.payment
    services.payment_collect(payment_id=payment.pk)
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.PAST_DUE
    assert selectors.live_subscription(driver, at=datetime(2025, 1, 20, tzinfo=UTC)) is None
    services.subscriptions_renew_due(now=datetime(2025, 2, 10, 1, tzinfo=UTC))
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.CANCELLED
    assert subscription.renewals.count() == 1


def test_paying_a_past_due_month_revives_the_subscription(plan, driver, retry_minutes):
    subscription = services.subscription_start(user=driver, plan=plan, at=datetime(2025, 1, 10, tzinfo=UTC))
    payment = services.payment_collect(payment_id=subscription.renewals.get().invoice.payment.pk)
    services.wallet_post(user_id=driver.pk, amount=D("20"), currency="EUR", kind="top_up", reference="t")
    services.payment_collect(payment_id=payment.pk, force=True)
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE


def test_a_cancelled_subscription_runs_to_the_end_of_the_month(plan, funded_driver):
    subscription = services.subscription_start(user=funded_driver, plan=plan, at=datetime(2025, 1, 10, tzinfo=UTC))
    services.subscription_cancel(subscription=subscription)
    services.subscriptions_renew_due(now=datetime(2025, 2, 1, tzinfo=UTC))
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    services.subscriptions_renew_due(now=datetime(2025, 2, 10, 1, tzinfo=UTC))
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.CANCELLED
    assert subscription.renewals.count() == 1

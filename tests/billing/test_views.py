"""Driver and operator pages and the billing API: who sees what (a driver only their own; finance everything)."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from billing import services
from billing.models import BillingProfile, Invoice, Payment, Subscription, SubscriptionPlan, Tariff
from tests.billing.conftest import T0

D = Decimal


@pytest.fixture
def receipts(make_session, make_tariff, operator, driver, other_driver):
    """One paid-for session receipt for the driver, one for another driver."""
    make_tariff(price_per_kwh=D("0.40"))
    mine = services.session_charge_create(transaction_id=make_session(user=driver).pk).invoice
    theirs = services.session_charge_create(
        transaction_id=make_session(user=other_driver, started_at=T0 + timedelta(hours=2)).pk
    ).invoice
    return mine, theirs


def test_driver_downloads_their_own_invoice_as_pdf(client, driver, receipts):
    mine, _ = receipts
    client.force_login(driver)
    response = client.get(reverse("billing:invoice-pdf", args=[mine.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="{mine.number}.pdf"' in response["Content-Disposition"]
    assert response.content.startswith(b"%PDF")


def test_another_drivers_invoice_is_not_found(client, driver, receipts):
    _, theirs = receipts
    client.force_login(driver)
    assert client.get(reverse("billing:invoice-pdf", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("billing:invoice-pdf", args=[999999])).status_code == 404


def test_anonymous_users_are_sent_to_log_in(client, receipts):
    mine, _ = receipts
    response = client.get(reverse("billing:invoice-pdf", args=[mine.pk]))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_driver_invoice_list_shows_only_their_own(client, driver, receipts):
    mine, theirs = receipts
    client.force_login(driver)
    html = client.get(reverse("billing:invoices")).content.decode()
    assert mine.number in html
    assert theirs.number not in html


def test_driver_overview_shows_wallet_and_why_charging_is_blocked(client, driver, receipts):
    client.force_login(driver)
    response = client.get(reverse("billing:overview"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "wallet is empty" in html
    assert receipts[0].number in html


def test_choosing_the_card_without_a_card_is_refused_with_a_message(client, driver):
    client.force_login(driver)
    response = client.post(reverse("billing:profile"), {"payment_method": "card", "billing_name": "Erika"}, follow=True)
    assert "Add a card before choosing it." in response.content.decode()
    assert not BillingProfile.objects.filter(user=driver, billing_name="Erika").exists()


def test_driver_subscribes_and_cancels(client, funded_driver, operator):
    plan = SubscriptionPlan.objects.create(name="Commuter", monthly_fee=D("9.90"), currency="EUR", operator=operator)
    client.force_login(funded_driver)
    assert "Commuter" in client.get(reverse("billing:subscription")).content.decode()
    client.post(reverse("billing:subscription"), {"plan": plan.pk})
    subscription = Subscription.objects.get(user=funded_driver)
    assert subscription.status == Subscription.Status.ACTIVE
    client.post(reverse("billing:subscription"), {"action": "cancel"})
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end


def test_csrf_is_enforced_on_driver_forms(driver, db):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(driver)
    assert client.post(reverse("billing:wallet"), {"amount": "20"}).status_code == 403


def test_finance_sees_every_invoice_filters_them_and_exports_csv(client, finance_user, receipts):
    mine, theirs = receipts
    client.force_login(finance_user)
    url = reverse("billing:operator-invoices")
    html = client.get(url).content.decode()
    assert mine.number in html and theirs.number in html
    filtered = client.get(url, {"customer": "other@"}).content.decode()
    assert theirs.number in filtered and mine.number not in filtered
    response = client.get(url, {"customer": "other@", "export": "csv"})
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["number"] for row in rows] == [theirs.number]
    assert rows[0]["gross_total"] == "4.7600"
    assert rows[0]["customer_email"] == "other@example.com"
    # A finance user may download anyone's PDF.
    assert client.get(reverse("billing:invoice-pdf", args=[mine.pk])).status_code == 200


@pytest.mark.parametrize("page", ["billing:operator-invoices", "billing:dunning"])
def test_operator_money_pages_are_closed_to_technicians_and_drivers(client, technician, driver, page):
    for user in (technician, driver):
        client.force_login(user)
        assert client.get(reverse(page)).status_code == 403


def test_dunning_page_lists_failed_payments_and_can_retry_them(client, finance_user, receipts, settings):
    settings.CMS_BILLING_PAYMENT_RETRY_MINUTES = [60]
    mine, _ = receipts
    payment = services.payment_collect(payment_id=mine.payment.pk)
    assert payment.status == Payment.Status.FAILED
    client.force_login(finance_user)
    html = client.get(reverse("billing:dunning")).content.decode()
    assert mine.number in html and "insufficient_funds" in html
    client.post(reverse("billing:dunning-action", args=[payment.pk]), {"action": "retry"})
    payment.refresh_from_db()
    assert (payment.status, payment.attempts) == (Payment.Status.UNCOLLECTIBLE, 2)
    client.post(reverse("billing:dunning-action", args=[payment.pk]), {"action": "settled"})
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED


# API


def test_api_invoices_are_the_drivers_own_and_anothers_is_404(client, driver, receipts):
    mine, theirs = receipts
    client.force_login(driver)
    body = client.get("/api/billing/invoices/").json()
    assert [item["number"] for item in body["results"]] == [mine.number]
    assert body["results"][0]["lines"][0]["transaction_id"] == mine.lines.get().session_charge.transaction_id
    assert client.get(f"/api/billing/invoices/{theirs.pk}/").status_code == 404
    assert client.get(f"/api/billing/invoices/{theirs.pk}/pdf/").status_code == 404
    assert client.get(f"/api/billing/invoices/{mine.pk}/pdf/").content.startswith(b"%PDF")


def test_api_invoices_for_finance_with_filters(client, finance_user, receipts):
    client.force_login(finance_user)
    assert client.get("/api/billing/invoices/").json()["count"] == 2
    assert client.get("/api/billing/invoices/", {"customer": "other@"}).json()["count"] == 1
    assert client.get("/api/billing/invoices/", {"issued_from": "not-a-date"}).status_code == 400


def test_api_tariffs_are_managed_by_finance_only(client, finance_user, technician, driver, station):
    payload = {
        "name": "Night saver",
        "currency": "EUR",
        "tax_rate": "19.00",
        "station": station.pk,
        "valid_from": "2025-01-01T00:00:00Z",
        "price_per_kwh": "0.45",
        "periods": [
            {
                "name": "Night",
                "weekdays": "1234567",
                "start_time": "22:00",
                "end_time": "06:00",
                "price_per_kwh": "0.29",
            }
        ],
    }
    for user in (technician, driver):
        client.force_login(user)
        assert client.post("/api/billing/tariffs/", payload, content_type="application/json").status_code == 403
    client.force_login(finance_user)
    response = client.post("/api/billing/tariffs/", payload, content_type="application/json")
    assert response.status_code == 201, response.json()
    tariff = Tariff.objects.get(name="Night saver")
    assert tariff.periods.get().price_per_kwh == D("0.29")
    bad = {**payload, "valid_until": "2024-01-01T00:00:00Z"}
    assert client.post("/api/billing/tariffs/", bad, content_type="application/json").status_code == 400
    bad = {**payload, "periods": [{**payload["periods"][0], "weekdays": "8"}]}
    assert client.post("/api/billing/tariffs/", bad, content_type="application/json").status_code == 400


def test_api_wallet_and_may_i_charge(client, funded_driver):
    client.force_login(funded_driver)
    wallet = client.get("/api/billing/wallet/").json()
    assert (wallet["currency"], wallet["balance"], wallet["available"]) == ("EUR", "50.0000", "50.0000")
    assert client.get("/api/billing/can-start/").json() == {"allowed": True, "reason": ""}


def test_api_estimate_before_starting(client, driver, station, make_tariff):
    make_tariff(price_per_kwh=D("0.40"), start_fee=D("1.00"))
    client.force_login(driver)
    body = client.get(
        "/api/billing/estimate/", {"station": station.ocpp_id, "energy_kwh": "30", "minutes": "60"}
    ).json()
    assert (body["net"], body["gross"], body["tariff"]) == ("13.0000", "15.4700", "Standard")
    assert client.get("/api/billing/estimate/", {"station": station.ocpp_id}).status_code == 400
    assert (
        client.get("/api/billing/estimate/", {"station": "NOPE", "energy_kwh": "1", "minutes": "1"}).status_code == 404
    )


def test_api_running_cost_of_own_session_only(client, driver, other_driver, make_session, make_tariff, operator):
    make_tariff(price_per_kwh=D("0.50"))
    session = make_session(user=driver, stopped=False)
    client.force_login(other_driver)
    assert client.get(f"/api/billing/sessions/{session.pk}/cost/").status_code == 404
    client.force_login(driver)
    body = client.get(f"/api/billing/sessions/{session.pk}/cost/").json()
    assert body["currency"] == "EUR"
    assert body["energy_wh"] >= 0


def test_api_dunning_is_for_finance(client, finance_user, driver, db):
    client.force_login(driver)
    assert client.get("/api/billing/dunning/").status_code == 403
    client.force_login(finance_user)
    assert client.get("/api/billing/dunning/").status_code == 200


def test_admin_credit_action_issues_a_credit_note(admin_client, receipts):
    mine, _ = receipts
    response = admin_client.post(
        reverse("admin:billing_invoice_changelist"),
        {"action": "credit_in_full", "_selected_action": [mine.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE, credited_invoice=mine).count() == 1


def test_admin_wallet_adjustment_books_through_the_service(admin_client, driver):
    response = admin_client.post(
        reverse("admin:billing_walletentry_add"), {"user": driver.pk, "amount": "15.00", "description": "Goodwill"}
    )
    assert response.status_code == 302, response.content.decode()
    assert driver.wallet.balance == D("15.00")

"""The operator's money pages (tariffs with a price preview, drivers, payments) and the billing data checks:
billing details, wallet amount messages, invoices waiting for the issuer's legal details, the PDF's "Bill to"."""

import re
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from billing import services
from billing.models import Invoice, Operator, Payment, Tariff, TariffPeriod, WalletEntry
from tests.billing.conftest import T0

TARIFFS = reverse("money:tariffs")
NEW_TARIFF = reverse("money:tariff-new")
DRIVERS = reverse("money:drivers")
PAYMENTS = reverse("money:payments")


@pytest.fixture
def analyst(db, django_user_model):
    user = django_user_model.objects.create_user(email="analyst@example.com", password="x-pass-123", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name="analyst")[0])
    return user


@pytest.fixture
def finance(client, finance_user):
    client.force_login(finance_user)
    return client


def tariff_post(periods=(), **fields) -> dict:
    """The tariff form as a browser posts it: tariff fields, the periods formset, the sample session."""
    data = {
        "name": "Standard",
        "currency": "EUR",
        "tax_rate": "19",
        "valid_from": "2025-01-01T00:00",
        "price_per_kwh": "0.40",
        "price_per_minute": "0",
        "start_fee": "0",
        "idle_price_per_minute": "0",
        "idle_grace_minutes": "0",
        "min_billable_energy_wh": "1",
        "sample-energy_kwh": "20",
        "sample-minutes": "60",
        "sample-starts_at": "2025-03-12T18:00",
        "periods-TOTAL_FORMS": str(len(periods)),
        "periods-INITIAL_FORMS": "0",
        "periods-MIN_NUM_FORMS": "0",
        "periods-MAX_NUM_FORMS": "1000",
    }
    for index, period in enumerate(periods):
        data.update({f"periods-{index}-{name}": value for name, value in period.items()})
    data.update(fields)
    return data


def _gross(html: str) -> str:
    return re.search(r'data-gross="([^"]+)"', html).group(1)


@pytest.mark.parametrize("url", [TARIFFS, DRIVERS, PAYMENTS])
def test_money_pages_are_for_finance_operator_admins_and_analysts_only(client, url, technician, driver, analyst):
    client.force_login(technician)
    assert client.get(url).status_code == 403
    client.force_login(driver)
    assert client.get(url).status_code == 403
    client.force_login(analyst)
    assert client.get(url).status_code == 200
    client.logout()
    assert client.get(url).status_code == 302


def test_analysts_read_tariffs_but_cannot_create_or_change_them(client, analyst, make_tariff):
    tariff = make_tariff()
    client.force_login(analyst)
    assert "New tariff" not in client.get(TARIFFS).content.decode()
    assert client.get(NEW_TARIFF).status_code == 403
    assert client.post(NEW_TARIFF, tariff_post(save="1")).status_code == 403
    assert client.post(reverse("money:tariff-edit", args=[tariff.pk]), tariff_post(save="1")).status_code == 403
    assert Tariff.objects.count() == 1


def test_finance_creates_a_tariff_with_every_element_and_a_period(finance):
    night = {
        "name": "Night",
        "weekdays": "1234567",
        "start_time": "22:00",
        "end_time": "06:00",
        "price_per_kwh": "0.25",
    }
    data = tariff_post(
        [night],
        save="1",
        price_per_minute="0.02",
        start_fee="1.00",
        idle_price_per_minute="0.10",
        idle_grace_minutes="15",
        min_price="2",
        max_price="80",
        min_billable_energy_wh="200",
    )
    response = finance.post(NEW_TARIFF, data)
    tariff = Tariff.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("money:tariff-edit", args=[tariff.pk])
    assert (tariff.price_per_kwh, tariff.start_fee, tariff.idle_grace_minutes, tariff.max_price) == (
        D("0.40"),
        D("1.00"),
        15,
        D("80"),
    )
    period = TariffPeriod.objects.get()
    assert (period.name, period.price_per_kwh, period.price_per_minute) == ("Night", D("0.25"), None)
    assert "Standard" in finance.get(TARIFFS).content.decode()


def test_the_preview_is_the_engines_price_of_the_sample_session(finance):
    # 20 kWh over an hour from 18:00 UTC: 8.00 energy + 1.20 time + 1.00 start = 10.20 net, 19 % VAT = 12.14.
    response = finance.post(
        NEW_TARIFF + "?fragment=1", tariff_post(price_per_minute="0.02", start_fee="1.00", preview="1")
    )
    html = response.content.decode()
    assert response.status_code == 200 and 'id="tariff-preview"' in html and "<html" not in html
    assert re.search(r'data-net="10.20" data-tax="1.94" data-gross="12.14"', html)
    assert "Start fee" in html and "Charging time" in html
    assert not Tariff.objects.exists()  # a preview saves nothing


def test_the_preview_splits_a_session_across_a_period_in_local_time(finance, site, make_station):
    make_station(ocpp_id="CP-B9", site=site)  # the site is in Berlin: 21:00 local is 20:00 UTC in March
    night = {
        "name": "Night",
        "weekdays": "1234567",
        "start_time": "22:00",
        "end_time": "06:00",
        "price_per_kwh": "0.20",
    }
    data = tariff_post([night], site=str(site.pk), preview="1, ", **{"sample-starts_at": "2025-03-12T21:00"})
    data["sample-minutes"] = "120"
    html = finance.post(NEW_TARIFF + "?fragment=1", data).content.decode()
    # Half the energy before 22:00 (10 kWh x 0.40), half after (10 kWh x 0.20): 6.00 net, 7.14 gross.
    assert "Energy, Night" in html and _gross(html) == "7.14"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"price_per_kwh": "-1"}, "greater than or equal to 0"),
        ({"price_per_kwh": "abc"}, "Enter a number."),
        ({"currency": "e1r"}, "An ISO 4217 code"),
        ({"tax_rate": "120"}, "less than or equal to 100"),
        ({"min_price": "10", "max_price": "5"}, "Must not be below the minimum price."),
        ({"valid_until": "2024-01-01T00:00"}, "Must be after the start of validity."),
        ({"valid_from": "yesterday"}, "Enter a valid date/time."),
        ({"name": ""}, "This field is required."),
        ({"periods-TOTAL_FORMS": "1", "periods-0-name": "Bad", "periods-0-weekdays": "89"}, "ISO weekday digits"),
        ({"periods-TOTAL_FORMS": "1", "periods-0-name": "Bad", "periods-0-start_time": "25:00"}, "Enter a valid time."),
    ],
)
def test_bad_tariff_input_is_a_form_message_never_a_500(finance, fields, message):
    response = finance.post(NEW_TARIFF, tariff_post(save="1", **fields))
    assert response.status_code == 400
    assert message in response.content.decode()
    fragment = finance.post(NEW_TARIFF + "?fragment=1", tariff_post(**fields)).content.decode()
    assert "No preview until the form is valid" in fragment and message in fragment
    assert not Tariff.objects.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sample-energy_kwh": "-3"}, "greater than or equal to 0"),
        ({"sample-energy_kwh": "1e400"}, "Ensure this value is less than or equal to 1000"),
        ({"sample-minutes": "0"}, "greater than or equal to 1"),
        ({"sample-starts_at": "noon"}, "Enter a valid date/time."),
    ],
)
def test_a_bad_sample_session_is_a_preview_message(finance, fields, message):
    fragment = finance.post(NEW_TARIFF + "?fragment=1", tariff_post(**fields))
    assert fragment.status_code == 200
    assert "No preview until the form is valid" in fragment.content.decode()
    assert message in fragment.content.decode()


def test_a_station_and_a_site_at_once_is_refused_with_a_message(finance, station, site):
    response = finance.post(NEW_TARIFF, tariff_post(save="1", station=str(station.pk), site=str(site.pk)))
    assert response.status_code == 400
    assert "to a station or to a site, not both" in response.content.decode()


def test_editing_an_unused_tariff_changes_it_in_place(finance, make_tariff):
    tariff = make_tariff()
    response = finance.post(reverse("money:tariff-edit", args=[tariff.pk]), tariff_post(save="1", price_per_kwh="0.45"))
    assert response.status_code == 302
    tariff.refresh_from_db()
    assert tariff.price_per_kwh == D("0.45") and Tariff.objects.count() == 1


def test_editing_a_tariff_that_priced_sessions_makes_a_new_version(
    finance, make_tariff, make_session, operator, driver
):
    tariff = make_tariff(price_per_kwh=D("0.40"))
    charge = services.session_charge_create(transaction_id=make_session(user=driver).pk)
    assert charge.tariff == tariff
    response = finance.post(
        reverse("money:tariff-edit", args=[tariff.pk]), tariff_post(save="1", price_per_kwh="0.50"), follow=True
    )
    assert "new version" in response.content.decode()
    tariff.refresh_from_db()
    new = Tariff.objects.exclude(pk=tariff.pk).get()
    assert (tariff.price_per_kwh, new.price_per_kwh) == (D("0.40"), D("0.50"))
    assert tariff.valid_until == new.valid_from


def _listed(html: str) -> set[str]:
    return set(re.findall(r'data-label="Driver"><a [^>]*>([^<]+)</a>', html))


def test_drivers_list_and_search(finance, driver, other_driver, finance_user):
    assert _listed(finance.get(DRIVERS).content.decode()) == {"driver@example.com", "other@example.com"}
    assert _listed(finance.get(DRIVERS, {"q": "OTHER"}).content.decode()) == {"other@example.com"}


def test_a_driver_page_shows_cards_wallet_invoices_and_payments(finance, driver, make_tariff, make_session, operator):
    from accounts.services import id_token_create

    id_token_create(token="04A1B2C3", data={"owner": driver}, source="command")
    services.wallet_post(user_id=driver.pk, amount=D("30"), currency="EUR", kind="top_up", reference="seed")
    make_tariff()
    invoice = services.session_charge_create(transaction_id=make_session(user=driver).pk).invoice
    html = finance.get(reverse("money:driver", args=[driver.pk])).content.decode()
    assert "04A1B2C3" in html and "30.00 EUR" in html and invoice.number in html
    assert Payment.objects.get(invoice=invoice).get_status_display() in html


def test_finance_credits_and_refunds_a_wallet_and_cannot_refund_more_than_it_holds(finance, driver, finance_user):
    url = reverse("money:driver", args=[driver.pk])
    response = finance.post(url, {"action": "credit", "amount": "25.00", "reason": "Bank transfer"}, follow=True)
    assert "the wallet now holds 25.00 EUR" in response.content.decode()
    response = finance.post(url, {"action": "refund", "amount": "10", "reason": "Paid back"}, follow=True)
    assert "the wallet now holds 15.00 EUR" in response.content.decode()
    response = finance.post(url, {"action": "refund", "amount": "20", "reason": "Too much"})
    assert response.status_code == 400 and "The wallet holds 15.00 EUR" in response.content.decode()
    kinds = list(WalletEntry.objects.order_by("id").values_list("kind", "amount", "created_by"))
    assert kinds == [("adjustment", D("25"), finance_user.pk), ("refund", D("-10"), finance_user.pk)]


@pytest.mark.parametrize("amount", ["0", "-5", "abc", "1000.01", "1e9", "NaN"])
def test_a_wallet_amount_out_of_range_gets_the_stated_range(finance, driver, amount):
    response = finance.post(
        reverse("money:driver", args=[driver.pk]), {"action": "credit", "amount": amount, "reason": "x"}
    )
    assert response.status_code == 400
    assert "between 0.01 and 1000.00 EUR" in response.content.decode()
    assert not WalletEntry.objects.exists()


def test_analysts_see_a_driver_but_cannot_move_money(client, analyst, driver):
    client.force_login(analyst)
    url = reverse("money:driver", args=[driver.pk])
    assert client.get(url).status_code == 200 and "Credit or refund" not in client.get(url).content.decode()
    assert client.post(url, {"action": "credit", "amount": "5", "reason": "x"}).status_code == 403
    assert not WalletEntry.objects.exists()


def test_staff_accounts_are_not_driver_pages(finance, finance_user):
    assert finance.get(reverse("money:driver", args=[finance_user.pk])).status_code == 404


def test_payments_list_filters(finance, driver, other_driver, make_tariff, make_session, operator):
    make_tariff()
    services.session_charge_create(transaction_id=make_session(user=driver).pk)
    services.session_charge_create(
        transaction_id=make_session(user=other_driver, started_at=T0 + timedelta(hours=3)).pk
    )
    html = finance.get(PAYMENTS).content.decode()
    assert "driver@example.com" in html and "other@example.com" in html
    html = finance.get(PAYMENTS, {"customer": "other"}).content.decode()
    assert "other@example.com" in html and "driver@example.com" not in html
    bad = finance.get(PAYMENTS, {"status": "lost"})
    assert bad.status_code == 400 and "Please check the filters" in bad.content.decode()


def test_the_top_up_form_states_the_range_it_enforces(client, driver, settings):
    settings.CMS_BILLING_TOP_UP_LIMITS = "5,500"
    client.force_login(driver)
    for amount in ("1", "0.001", "600", "abc"):
        response = client.post(reverse("billing:wallet"), {"amount": amount})
        html = response.content.decode()
        assert ("Top up between 5.00 and 500.00 EUR" in html) or ("at most 2 decimals" in html), amount
        assert "greater than or equal to 0.01" not in html


@pytest.mark.parametrize(
    ("vat_id", "saved"),
    [("de 136 695 976", "DE136695976"), ("", ""), ("GB980780684", "GB980780684")],
)
def test_billing_details_keep_a_valid_vat_id_in_its_compact_form(client, driver, vat_id, saved):
    client.force_login(driver)
    client.post(reverse("billing:profile"), {"payment_method": "wallet", "billing_name": "Ada", "vat_id": vat_id})
    assert driver.billing_profile.vat_id == saved


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"vat_id": "DE123456789"}, "not a valid DE VAT id"),
        ({"vat_id": "123456789"}, "two-letter country code"),
        ({"vat_id": "US12-3456789"}, "cannot be checked here"),
        ({"billing_name": "x" * 201}, "at most 200 characters"),
        ({"billing_address": "a" * 301}, "at most 300 characters"),
        ({"billing_address": "\n".join("line" for _ in range(7))}, "at most 6 lines"),
    ],
)
def test_bad_billing_details_are_form_messages(client, driver, fields, message):
    client.force_login(driver)
    data = {"payment_method": "wallet", "billing_name": "Ada", **fields}
    response = client.post(reverse("billing:profile"), data, follow=True)
    assert response.status_code == 200 and message in response.content.decode()
    assert not hasattr(driver, "billing_profile") or driver.billing_profile.vat_id == ""


def test_an_invoice_waits_while_the_issuers_legal_details_are_missing(
    client, finance_user, make_tariff, make_session, driver, admin_client
):
    operator = Operator.objects.create(name="New operator", legal_name="New operator", is_default=True)
    make_tariff()
    charge = services.session_charge_create(transaction_id=make_session(user=driver).pk)
    invoice = charge.invoice
    assert (invoice.status, invoice.number, invoice.lines.count()) == ("draft", None, 1)
    assert not Payment.objects.exists()

    client.force_login(finance_user)
    html = client.get(TARIFFS).content.decode()
    assert "Invoices of <strong>New operator</strong> are not issued: its address, VAT id are missing." in html
    assert "1 invoice waits" in html
    assert services.statements_issue_due() == 0  # the beat does not issue it either

    change = reverse("admin:billing_operator_change", args=[operator.pk])
    data = {
        "name": "New operator",
        "legal_name": "New operator GmbH",
        "address": "Am Markt 1\n10115 Berlin",
        "vat_id": "DE136695976",
        "email": "",
        "timezone": "Europe/Berlin",
        "invoice_prefix": "NO-",
        "credit_note_prefix": "NO-CN-",
        "invoicing_mode": "per_session",
        "payment_terms_days": "14",
        "is_default": "on",
        "site_links-TOTAL_FORMS": "0",
        "site_links-INITIAL_FORMS": "0",
        "site_links-MIN_NUM_FORMS": "0",
        "site_links-MAX_NUM_FORMS": "1000",
    }
    response = admin_client.post(change, data, follow=True)
    assert "1 invoice(s) that waited for these details were issued." in response.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OPEN and invoice.number and invoice.issuer["vat_id"] == "DE136695976"
    assert Payment.objects.filter(invoice=invoice).exists()
    assert "are not issued" not in client.get(TARIFFS).content.decode()


def test_the_invoice_pdf_bills_to_the_email_once(client, driver, make_tariff, make_session, operator, monkeypatch):
    from reportlab import rl_config

    monkeypatch.setattr(rl_config, "pageCompression", 0)  # the page's text readable in the file
    make_tariff()
    invoice = services.session_charge_create(transaction_id=make_session(user=driver).pk).invoice
    client.force_login(driver)
    pdf = client.get(reverse("billing:invoice-pdf", args=[invoice.pk])).content
    assert b"Bill to:" in pdf
    assert pdf.count(b"driver@example.com") == 1


def test_a_wallet_entry_reads_as_money_in_the_admin(driver):
    entry = services.wallet_post(user_id=driver.pk, amount=D("20"), currency="EUR", kind="top_up", reference="r-1")
    label = str(entry)
    assert label.startswith("Top-up of 20.00 EUR, ") and label.endswith("(driver@example.com)")
    assert "r-1" not in label and "20.0000" not in label
    assert str(entry.wallet) == "Wallet of driver@example.com: 20.00 EUR"

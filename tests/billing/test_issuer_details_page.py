"""The portal page for the issuers' legal details: money roles only, every detail checked (the VAT id by its
country's rules), and saving complete details issues the invoices that waited for them, as the admin did."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from billing import services
from billing.models import Invoice, Operator, Payment

ISSUERS = reverse("money:issuers")
COMPLETE = {
    "legal_name": "New  operator   GmbH",
    "address": "Am Markt 1\n\n10115 Berlin",
    "vat_id": "de 136 695 976",
    "email": "billing@new.example",
    "invoice_prefix": "NO-",
}


@pytest.fixture
def incomplete(db):
    return Operator.objects.create(name="New operator", legal_name="New operator", is_default=True)


def _staff(django_user_model, role):
    user = django_user_model.objects.create_user(email=f"{role}@example.com", password="x-pass-123", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@pytest.mark.parametrize("role", ["analyst", "technician"])
def test_only_finance_and_operator_admins_open_or_change_the_legal_details(
    client, django_user_model, driver, incomplete, role
):
    edit = reverse("money:issuer", args=[incomplete.pk])
    assert client.get(ISSUERS).status_code == 302  # anonymous: to the login
    client.force_login(driver)
    assert client.get(ISSUERS).status_code == 403
    client.force_login(_staff(django_user_model, role))
    assert client.get(ISSUERS).status_code == 403
    assert client.post(edit, COMPLETE).status_code == 403
    incomplete.refresh_from_db()
    assert incomplete.vat_id == ""
    for allowed in ("finance", "operator_admin"):
        client.force_login(_staff(django_user_model, allowed))
        assert client.get(ISSUERS).status_code == 200
        assert client.get(edit).status_code == 200


def test_the_banner_and_the_settings_menu_lead_to_the_page(client, django_user_model, finance_user, incomplete):
    client.force_login(_staff(django_user_model, "analyst"))
    seen_by_analyst = client.get(reverse("money:tariffs")).content.decode()
    assert "are not issued" in seen_by_analyst  # told, but not sent to a page that would refuse them
    assert f'href="{ISSUERS}' not in seen_by_analyst
    client.force_login(finance_user)
    html = client.get(reverse("money:tariffs")).content.decode()
    assert f'href="{reverse("money:issuer", args=[incomplete.pk])}">Complete the details</a>' in html
    assert f'href="{ISSUERS}"' in html
    listing = client.get(ISSUERS).content.decode()
    assert "Missing: address, VAT id" in listing


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("vat_id", "DE136695977", "This is not a valid DE VAT id"),
        ("vat_id", "136695976", "Start the VAT id with its two-letter country code"),
        ("vat_id", "", "This field is required."),
        ("address", " \n ", "This field is required."),
        ("address", "\n".join(f"line {n}" for n in range(7)), "An address has at most 6 lines."),
        ("legal_name", "", "This field is required."),
        ("email", "not-an-email", "Enter a valid email address."),
        ("invoice_prefix", "INV 2026", "Letters, digits, - _ / only (at most 16)."),
    ],
)
def test_bad_details_are_a_form_message_and_change_nothing(client, finance_user, incomplete, field, value, message):
    client.force_login(finance_user)
    response = client.post(reverse("money:issuer", args=[incomplete.pk]), {**COMPLETE, field: value})
    assert response.status_code == 400
    assert message in response.content.decode()
    incomplete.refresh_from_db()
    assert incomplete.missing_legal_details() == ["address", "VAT id"]


def test_complete_details_issue_the_waiting_invoices(
    client, finance_user, incomplete, make_tariff, make_session, driver
):
    make_tariff()
    invoice = services.session_charge_create(transaction_id=make_session(user=driver).pk).invoice
    assert invoice.status == Invoice.Status.DRAFT and invoice.number is None

    client.force_login(finance_user)
    response = client.post(reverse("money:issuer", args=[incomplete.pk]), COMPLETE, follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == ISSUERS
    assert "1 invoice(s) that waited for these details were issued." in html
    assert "are not issued" not in html
    incomplete.refresh_from_db()
    assert (incomplete.legal_name, incomplete.address, incomplete.vat_id) == (
        "New operator GmbH",
        "Am Markt 1\n10115 Berlin",
        "DE136695976",
    )
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OPEN and invoice.number.startswith("NO-")
    assert invoice.issuer["vat_id"] == "DE136695976"
    assert Payment.objects.filter(invoice=invoice).exists()

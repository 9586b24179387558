"""What a driver reads of a session's cost on their session pages, the way a commercial charging app shows it: the
amount with its invoice, or, for a session that cost nothing (a few seconds, nothing delivered), a clear "No charge"
with the reason and no invoice to wait for."""

from decimal import Decimal

from django.test import Client

from billing import services
from billing.models import Invoice, SessionCharge

D = Decimal


def _driver_pages(driver, session) -> tuple[str, str]:
    client = Client()
    client.force_login(driver)
    return (
        client.get(f"/me/sessions/{session.pk}/").content.decode(),
        client.get("/me/sessions/").content.decode(),
    )


def _cost_cell(listing: str) -> str:
    return listing.split('data-label="Cost" class="num">', 1)[1].split("</td>", 1)[0]


def test_a_few_second_session_that_delivered_nothing_reads_no_charge_and_has_no_invoice(
    make_session, make_tariff, operator, funded_driver
):
    make_tariff(price_per_kwh=D("0.40"))
    session = make_session(minutes=0, energy_wh=0, samples=[], user=funded_driver)
    charge = services.session_charge_create(transaction_id=session.pk)
    assert (charge.status, charge.gross_amount, charge.invoice) == (SessionCharge.Status.FREE, D("0.00"), None)
    assert not Invoice.objects.exists()

    detail, listing = _driver_pages(funded_driver, session)
    assert "0.00" in detail and "No charge: no energy was delivered, no invoice is issued." in detail
    assert 'id="session-invoice"' not in detail and "incl. tax" not in detail
    assert _cost_cell(listing) == "No charge"


def test_a_session_under_the_tariffs_least_billable_energy_says_so(make_session, make_tariff, operator, funded_driver):
    make_tariff(price_per_kwh=D("0.40"), start_fee=D("1.00"), min_billable_energy_wh=200)
    session = make_session(minutes=1, energy_wh=150, user=funded_driver)
    services.session_charge_create(transaction_id=session.pk)
    detail, _ = _driver_pages(funded_driver, session)
    assert "No charge: less than 0.2 kWh was delivered, no invoice is issued." in detail


def test_a_billed_session_shows_its_amount_and_its_invoice(make_session, make_tariff, operator, funded_driver):
    make_tariff(price_per_kwh=D("0.40"), start_fee=D("1.00"))
    session = make_session(energy_wh=12_345, user=funded_driver)
    charge = services.session_charge_create(transaction_id=session.pk)
    detail, listing = _driver_pages(funded_driver, session)
    assert "7.07" in detail and "incl. tax" in detail
    assert charge.invoice.number in detail and f"/billing/invoices/{charge.invoice.pk}/pdf/" in detail
    assert "7.07" in _cost_cell(listing)


def test_a_session_not_priced_yet_or_still_running_shows_no_amount(make_session, make_tariff, operator, funded_driver):
    make_tariff()
    stopped = make_session(user=funded_driver)
    detail, listing = _driver_pages(funded_driver, stopped)
    assert "Being priced" in detail and _cost_cell(listing) == '<span class="muted">pending</span>'
    running = make_session(user=funded_driver, stopped=False, connector_id=2)
    detail, _ = _driver_pages(funded_driver, running)
    assert "In progress" in detail and "No charge" not in detail

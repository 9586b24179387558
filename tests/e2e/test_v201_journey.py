"""An OCPP 2.0.1 station's charge, paid for by a driver who topped up with the test payment method, in real
browsers against the live server: the driver tops up on the phone (390x844), the operator (1366x900) sees the
station go busy on the live board, finds the session with its TransactionEvent authorisations and its invoice,
reads the station page (its device model, not a 1.6 configuration), and the driver finds the invoice paid.

The station is the 2.0.1 simulator in a thread of its own; pricing, invoicing and collection run in a real
Celery worker. Screenshots go to var/screens/v201_journey/.
"""

import re
import time

import pytest

from tests.e2e.charger import billing_worker_running, charger_running, public_tariff_and_operator
from tests.e2e.conftest import DESKTOP, PHONE

OCPP_ID = "EVSE-201"
TAG = "04B201C0FFEE"
PATIENCE_MS = 60_000
SHOTS = "v201_journey/"
TEST_PAYMENT = "Test payment (demo) — no real money"


@pytest.fixture
def charger_201(db, user_with_role):
    """A 2.0.1 station, a public tariff, a complete issuer, a driver's card, and test payments turned on (in the
    server's process too: a seeded demo network is what turns them on without a setting)."""
    from accounts.models import IdToken
    from demo.models import DemoNetwork
    from simulator import DEFAULT_PASSWORD
    from stations.services import station_create

    station = station_create(ocpp_id=OCPP_ID, password=DEFAULT_PASSWORD, name="Harbour EVSE")
    public_tariff_and_operator()
    DemoNetwork.objects.create(
        operator_email="demo.operator@example.com",
        operator_password="x",
        driver_email="demo.driver@example.com",
        driver_password="y",
        station_password="z",
        station_prefix="DEMO-",
        stations=0,
        seconds=0,
    )
    driver = user_with_role("driver")
    IdToken.objects.create(token=TAG, type="ISO14443", owner=driver)
    return station, driver


@pytest.fixture
def billing_worker():
    with billing_worker_running("v201-journey") as worker:
        yield worker


def _until(check, what: str, within: float = 60):
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def test_a_201_charge_paid_by_test_payment_is_followed_by_the_operator_and_the_driver(
    browse, charger_201, billing_worker, user_with_role
):
    from billing.models import Invoice
    from sessions.models import Transaction
    from simulator import SimulatedStation201
    from stations.models import Station

    station, driver = charger_201
    phone = browse(PHONE, user=driver)
    phone.page.set_default_timeout(PATIENCE_MS)

    # The driver tops up with the test payment method, on the phone.
    phone.open("/billing/wallet/")
    assert TEST_PAYMENT in phone.page.content()
    phone.page.get_by_label(re.compile("Top up with a test payment")).fill("20")
    phone.page.get_by_role("button", name="Top up with a test payment").click()
    phone.page.get_by_text(f"Topped up 20.00 EUR ({TEST_PAYMENT}).").wait_for()
    assert phone.overflow() <= 0
    phone.screenshot(f"{SHOTS}01_test_top_up")

    laptop = browse(DESKTOP, user=user_with_role("operator_admin"))
    page = laptop.page
    page.set_default_timeout(PATIENCE_MS)
    row = page.locator(f'#board tr[data-station="{OCPP_ID}"][data-connector="1"]')
    with charger_running(laptop.server, OCPP_ID, station_class=SimulatedStation201) as charger:
        assert Station.objects.get(pk=station.pk).ocpp_version == "2.0.1"
        laptop.open("/operator/live/")
        row.wait_for()
        page.evaluate("() => { window.notReloaded = true; }")
        charger.do(charger.station.start_session, 1, TAG)
        page.wait_for_function(
            f"""() => {{ const r = document.querySelector('#board tr[data-station="{OCPP_ID}"][data-connector="1"]');
                return r && r.dataset.state !== 'available' && r.dataset.session; }}"""
        )
        session = Transaction.objects.get(station=station, status="active")
        assert row.get_attribute("data-session") == str(session.pk)
        # Enough energy for a price in cents.
        page.wait_for_function(
            f"""() => parseFloat(document.querySelector('#board tr[data-station="{OCPP_ID}"][data-connector="1"]'
                + ' [data-field="energy"]').textContent) >= 0.05"""
        )
        assert page.evaluate("() => window.notReloaded === true")
        laptop.screenshot(f"{SHOTS}02_live_board_busy")
        charger.do(charger.station.stop_session, 1, "Local")
        _until(
            lambda: Transaction.objects.filter(pk=session.pk, status="completed").exists(), "the session did not end"
        )

        # The station page of a 2.0.1 station: its device model, no 1.6 configuration; when it was last heard from.
        laptop.open(f"/operator/stations/{OCPP_ID}/")
        assert page.locator("#configuration").count() == 0
        assert page.get_by_role("link", name="Browse and edit the device model").count() == 1
        assert "never" not in page.locator("#last-heard").inner_text()
        laptop.screenshot(f"{SHOTS}03_station_page")

    # Priced, invoiced and paid from the wallet by the worker.
    _until(
        lambda: Invoice.objects.filter(customer=driver, status=Invoice.Status.PAID).exists(),
        "the session's invoice was not issued and paid",
    )
    invoice = Invoice.objects.get(customer=driver)

    laptop.open(f"/operator/sessions/{session.pk}/")
    authorizations = page.locator("#session-authorizations").inner_text()
    assert "TransactionEvent (2.0.1)" in authorizations
    page.locator("#session-invoice").get_by_role("link", name=invoice.number).click()
    page.wait_for_url("**/billing/operator/invoices/?number=*")
    assert page.locator("tbody tr", has_text=invoice.number).count() == 1
    laptop.screenshot(f"{SHOTS}04_operator_invoice")

    phone.open(f"/me/sessions/{session.pk}/")
    assert invoice.number in phone.page.locator("#session-invoice").inner_text()
    assert "incl. tax" in phone.page.locator("#session-cost").inner_text()
    phone.screenshot(f"{SHOTS}05_driver_session")
    phone.open("/billing/invoices/")
    assert "Paid" in phone.page.locator("tr", has_text=invoice.number).first.inner_text()
    assert phone.overflow() <= 0
    phone.screenshot(f"{SHOTS}06_driver_invoices")

    for browser in (phone, laptop):
        assert browser.visit.console_errors == []
        assert [failed for failed in browser.visit.failed if "/favicon" not in failed] == []

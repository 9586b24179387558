"""An operator's day on a laptop (1366x900), in a real browser against the live server: a station goes busy on
the live board without a reload, a reset sent from the station page is answered by the station, the session is
found in the session list with its invoice, and every analytics dashboard draws its charts.

The station is the simulator (OCPP 1.6) in a thread of its own; pricing and invoicing run in a real Celery
worker. Screenshots of each step go to var/screens/operator_journey/.
"""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.e2e.charger import billing_worker_running, charger_running, public_tariff_and_operator
from tests.e2e.conftest import DESKTOP

OCPP_ID = "DEPOT-7"
TAG = "04C0FFEE42"
# Dashboards load plotly.js (4.5 MB), which takes a loaded 2-core machine 10 to 20 s to parse.
PATIENCE_MS = 60_000
SHOTS = "operator_journey/"
TRACES = """() => [...document.querySelectorAll('.plotly-graph-div')]
    .map(div => (div.data || []).length)"""


@pytest.fixture
def depot(db, django_user_model):
    """A station at a site, a public tariff, a complete issuer and a driver with a card and money."""
    from accounts.models import IdToken
    from billing.services.wallet import wallet_adjust
    from simulator import DEFAULT_PASSWORD
    from stations.models import Site
    from stations.services import station_create

    site = Site.objects.create(name="Harbour depot", timezone="Europe/Berlin")
    station = station_create(ocpp_id=OCPP_ID, password=DEFAULT_PASSWORD, name="Depot bay 7")
    station.site = site
    station.save(update_fields=["site"])
    public_tariff_and_operator()
    driver = django_user_model.objects.create_user(email="fleet.driver@example.com", password="driver-pass-123")
    IdToken.objects.create(token=TAG, owner=driver)
    admin = django_user_model.objects.create_superuser(email="admin@example.com", password="admin-pass-123")
    wallet_adjust(user=driver, amount=Decimal("50"), reason="fleet credit", by=admin, reference="depot")
    return station


@pytest.fixture
def billing_worker():
    with billing_worker_running("operator-journey") as worker:
        yield worker


def _row(page):
    return page.locator(f'#board tr[data-station="{OCPP_ID}"][data-connector="1"]')


def test_an_operator_follows_a_charge_resets_the_station_finds_the_invoice_and_reads_the_dashboards(
    browse, depot, billing_worker, user_with_role
):
    from analytics.rollups import rebuild_days
    from analytics.views import visible_dashboards
    from billing.models import Invoice
    from sessions.models import Transaction
    from stations.models import StationCommand

    operator = user_with_role("operator_admin")
    laptop = browse(DESKTOP, user=operator)
    page = laptop.page
    page.set_default_timeout(PATIENCE_MS)

    with charger_running(laptop.server, OCPP_ID, meter_interval=1.0) as charger:
        # The live board: the row turns busy as the station reports, without a reload.
        laptop.open("/operator/live/")
        row = _row(page)
        row.wait_for()
        assert row.get_attribute("data-state") == "available"
        page.evaluate("() => { window.notReloaded = true; }")
        laptop.screenshot(f"{SHOTS}01_live_board_free")
        charger.do(charger.station.start_session, 1, TAG)
        page.wait_for_function(
            f"""() => {{ const r = document.querySelector('#board tr[data-station="{OCPP_ID}"][data-connector="1"]');
                return r && r.dataset.state !== 'available' && r.dataset.session; }}"""
        )
        session = Transaction.objects.get(station=depot, status="active")
        assert row.get_attribute("data-session") == str(session.pk)
        assert TAG in row.locator('[data-field="session"]').inner_text()
        page.wait_for_function(
            f"""() => /[1-9]/.test(document.querySelector(
                '#board tr[data-station="{OCPP_ID}"][data-connector="1"] [data-field="power"]').textContent)"""
        )
        # Enough energy for a price in cents (a few seconds' charge rounds to nothing, and nothing is invoiced).
        page.wait_for_function(
            f"""() => parseFloat(document.querySelector('#board tr[data-station="{OCPP_ID}"][data-connector="1"]'
                + ' [data-field="energy"]').textContent) >= 0.05"""
        )
        assert page.evaluate("() => window.notReloaded === true")
        laptop.screenshot(f"{SHOTS}02_live_board_busy")

        # The driver leaves; then a reset from the station page, which the station answers.
        charger.do(charger.station.stop_session, 1, "Local")
        deadline = time.monotonic() + 20
        while not Transaction.objects.filter(pk=session.pk, status="completed").exists():
            assert time.monotonic() < deadline, "the session did not end"
            time.sleep(0.2)
        laptop.open(f"/operator/stations/{OCPP_ID}/")
        page.get_by_label("Reset type").select_option("Soft")
        page.get_by_role("button", name="Reset", exact=True).click()
        page.wait_for_url("**/operator/maintenance/**")
        job_row = page.locator("tr", has_text=OCPP_ID)
        job_row.get_by_text("Succeeded").wait_for()
        assert "Accepted" in job_row.inner_text()
        laptop.screenshot(f"{SHOTS}03_reset_answered")
        reset = StationCommand.objects.get(station=depot, action="Reset")
        assert reset.response == {"status": "Accepted"}

    # The session in the list, and its invoice once the worker issued it.
    deadline = time.monotonic() + 60
    while not Invoice.objects.filter(customer__email="fleet.driver@example.com").exclude(status="draft").exists():
        assert time.monotonic() < deadline, "the session's invoice was not issued"
        time.sleep(0.5)
    invoice = Invoice.objects.get(customer__email="fleet.driver@example.com")
    laptop.open("/operator/sessions/")
    page.get_by_label("ID token or driver").fill(TAG)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/operator/sessions/?*")
    rows = page.locator("#sessions tbody tr")
    assert rows.count() == 1
    rows.get_by_role("link", name=f"#{session.pk}").click()
    page.wait_for_url(f"**/operator/sessions/{session.pk}/")
    page.locator(".js-plotly-plot").first.wait_for()
    laptop.screenshot(f"{SHOTS}04_session")
    page.locator("#session-invoice").get_by_role("link", name=invoice.number).click()
    page.wait_for_url("**/billing/operator/invoices/?number=*")
    invoice_row = page.locator("tbody tr", has_text=invoice.number)
    assert invoice_row.count() == 1
    laptop.screenshot(f"{SHOTS}05_invoice")
    with page.expect_download() as download:
        invoice_row.get_by_role("link", name="PDF").click()
    assert download.value.suggested_filename == f"{invoice.number}.pdf"

    # Every dashboard this operator may open draws its charts, each with traces.
    today = timezone.localdate()
    rebuild_days(d0=today - timedelta(days=1), d1=today)
    dashboards = visible_dashboards(operator)
    assert {name for name, _spec in dashboards} >= {"usage", "utilisation", "reliability", "energy", "money"}
    for name, spec in dashboards:
        laptop.open(f"/analytics/{name}/")
        page.locator(".js-plotly-plot").first.wait_for()
        traces = page.evaluate(TRACES)
        assert traces and all(count > 0 for count in traces), f"{spec.title}: traces per chart {traces}"
        laptop.screenshot(f"{SHOTS}06_dashboard_{name}")
    assert laptop.visit.console_errors == []
    assert laptop.visit.failed == []


def test_finance_completes_the_issuers_legal_details_from_the_banner_and_the_waiting_invoice_goes_out(
    browse, depot, user_with_role
):
    from billing.models import Invoice, Operator
    from billing.services import session_charge_create
    from sessions.models import Transaction

    issuer = Operator.objects.get()
    Operator.objects.filter(pk=issuer.pk).update(address="", vat_id="")
    ended = timezone.now() - timedelta(hours=1)
    session = Transaction.objects.create(
        station=depot,
        connector_id=1,
        id_tag=TAG,
        user=depot_driver(),
        started_at=ended - timedelta(minutes=30),
        stopped_at=ended,
        meter_start=0,
        meter_stop=5_000,
        energy_wh=5_000,
        status="completed",
    )
    invoice = session_charge_create(transaction_id=session.pk).invoice
    assert invoice.status == Invoice.Status.DRAFT

    laptop = browse(DESKTOP, user=user_with_role("finance"))
    page = laptop.page
    laptop.open("/operator/tariffs/")
    banner = page.locator(".issuer-alert")
    assert "its address, VAT id are missing" in banner.inner_text()
    banner.get_by_role("link", name="Complete the details").click()
    page.wait_for_url(f"**/operator/legal-details/{issuer.pk}/")
    page.get_by_label("Address").fill("Hauptstr. 1\n10115 Berlin")
    page.get_by_label("VAT id").fill("DE 136 695 977")
    page.get_by_role("button", name="Save the details").click()
    page.get_by_text("This is not a valid DE VAT id").wait_for()
    laptop.screenshot(f"{SHOTS}07_legal_details_invalid")
    page.get_by_label("VAT id").fill("DE 136 695 976")
    page.get_by_role("button", name="Save the details").click()
    page.get_by_text("1 invoice(s) that waited for these details were issued.").wait_for()
    assert page.locator(".issuer-alert").count() == 0
    laptop.screenshot(f"{SHOTS}08_legal_details_saved")
    invoice.refresh_from_db()
    assert invoice.status != Invoice.Status.DRAFT and invoice.number.startswith("VG-")
    assert invoice.issuer["vat_id"] == "DE136695976"
    # The refused form answers 400 (as every invalid portal form does); nothing else went wrong.
    assert [e for e in laptop.visit.console_errors if "status of 400" not in e] == []
    assert laptop.visit.failed == [f"400 {laptop.server.http_url}/operator/legal-details/{issuer.pk}/"]


def depot_driver():
    from accounts.models import IdToken

    return IdToken.objects.get(token=TAG).owner

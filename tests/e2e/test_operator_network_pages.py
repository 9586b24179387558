"""The operator's network and charging pages in a real browser, at a laptop's 1366 px and a phone's 390 px: no
page wider than the screen, every form field labelled, and the everyday tasks done with clicks: find a session
and open its invoice, accept stations in bulk, register a station and read its password once."""

import pytest

from stations.models import Station
from tests.e2e.conftest import DESKTOP, PHONE
from tests.e2e.test_crawl import UNLABELLED_FIELDS
from tests.portal.support import SESSION_TOKEN, build_network

SIZES = [pytest.param(DESKTOP, id="1366"), pytest.param(PHONE, id="390")]
# The session page loads plotly.js (4.5 MB), which takes a loaded 2-core machine 10 to 20 s to parse.
PATIENCE_MS = 60_000


@pytest.fixture
def network(make_station, user_with_role):
    return build_network(make_station=make_station, driver=user_with_role("driver"))


def _pages(network) -> list[str]:
    return [
        "/operator/stations/",
        "/operator/stations/?status=faulted&sort=-last_seen",
        "/operator/new-station/",
        f"/operator/stations/{network.online.ocpp_id}/edit/",
        f"/operator/stations/{network.online.ocpp_id}/credentials/",
        "/operator/sites/",
        "/operator/sites/new/",
        "/operator/sessions/",
        f"/operator/sessions/{network.session.pk}/",
        f"/operator/sessions/{network.active_session.pk}/",
    ]


@pytest.mark.parametrize("size", SIZES)
def test_the_pages_fit_the_screen_and_label_every_field(browse, network, user_with_role, size):
    browser = browse(size, user=user_with_role("operator_admin"))
    browser.context.set_default_timeout(PATIENCE_MS)
    problems = []
    for path in _pages(network):
        response = browser.open(path)
        if response.status != 200:
            problems.append(f"{response.status} {path}")
            continue
        if browser.overflow() > 0:
            problems.append(f"{path} is {browser.overflow()} px wider than {size['width']} px")
        problems += [f"{path}: unlabelled {field}" for field in browser.page.evaluate(UNLABELLED_FIELDS)]
        slug = path.strip("/").replace("/", "_").replace("?", "_").replace("&", "_").replace("=", "-")
        browser.screenshot(f"network/{slug}_{size['width']}")
    problems += [f"console: {error}" for error in browser.visit.console_errors]
    problems += [f"resource: {failed}" for failed in browser.visit.failed]
    assert problems == []


@pytest.mark.parametrize("size", SIZES)
def test_an_operator_finds_a_session_and_opens_its_invoice(browse, network, user_with_role, size):
    browser = browse(size, user=user_with_role("finance"))
    browser.context.set_default_timeout(PATIENCE_MS)
    page = browser.page
    browser.open("/")
    if size is PHONE:
        page.locator(".nav-toggle-label").click()
    page.locator("summary", has_text="Charging").click()
    page.get_by_role("link", name="Sessions", exact=True).click()
    page.wait_for_url("**/operator/sessions/")
    page.get_by_label("ID token or driver").fill(SESSION_TOKEN)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/operator/sessions/?*")
    rows = page.locator("#sessions tbody tr")
    assert rows.count() == 1
    rows.get_by_role("link", name=f"#{network.session.pk}").click()
    page.wait_for_url(f"**/operator/sessions/{network.session.pk}/")
    # The meter curve is drawn, with kWh and SoC % on axes of their own.
    page.locator(".js-plotly-plot").wait_for()
    axes = page.evaluate(
        "() => { const l = document.querySelector('.js-plotly-plot').layout;"
        " return [l.yaxis.title.text, l.yaxis2.title.text, l.yaxis3.title.text]; }"
    )
    assert axes == ["kW", "kWh", "SoC %"]
    assert page.locator("#session-authorizations tbody tr").count() == 1
    assert browser.overflow() <= 0
    browser.screenshot(f"network/session_found_{size['width']}")
    page.locator("#session-invoice").get_by_role("link", name=network.invoice.number).click()
    page.wait_for_url("**/billing/operator/invoices/?number=*")
    invoice_row = page.locator("tbody tr", has_text=network.invoice.number)
    assert invoice_row.count() == 1
    with page.expect_download() as download:
        invoice_row.get_by_role("link", name="PDF").click()
    assert download.value.suggested_filename == f"{network.invoice.number}.pdf"
    assert browser.visit.console_errors == [] and browser.visit.failed == []


def test_a_technician_accepts_stations_in_bulk_after_confirming(browse, network, user_with_role):
    browser = browse(DESKTOP, user=user_with_role("technician"))
    page = browser.page
    browser.open("/operator/stations/?registration_status=Pending")
    page.get_by_label(f"Select {network.pending.ocpp_id}").check()
    page.get_by_label("Action").select_option("accept")
    page.get_by_role("button", name="Apply to selected…").click()
    page.get_by_role("heading", name="Accept registration?").wait_for()
    assert Station.objects.get(pk=network.pending.pk).registration_status == "Pending"
    page.get_by_role("button", name="Confirm").click()
    outcome = page.locator("#bulk-outcomes tbody tr", has_text=network.pending.ocpp_id)
    assert "Changed" in outcome.inner_text()
    assert Station.objects.get(pk=network.pending.pk).registration_status == "Accepted"
    browser.screenshot("network/bulk_accepted_1366")


def test_registering_a_station_on_a_phone_shows_its_password_once(browse, network, user_with_role):
    browser = browse(PHONE, user=user_with_role("technician"))
    page = browser.page
    browser.open("/operator/new-station/")
    page.get_by_label("OCPP id").fill("CP 9")
    page.get_by_role("button", name="Register").click()
    assert "no spaces" in page.locator(".field-error").first.inner_text()
    page.get_by_label("OCPP id").fill("CP-PHONE-9")
    page.get_by_label("Site").select_option(label="Town")
    page.get_by_role("button", name="Register").click()
    password = page.get_by_label("Password").input_value()
    assert Station.objects.get(ocpp_id="CP-PHONE-9").check_password(password)
    assert browser.overflow() <= 0
    browser.screenshot("network/registered_390")

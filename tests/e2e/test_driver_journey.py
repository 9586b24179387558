"""A driver's whole journey on a phone (390x844), in a real browser against the live server: sign up and
confirm the e-mail through the link the server sent, add a card, start a charge on the connector page, watch
energy and power rise as the simulated station meters, stop it from the phone and download the invoice PDF.

The station is the simulator (OCPP 1.6) in a thread of its own; pricing and invoicing run in a real Celery
worker. Screenshots of each step go to var/screens/driver_journey/.
"""

import base64
import re
import time
import zlib
from decimal import Decimal
from pathlib import Path

import pytest

from tests.e2e.charger import billing_worker_running, charger_running, public_tariff_and_operator
from tests.e2e.conftest import PHONE, ROOT

OCPP_ID = "PHONE-1"
EMAIL = "new.driver@example.com"
PASSWORD = "a-long-Pass-phrase-42"
PATIENCE_MS = 30_000


@pytest.fixture
def public_charger(db, django_user_model):
    """A station with a public tariff, billed by an operator whose legal details are complete."""
    from simulator import DEFAULT_PASSWORD
    from stations.services import station_create

    station = station_create(ocpp_id=OCPP_ID, password=DEFAULT_PASSWORD, name="Market Square")
    public_tariff_and_operator(email="billing@voltgrid.example")
    return station


@pytest.fixture
def billing_worker():
    with billing_worker_running("driver-journey") as worker:
        yield worker


def _confirmation_link(log: Path, email: str, within: float = 20) -> str:
    """The confirmation link of the e-mail the server sent (its console backend writes mail to the log)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace").replace("=\n", "").replace("=3D", "=")
        if email in text:
            links = re.findall(r"https?://[^\s\"<>]+/accounts/confirm-email/[^\s\"<>]+/", text)
            if links:
                return links[-1]
        time.sleep(0.2)
    raise AssertionError(f"no confirmation e-mail to {email} in {log}")


def _pdf_text(pdf: bytes) -> str:
    """The page content of a reportlab PDF, its streams decoded (ASCII85 and Flate, as reportlab writes them)."""
    texts = [pdf.decode("latin-1")]
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        data = stream.strip()
        for decode in (lambda d: zlib.decompress(base64.a85decode(d, adobe=True)), zlib.decompress):
            try:
                texts.append(decode(data).decode("latin-1"))
                break
            except (ValueError, zlib.error):
                continue
    return "\n".join(texts)


def _figure(page, selector: str) -> float:
    text = page.locator(selector).inner_text()
    number = re.search(r"[\d.,]+", text)
    return float(number.group().replace(",", "")) if number else 0.0


def test_a_driver_signs_up_adds_a_card_charges_watches_stops_and_downloads_the_invoice(
    browse, daphne_server, public_charger, billing_worker, django_user_model
):
    from accounts.models import IdToken
    from billing.models import Invoice
    from billing.services.wallet import wallet_adjust
    from sessions.models import Transaction

    phone = browse(PHONE)
    page = phone.page
    page.set_default_timeout(PATIENCE_MS)
    shots = "driver_journey/"

    with charger_running(daphne_server, OCPP_ID, meter_interval=1.0):
        # Sign up, then confirm the address through the e-mail's link.
        phone.open(f"/c/{OCPP_ID}/1/")
        page.get_by_role("link", name="Sign up").click()
        page.locator("input[name=email]").fill(EMAIL)
        page.locator("input[name=password1]").fill(PASSWORD)
        page.locator("input[name=password2]").fill(PASSWORD)
        phone.screenshot(f"{shots}01_sign_up")
        page.get_by_role("button", name=re.compile("Sign up", re.I)).click()
        page.wait_for_load_state("load")
        assert "verify" in page.content().lower() or "confirm" in page.content().lower()
        link = _confirmation_link(ROOT / "var" / f"test-daphne-{daphne_server.port}.log", EMAIL)
        phone.open(link)
        phone.screenshot(f"{shots}02_confirm_email")
        page.get_by_role("button", name=re.compile("Confirm", re.I)).click()
        page.wait_for_load_state("load")
        driver = django_user_model.objects.get(email=EMAIL)
        assert driver.emailaddress_set.get(email=EMAIL).verified

        # A card, typed as printed (spaces do not matter).
        phone.open("/me/cards/")
        page.get_by_label("Card number").fill("04 a1 b2 c3 d4 e5 f6")
        page.get_by_label("Name (optional)").fill("My car")
        page.get_by_role("button", name=re.compile("Add", re.I)).click()
        page.get_by_text("Card 04A1B2C3D4E5F6 is on your account.").wait_for()
        phone.screenshot(f"{shots}03_card_added")
        assert IdToken.objects.filter(owner=driver, token="04A1B2C3D4E5F6").exists()

        # Money to charge with: the operator credits the wallet (no payment provider in this test).
        admin = django_user_model.objects.create_superuser(email="admin@example.com", password="admin-pass-123")
        wallet_adjust(user=driver, amount=Decimal("50"), reason="welcome credit", by=admin, reference="journey")

        phone.open(f"/c/{OCPP_ID}/1/")
        page.get_by_text("Available").first.wait_for()
        phone.screenshot(f"{shots}04_connector")
        page.get_by_role("button", name="Start charging").click()
        page.get_by_text("Charging has started.").wait_for()
        session = Transaction.objects.get(station=public_charger, status="active")
        assert session.user_id == driver.pk

        # The page follows the charge without a reload: energy rises, power is shown.
        page.wait_for_function(
            "() => document.querySelector('#power') && /\\d/.test(document.querySelector('#power').textContent)"
        )
        first = _figure(page, "#energy")
        page.wait_for_function(
            f"() => parseFloat(document.querySelector('#energy').textContent.replace(/[^\\d.]/g, '')) > {first}",
            timeout=PATIENCE_MS,
        )
        assert _figure(page, "#power") > 0
        phone.screenshot(f"{shots}05_charging")

        # The page the stop lands on says so; it may reload itself as soon as the station has stopped.
        with page.expect_response(lambda r: r.url.endswith(f"/c/{OCPP_ID}/1/") and r.status == 200) as landed:
            page.get_by_role("button", name="Stop charging").click()
        assert "The charger is ending your session." in landed.value.text()
        page.get_by_text("Your charge has ended").wait_for(timeout=PATIENCE_MS)
        phone.screenshot(f"{shots}06_ended")
    session.refresh_from_db()
    assert session.status == "completed" and session.stop_reason == "Remote" and session.energy_wh > 0

    # The invoice, once the worker has priced the session and issued it.
    deadline = time.monotonic() + 60
    while not Invoice.objects.filter(customer=driver).exclude(status=Invoice.Status.DRAFT).exists():
        assert time.monotonic() < deadline, "the session's invoice was not issued"
        time.sleep(0.5)
    invoice = Invoice.objects.get(customer=driver)
    phone.open("/billing/invoices/")
    phone.screenshot(f"{shots}07_invoices")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="PDF").first.click()
    download = download_info.value
    pdf = Path(download.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert download.suggested_filename == f"{invoice.number}.pdf"
    text = _pdf_text(pdf)
    assert f"Charging session {session.pk} at" in text
    assert phone.visit.console_errors == []
    assert [failed for failed in phone.visit.failed if "/favicon" not in failed] == []

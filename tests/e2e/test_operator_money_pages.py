"""The operator's token and money pages in a real browser: laid out on a laptop and a phone, every field
labelled, and an operator creating a tariff while its live price preview follows what they type."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.e2e.conftest import DESKTOP, PHONE
from tests.e2e.test_crawl import UNLABELLED_FIELDS


@pytest.fixture
def money_data(user_with_role):
    """A driver with a card, a wallet and an invoice; a tariff with a period; an unassigned card with a claim."""
    from accounts.models import IdTokenClaim
    from accounts.services import id_token_create
    from billing import services
    from billing.models import Operator, Tariff, TariffPeriod

    driver = user_with_role("driver")
    id_token_create(token="04A1B2C3", data={"owner": driver, "label": "Work car"}, source="command")
    unassigned = id_token_create(token="04D1E2F3", source="command")
    IdTokenClaim.objects.create(id_token=unassigned, user=driver)
    services.wallet_post(user_id=driver.pk, amount=Decimal("42.50"), currency="EUR", kind="top_up", reference="seed")
    Operator.objects.create(name="Spree", legal_name="Spree GmbH", address="Am Markt 1", vat_id="DE136695976")
    tariff = Tariff.objects.create(
        name="Standard",
        currency="EUR",
        tax_rate=Decimal("19"),
        price_per_kwh=Decimal("0.40"),
        valid_from=timezone.now() - timedelta(days=30),
    )
    TariffPeriod.objects.create(
        tariff=tariff, name="Night", start_time="22:00", end_time="06:00", price_per_kwh=Decimal("0.30")
    )
    return {"driver": driver, "tariff": tariff, "unassigned": unassigned}


def _pages(data) -> list[str]:
    return [
        "/operator/id-tokens/",
        "/operator/id-tokens/new/",
        f"/operator/id-tokens/{data['unassigned'].pk}/history/",
        "/operator/tariffs/",
        "/operator/tariffs/new/",
        f"/operator/tariffs/{data['tariff'].pk}/",
        "/operator/drivers/",
        f"/operator/drivers/{data['driver'].pk}/",
        "/operator/payments/",
    ]


def test_the_pages_fit_a_laptop_and_a_phone_with_every_field_labelled(browse, user_with_role, money_data):
    admin = user_with_role("operator_admin")
    problems = []
    for size in (DESKTOP, PHONE):
        browser = browse(size, user=admin)
        for path in _pages(money_data):
            response = browser.open(path)
            if response.status != 200:
                problems.append(f"{response.status} {path}")
            if browser.overflow() > 0:
                problems.append(f"{path} is {browser.overflow()} px too wide at {size['width']}")
            problems += [f"{path}: unlabelled {field}" for field in browser.page.evaluate(UNLABELLED_FIELDS)]
            browser.screenshot(f"money/{path.strip('/').replace('/', '_')}_{size['width']}")
        browser.page.wait_for_timeout(300)  # the saved tariff's preview request settles
        problems += browser.visit.console_errors + browser.visit.failed
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1366", "390"])
def test_an_operator_creates_a_tariff_and_sees_the_preview(browse, user_with_role, size):
    from billing.models import Tariff

    browser = browse(size, user=user_with_role("finance"))
    page = browser.page
    browser.open("/operator/tariffs/new/")
    page.locator("#id_name").fill("Evening fast")
    page.locator("#id_tax_rate").fill("19")
    page.locator("#id_price_per_kwh").fill("0.50")
    page.locator("#id_start_fee").fill("1.00")
    page.locator("#id_sample-energy_kwh").fill("30")
    page.locator("#id_sample-minutes").fill("45")
    page.locator("#id_sample-starts_at").fill("2025-03-12T18:00")
    # 30 kWh x 0.50 + 1.00 start fee = 16.00 net, 19 % VAT: 19.04 gross; shown while typing, nothing saved.
    page.locator(".preview-gross", has_text="19.04 EUR").wait_for()
    assert not Tariff.objects.exists()
    page.locator("#id_price_per_kwh").fill("0.60")
    page.locator(".preview-gross", has_text="22.61 EUR").wait_for()
    browser.screenshot(f"money/tariff_preview_{size['width']}")
    assert browser.overflow() <= 0
    page.get_by_role("button", name="Save the tariff").click()
    page.get_by_text("Tariff Evening fast saved.").wait_for()
    tariff = Tariff.objects.get()
    assert (tariff.name, tariff.price_per_kwh, tariff.start_fee) == ("Evening fast", Decimal("0.60"), Decimal("1.00"))
    assert browser.visit.console_errors == []


def test_the_menu_holds_the_new_pages_and_stays_on_one_line_at_1280_px(browse, user_with_role):
    browser = browse({"width": 1280, "height": 800}, user=user_with_role("operator_admin"))
    browser.open("/operator/payments/")  # the menu is the same on every page; this one is light
    tops = browser.page.evaluate(
        """() => [...document.querySelectorAll('.nav > a, .nav > details > summary')]
            .filter(e => e.offsetParent !== null).map(e => e.getBoundingClientRect().top)"""
    )
    assert max(tops) - min(tops) < 10
    browser.page.locator("summary", has_text="Money").click()
    money = browser.page.locator(".nav-group[open] .nav-menu a").all_inner_texts()
    assert money[:4] == ["Tariffs", "Drivers", "Payments", "Invoices"]
    browser.page.locator("summary", has_text="Charging").click()
    browser.page.get_by_role("link", name="ID tokens", exact=True).click()
    browser.page.wait_for_url("**/operator/id-tokens/")
    assert browser.visit.console_errors == []

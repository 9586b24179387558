"""A driver states their charging needs on the phone (390x844), in a real browser against the live server: from
their session in progress at a load-managed site, they set when they leave and the energy they want, and find both
saved on the session page with the share the site gives them; nothing is wider than the phone. Screenshots go to
var/screens/driver_needs/."""

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils import timezone

from sessions.models import Transaction
from smartcharging.models import ConnectorAllocation, DriverChargingNeeds, LoadGroup
from stations.models import Site
from tests.e2e.conftest import PHONE
from tests.e2e.test_crawl import UNLABELLED_FIELDS

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_driver_sets_departure_and_energy_on_the_phone_and_sees_them_saved(browse, make_station, user_with_role):
    site = Site.objects.create(name="Harbour depot", timezone="Europe/Berlin")
    station = make_station("NEEDS-1", site=site)
    LoadGroup.objects.create(site=site, name="Grid connection", limit=32)
    driver = user_with_role("driver")
    session = Transaction.objects.create(
        station=station, connector_id=1, user=driver, id_tag="T", started_at=timezone.now() - timedelta(minutes=20)
    )
    ConnectorAllocation.objects.create(
        site=site, station=station, connector_id=1, transaction=session, state="charging", current_a=16
    )
    phone = browse(PHONE, user=driver)
    page = phone.page

    phone.open(f"/me/sessions/{session.pk}/")
    assert "16.0 A" in page.locator("#needs-share").inner_text()
    page.get_by_role("link", name="Set my charging needs").click()
    page.wait_for_url(f"**/me/sessions/{session.pk}/needs/")
    assert page.evaluate(UNLABELLED_FIELDS) == []
    assert phone.overflow() <= 0
    leaving = (timezone.now() + timedelta(hours=4)).astimezone(BERLIN).replace(second=0, microsecond=0)
    page.get_by_label("I leave at").fill(leaving.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Energy I want from this session").fill("22.5")
    phone.screenshot("driver_needs/01_form")
    page.get_by_role("button", name="Save").click()

    page.wait_for_url(f"**/me/sessions/{session.pk}/")
    page.get_by_text("Your charging needs are saved.").wait_for()
    stated = page.locator("#needs-stated").inner_text()
    assert leaving.strftime("%H:%M") in stated and "22.5 kWh" in stated
    assert "as you asked" in page.locator("#needs-planned").inner_text()
    assert phone.overflow() <= 0
    phone.screenshot("driver_needs/02_saved")
    row = DriverChargingNeeds.objects.get(transaction=session)
    assert (row.departure_at, row.energy_kwh) == (leaving, Decimal("22.5"))

    page.get_by_role("link", name="Change my charging needs").click()
    assert page.get_by_label("I leave at").input_value() == leaving.strftime("%Y-%m-%dT%H:%M")
    assert phone.visit.console_errors == [] and phone.visit.failed == []

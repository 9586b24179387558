"""A technician builds a site's load management in a real browser (1366x900): puts the site under a limit from the
load list, adds a feeder with a station and a cheaper night window, and finds both on the site's page beside its
load graph, with its station that refuses TxProfiles marked as held by connector defaults. Screenshots go to
var/screens/load/."""

from django.utils import timezone

from smartcharging.models import LoadGroup, StationLoadState
from stations.models import Site
from tests.e2e.conftest import DESKTOP, PHONE
from tests.e2e.test_crawl import UNLABELLED_FIELDS

# The site page loads plotly.js (4.5 MB), which takes a loaded 2-core machine 10 to 20 s to parse.
PATIENCE_MS = 60_000


def test_a_technician_builds_a_site_with_a_feeder_and_a_night_period(browse, make_station, user_with_role):
    site = Site.objects.create(name="Harbour depot", timezone="Europe/Berlin")
    make_station("HARBOUR-1", site=site)
    refusing = make_station("HARBOUR-2", site=site)
    StationLoadState.objects.create(station=refusing, tx_profile_refused_at=timezone.now())
    technician = user_with_role("technician")
    browser = browse(DESKTOP, user=technician)
    browser.context.set_default_timeout(PATIENCE_MS)
    page = browser.page

    browser.open("/operator/load/")
    form = page.locator("#manage-form")
    form.get_by_label("Site").select_option(label="Harbour depot")
    form.get_by_role("spinbutton", name="Limit").fill("63")
    form.get_by_role("button", name="Apply now").click()
    page.wait_for_url(f"**/operator/load/sites/{site.pk}/")
    assert "Limit 63.0 A" in page.locator("#load-summary").inner_text()

    page.get_by_role("link", name="Add a feeder").click()
    page.wait_for_url(f"**/operator/load/sites/{site.pk}/feeders/new/")
    page.get_by_label("Name").fill("Car park")
    page.locator('input[name="limit"]').fill("32")
    page.get_by_label("HARBOUR-1").check()
    page.locator('input[name="periods-0-starts"]').fill("22:00")
    page.locator('input[name="periods-0-ends"]').fill("06:00")
    page.locator('input[name="periods-0-limit"]').fill("48")
    assert page.evaluate(UNLABELLED_FIELDS) == []
    browser.screenshot("load/feeder_form")
    page.get_by_role("button", name="Apply now").click()
    page.wait_for_url(f"**/operator/load/sites/{site.pk}/")

    row = page.locator('#load-groups tr[data-group="Car park"]')
    assert "32.0 A" in row.inner_text()
    assert "22:00-06:00: 48.0 A" in row.inner_text()
    assert "HARBOUR-1" in row.inner_text() and "HARBOUR-2" not in row.inner_text()
    assert "Car park saved" in page.locator("body").inner_text()
    page.locator(".js-plotly-plot").wait_for()  # the site's load against its limit
    badge = page.locator('#load-station-modes [data-station="HARBOUR-2"] .badge')
    assert badge.inner_text() == "connector default" and "refuses TxProfiles" in badge.get_attribute("title")
    assert page.evaluate(UNLABELLED_FIELDS) == []  # the limit, meter and connector forms
    browser.screenshot("load/site_with_feeder")
    feeder = LoadGroup.objects.get(name="Car park")
    assert feeder.parent.site_id == site.pk and [str(p) for p in feeder.periods.all()] == ["22:00-06:00: 48.0"]
    assert browser.visit.console_errors == [] and browser.visit.failed == []

    phone = browse(PHONE, user=technician)
    phone.context.set_default_timeout(PATIENCE_MS)
    for path in ("/operator/load/", f"/operator/load/sites/{site.pk}/", f"/operator/load/groups/{feeder.pk}/"):
        phone.open(path)
        assert phone.overflow() == 0, f"{path} is wider than a phone"

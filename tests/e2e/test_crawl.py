"""Every portal and driver page reachable from the navigation, as each role, on a phone and on a laptop.

For each role the crawl starts at the home page and opens every link of the page and its navigation, and of
those pages (a station's, a session's, an invoice's, a token's, ...), in headless Chromium, at 390x844 and
1366x900: no link answers 4xx/5xx, no console error or failed resource, nothing wider than the phone, every
form field labelled. Each kind of page is rendered once (``/operator/sessions/7/`` stands for every session;
the same page filtered, sorted or paged is checked for its status); links one level beyond are checked for
their status. The Django admin and the API docs are third-party pages: their links are checked for status
only. Screenshots go to var/screens/crawl/.
"""

import re
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from tests.e2e.conftest import DESKTOP, PHONE

ROLES = ["anonymous", "driver", "operator_admin", "technician", "finance", "analyst"]
# Rendered in the browser this many links deep from the home page; one level more is checked for status.
RENDER_DEPTH = 2
STATUS_ONLY = re.compile(r"^/(admin|api)/|/export/|\.(csv|xlsx|pdf)$|/pdf/$")
NEVER_FOLLOW = re.compile(r"^/accounts/logout/|^/station-files/")

# Pages with charts load plotly.js (4.5 MB), which takes a loaded 2-core machine 10 to 20 s to parse.
PATIENCE_MS = 60_000

UNLABELLED_FIELDS = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(e => !['hidden', 'submit', 'button', 'reset', 'image'].includes(e.type))
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby')
                 && !e.title)
    .map(e => `${e.tagName.toLowerCase()}[name=${e.name}]`)"""
LINKS = """() => [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))"""


@pytest.fixture
def small_network(make_station, user_with_role, celery_eager):
    """Something on every page: a 1.6 station with two connectors and a 2.0.1 one with a device model at a site,
    a tariff, and a driver with a card, a finished session with its authorisations and an issued invoice."""
    from accounts.models import IdToken, IdTokenEvent
    from billing.models import Operator, Tariff
    from billing.services import session_charge_create
    from sessions.models import Transaction
    from stations.models import Connector, DeviceModelVariable, Site, Station

    site = Site.objects.create(name="Crawl depot")
    station = make_station("CP-CRAWL", site=site)
    for connector_id in (1, 2):
        Connector.objects.create(station=station, connector_id=connector_id, status="Available")
    evse = make_station("CP-CRAWL-201", site=site)
    Station.objects.filter(pk=evse.pk).update(ocpp_version="2.0.1")
    DeviceModelVariable.objects.create(
        station=evse,
        component_name="OCPPCommCtrlr",
        variable_name="HeartbeatInterval",
        value="300",
        mutability="ReadWrite",
        reported_at=timezone.now(),
    )
    Operator.objects.create(
        name="Crawl", legal_name="Crawl GmbH", address="Am Markt 1", vat_id="DE136695976", is_default=True
    )
    Tariff.objects.create(
        name="Public",
        currency="EUR",
        tax_rate=Decimal("19"),
        valid_from=timezone.now() - timedelta(days=30),
        price_per_kwh=Decimal("0.40"),
    )
    driver = user_with_role("driver")
    card = IdToken.objects.create(token="04A1B2C3D4", owner=driver)
    started = timezone.now() - timedelta(hours=3)
    session = Transaction.objects.create(
        station=station,
        connector_id=1,
        id_token=card,
        id_tag=card.token,
        user=driver,
        started_at=started,
        stopped_at=started + timedelta(minutes=75),
        meter_start=1000,
        meter_stop=23500,
        energy_wh=22500,
        status="completed",
    )
    for message in (IdTokenEvent.Message.AUTHORIZE, IdTokenEvent.Message.START_TRANSACTION):
        IdTokenEvent.objects.create(
            id_token=card,
            token=card.token,
            kind=IdTokenEvent.Kind.AUTHORIZATION,
            status="Accepted",
            station=station,
            source=IdTokenEvent.Source.STATION,
            message=message,
            session=session,
        )
    assert session_charge_create(transaction_id=session.pk).invoice.number
    return {"station": station, "driver": driver}


def _same_site(href: str, netloc: str) -> str | None:
    """The path (and query) of a link into the portal; None for other sites, fragments and mail links."""
    parts = urlsplit(href)
    if parts.scheme not in ("", "http", "https") or parts.netloc not in ("", netloc) or not parts.path.startswith("/"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _kind(path: str) -> str:
    """The page a path shows, whatever its ids and query: ``/operator/sessions/<n>/``."""
    return re.sub(r"/\d+(?=/|$)", "/<n>", urlsplit(path).path)


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_") or "home"


@pytest.mark.parametrize("role", ROLES)
def test_every_page_from_the_navigation_works_on_a_phone_and_a_laptop(browse, small_network, user_with_role, role):
    user = None if role == "anonymous" else small_network["driver"] if role == "driver" else user_with_role(role)
    phone, laptop = browse(PHONE, user=user), browse(DESKTOP, user=user)
    for browser in (phone, laptop):
        browser.page.set_default_timeout(PATIENCE_MS)
    problems: list[str] = []
    rendered: set[str] = set()
    frontier, seen, depth = ["/"], {"/"}, 0
    while frontier:
        found: list[str] = []
        for path in frontier:
            if STATUS_ONLY.search(path) or depth > RENDER_DEPTH or _kind(path) in {_kind(done) for done in rendered}:
                status = phone.page.request.get(path, max_redirects=5).status
                if status >= 400:
                    problems.append(f"{status} {path}")
                continue
            rendered.add(path)
            for browser, size in ((phone, PHONE), (laptop, DESKTOP)):
                response = browser.open(path)
                if response is None or response.status >= 400:
                    problems.append(f"{response.status if response else 'no answer'} {path} at {size['width']}")
                    continue
                if size is PHONE and browser.overflow() > 0:
                    problems.append(f"{path} is {browser.overflow()} px wider than the phone")
                problems += [f"{path}: unlabelled {field}" for field in browser.page.evaluate(UNLABELLED_FIELDS)]
                browser.screenshot(f"crawl/{role}_{_slug(path)}_{size['width']}")
            for href in phone.page.evaluate(LINKS):
                target = _same_site(href, urlsplit(phone.server.http_url).netloc)
                if target and target not in seen and not NEVER_FOLLOW.search(target):
                    seen.add(target)
                    found.append(target)
        frontier, depth = found, depth + 1
    problems += [f"console: {error}" for b in (phone, laptop) for error in b.visit.console_errors]
    problems += [f"resource: {failed}" for b in (phone, laptop) for failed in b.visit.failed]
    assert len(rendered) > 1
    assert problems == [], "\n".join(problems)

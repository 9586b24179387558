"""Browser tests: the distribution's headless Chromium, driven by Playwright, against a live daphne server.

Playwright's own browser downloads are never used: ``scripts/test`` installs Debian's ``chromium`` and the
tests skip with a message where it is missing. Screenshots are kept under ``var/screens/`` as artifacts.
"""

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts.roles import Role

ROOT = Path(__file__).resolve().parents[2]
SCREENS = ROOT / "var" / "screens"
CHROMIUM = os.environ.get("CMS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module", autouse=True)
def _django_beside_playwright(daphne_server):
    """Playwright's sync API keeps an event loop running in this thread, which Django's ORM takes for async
    code; the tests' own queries are synchronous, so they are allowed while a module drives the browser.
    The server is started first so that it does not inherit the setting."""
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if before is None:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


# Per module: when the browser stops, its event loop stops, and the rest of the suite runs as usual.
@pytest.fixture(scope="module")
def chromium(_django_beside_playwright):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not found at {CHROMIUM}: scripts/test installs it (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extras")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Visit:
    """What a page did while it was open: console errors and the responses that failed."""

    console_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class Browser:
    """One browser context (cookies, viewport) on the live server, logged in as ``user`` when given."""

    def __init__(self, chromium, server, viewport: dict, user=None):
        self.server = server
        self.context = chromium.new_context(viewport=viewport, base_url=server.http_url)
        self.context.set_default_timeout(15_000)
        if user is not None:
            client = Client()
            client.force_login(user)
            self.context.add_cookies(
                [
                    {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": server.http_url},
                ]
            )
        self.page = self.context.new_page()
        self.visit = Visit()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.visit.console_errors.append(f"{self.page.url}: {error}"))
        self.page.on("response", self._response)

    def _console(self, message):
        if message.type == "error":
            self.visit.console_errors.append(f"{self.page.url}: {message.text}")

    def _response(self, response):
        if response.status >= 400:
            self.visit.failed.append(f"{response.status} {response.url}")

    def open(self, path: str):
        return self.page.goto(path, wait_until="load")

    def overflow(self) -> int:
        """How many CSS pixels the page is wider than the viewport (0 when it fits)."""
        return self.page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")

    def screenshot(self, name: str) -> Path:
        SCREENS.mkdir(parents=True, exist_ok=True)
        path = SCREENS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self):
        self.context.close()


@pytest.fixture
def browse(chromium, daphne_server, transactional_db):
    """Open browser contexts: ``browse(viewport, user=None)``; all are closed after the test."""
    opened = []

    def make(viewport: dict = DESKTOP, user=None) -> Browser:
        browser = Browser(chromium, daphne_server, viewport, user)
        opened.append(browser)
        return browser

    yield make
    for browser in opened:
        browser.close()


@pytest.fixture
def user_with_role(django_user_model):
    """A user for each role of the crawl: a driver (no role) or staff holding one operator role."""

    def make(role: str):
        email = f"{role}@example.com"
        if role == "driver":
            user = django_user_model.objects.create_user(email=email, password="pass-123-driver")
            from allauth.account.models import EmailAddress

            EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
            return user
        user = django_user_model.objects.create_user(email=email, password="pass-123-staff", is_staff=True)
        user.groups.add(Group.objects.get_or_create(name=str(Role(role)))[0])
        return user

    return make

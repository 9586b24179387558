"""The grouped operator navigation in a real browser: one line on a laptop, a menu button on a phone."""

from tests.e2e.conftest import DESKTOP, PHONE


def _nav_spread(page) -> float:
    """The vertical distance between the highest and the lowest entry of the top bar (0 on one line)."""
    return page.evaluate(
        """() => { const tops = [...document.querySelectorAll('.nav > a, .nav > details > summary')]
            .filter(e => e.offsetParent !== null).map(e => e.getBoundingClientRect().top);
            return Math.max(...tops) - Math.min(...tops); }"""
    )


def _group(page, label: str):
    return page.locator("summary", has_text=label)


def test_the_operator_navigation_fits_one_line_at_1280_px(browse, user_with_role):
    browser = browse({"width": 1280, "height": 800}, user=user_with_role("operator_admin"))
    browser.open("/")
    browser.screenshot("overview_operator_1280")
    assert _nav_spread(browser.page) < 10
    topbar = browser.page.locator(".topbar").bounding_box()
    assert topbar["height"] < 60
    _group(browser.page, "Network").click()
    browser.page.get_by_role("link", name="Live board").click()
    browser.page.wait_for_url("**/operator/live/")
    assert browser.visit.console_errors == []


def test_one_group_is_open_at_a_time(browse, user_with_role):
    browser = browse(DESKTOP, user=user_with_role("operator_admin"))
    browser.open("/")
    _group(browser.page, "Network").click()
    _group(browser.page, "Money").click()
    assert browser.page.locator(".nav-group[open]").count() == 1
    browser.screenshot("nav_operator_money_open_1366")
    browser.page.keyboard.press("Escape")
    assert browser.page.locator(".nav-group[open]").count() == 0


def test_the_navigation_collapses_behind_a_menu_button_on_a_phone(browse, user_with_role):
    browser = browse(PHONE, user=user_with_role("operator_admin"))
    browser.open("/")
    assert not browser.page.locator("nav.nav").is_visible()
    browser.page.locator(".nav-toggle-label").click()
    assert browser.page.locator("nav.nav").is_visible()
    _group(browser.page, "Charging").click()
    assert browser.page.get_by_role("link", name="Authorisations").is_visible()
    assert browser.overflow() <= 0
    browser.screenshot("nav_operator_phone_open_390")

"""The portal's frame: menus per role, error pages, favicon, redirects and the offline API reference."""

import re

import pytest
from django.contrib.auth.models import Group
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.views.defaults import server_error

from accounts.roles import Role
from cms.navigation import driver_menu, operator_menu

ROLES = [role.value for role in Role]


@pytest.fixture
def staff(db, django_user_model):
    def make(role: str):
        user = django_user_model.objects.create_user(email=f"{role}@example.com", password="x-pass-123", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


def _nav(html: str) -> str:
    return html[html.index('<nav class="nav"') : html.index("</nav>", html.index('<nav class="nav"'))]


def test_anonymous_visitors_see_no_driver_links(client, db):
    nav = _nav(client.get("/").content.decode())
    assert reverse("account_login") in nav and reverse("account_signup") in nav
    for driver_page in ("billing:wallet", "billing:invoices", "accounts:me", "accounts:sessions"):
        assert reverse(driver_page) not in nav


def test_a_driver_sees_the_driver_menu_and_no_operator_pages(client, driver):
    client.force_login(driver)
    nav = _nav(client.get("/").content.decode())
    assert reverse("accounts:sessions") in nav and reverse("billing:wallet") in nav
    assert "/operator/" not in nav and "/admin/" not in nav


def test_the_operator_menu_has_five_groups_for_an_operator_admin(staff):
    groups = operator_menu(staff("operator_admin"))
    assert [group.label for group in groups] == ["Network", "Charging", "Money", "Insights", "Settings"]


def test_a_technician_gets_no_money_pages(staff):
    labels = {group.label: [link.label for link in group.links] for group in operator_menu(staff("technician"))}
    assert "Money" not in labels
    assert "Live board" in labels["Network"]


@pytest.mark.parametrize("role", ROLES)
def test_every_menu_link_opens_for_its_role(client, staff, role):
    user = staff(role)
    client.force_login(user)
    links = [link for group in operator_menu(user) for link in group.links]
    assert links
    for link in links:
        response = client.get(link.url)
        assert response.status_code in (200, 302), f"{role}: {link.label} {link.url} answered {response.status_code}"
        if response.status_code == 302:
            assert not response["Location"].startswith(reverse("account_login")), link.url


def test_every_driver_menu_link_opens_for_a_driver(client, driver):
    client.force_login(driver)
    for link in driver_menu(driver):
        assert client.get(link.url).status_code == 200, link.url


def test_operator_path_leads_to_the_overview(client, db):
    response = client.get("/operator/")
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_favicon_ico_answers_with_the_svg_icon(collected_static, client, db):
    response = client.get("/favicon.ico", follow=True)
    assert response.status_code == 200
    assert b"<svg" in b"".join(response.streaming_content)
    assert 'rel="icon"' in client.get("/").content.decode()


def test_an_unknown_page_gets_the_styled_404(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html and "/static/css/app.css" in html


def test_the_500_page_renders_without_a_request_or_user(db):
    html = render_to_string("500.html")
    assert "Something went wrong" in html and "/static/css/app.css" in html
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert b"Something went wrong" in response.content


def test_get_on_the_card_setup_leads_to_the_billing_page(client, driver):
    client.force_login(driver)
    response = client.get(reverse("billing:card"))
    assert response.status_code == 302
    assert response["Location"] == reverse("billing:overview")


def test_redoc_loads_nothing_from_the_internet(client, operator_admin):
    client.force_login(operator_admin)
    html = client.get(reverse("api-redoc")).content.decode()
    assert "Redoc.init" in html
    assert not re.findall(r"""(?:src|href)=["']?(?:https?:)?//""", html)
    assert "fonts.googleapis" not in html

"""Operators in the admin and operator pages: tokens changed through the services, history, roles, API tokens."""

import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from rest_framework.authtoken.models import Token

from accounts.models import IdToken, IdTokenEvent
from accounts.roles import Role
from accounts.selectors import local_list_version
from accounts.services import id_token_authorize

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser(client, staff):
    client.force_login(staff[Role.OPERATOR_ADMIN])
    return client


def form(**fields):
    base = {
        "token": "",
        "type": "ISO14443",
        "status": "Accepted",
        "expires_at_0": "",
        "expires_at_1": "",
        "parent": "",
        "owner": "",
        "label": "",
    }
    return {**base, **fields}


def test_adding_a_token_in_the_admin_goes_through_the_service(admin_browser, staff, make_station):
    station = make_station("CP-1")
    response = admin_browser.post(
        reverse("admin:accounts_idtoken_add"), form(token="card-9", label="Spare", allowed_stations=[station.pk])
    )
    assert response.status_code == 302, response.content.decode()
    card = IdToken.objects.get(token="CARD-9")
    assert list(card.allowed_stations.all()) == [station]
    event = card.events.get()
    assert (event.kind, event.source, event.actor) == ("created", "admin", staff[Role.OPERATOR_ADMIN])
    assert card.list_version == local_list_version().version


def test_changing_a_token_in_the_admin_records_the_change(admin_browser, make_token):
    card = make_token("CARD-1", label="Van")
    url = reverse("admin:accounts_idtoken_change", args=[card.pk])
    page = admin_browser.get(url).content.decode()
    assert 'name="token"' not in page  # the number is read only once created
    assert reverse("accounts:id_token_history", args=[card.pk]) in page
    response = admin_browser.post(url, form(status="Blocked", label="Van"))
    assert response.status_code == 302, response.content.decode()
    card.refresh_from_db()
    assert card.status == "Blocked"
    assert card.events.get(kind="changed").changes == {"status": ["Accepted", "Blocked"]}


def test_the_admin_refuses_a_group_cycle_with_a_form_error(admin_browser, make_token):
    first = make_token("FIRST")
    make_token("SECOND", parent=first)
    second = IdToken.objects.get(token="SECOND")
    response = admin_browser.post(reverse("admin:accounts_idtoken_change", args=[first.pk]), form(parent=second.pk))
    assert response.status_code == 200
    assert "A token cannot be its own group" in response.content.decode()
    first.refresh_from_db()
    assert first.parent is None


def test_block_and_accept_actions(admin_browser, make_token):
    cards = [make_token("CARD-1"), make_token("CARD-2")]
    url = reverse("admin:accounts_idtoken_changelist")
    admin_browser.post(url, {"action": "block", "_selected_action": [c.pk for c in cards]})
    assert set(IdToken.objects.values_list("status", flat=True)) == {"Blocked"}
    assert id_token_authorize(token="CARD-1").status == "Blocked"
    admin_browser.post(url, {"action": "accept", "_selected_action": [cards[0].pk]})
    assert IdToken.objects.get(token="CARD-1").status == "Accepted"


def test_deleting_in_the_admin_keeps_the_history_and_asks_for_a_full_list(admin_browser, make_token):
    card = make_token("CARD-1")
    url = reverse("admin:accounts_idtoken_changelist")
    admin_browser.post(url, {"action": "delete_selected", "_selected_action": [card.pk], "post": "yes"})
    assert not IdToken.objects.exists()
    assert IdTokenEvent.objects.filter(token="CARD-1", kind="deleted").exists()
    assert local_list_version().full_update_from == local_list_version().version


def test_the_token_list_links_to_the_csv_import_and_the_authorisation_log(admin_browser):
    html = admin_browser.get(reverse("admin:accounts_idtoken_changelist")).content.decode()
    assert reverse("accounts:id_token_import") in html
    assert reverse("accounts:authorizations") in html


def test_a_tokens_history_page_shows_changes_authorisations_and_sessions(
    admin_browser, alice, make_token, make_station, make_transaction
):
    station = make_station("CP-1")
    card = make_token("CARD-1", owner=alice)
    make_transaction(station, id_token=card, user=alice, energy_wh=4200)
    admin_browser.post(reverse("admin:accounts_idtoken_changelist"), {"action": "block", "_selected_action": [card.pk]})
    id_token_authorize(token="CARD-1", station=station)
    html = admin_browser.get(reverse("accounts:id_token_history", args=[card.pk])).content.decode()
    assert "status: Accepted → Blocked" in html
    assert "at CP-1 token_blocked" in html
    assert "4.20 kWh" in html
    assert "1 session<" in html and "1 authorisation, 1 refused" in html


def test_drivers_cannot_see_a_tokens_history(client, alice, make_token):
    card = make_token("CARD-1", owner=alice)
    client.force_login(alice)
    assert client.get(reverse("accounts:id_token_history", args=[card.pk])).status_code == 403


def test_the_authorisation_log_shows_unknown_cards_and_filters(admin_browser, make_token, make_station):
    station = make_station("CP-1")
    make_token("KNOWN")
    id_token_authorize(token="KNOWN", station=station)
    id_token_authorize(token="STRANGER", station=station)
    url = reverse("accounts:authorizations")
    everything = admin_browser.get(url).content.decode()
    assert "KNOWN" in everything and "STRANGER" in everything
    unknown_only = admin_browser.get(url, {"outcome": "unknown"}).content.decode()
    assert "STRANGER" in unknown_only and ">KNOWN<" not in unknown_only


def test_issue_and_revoke_api_tokens_from_the_user_list(admin_browser, make_user):
    integration = make_user("erp@example.com", role=Role.OPERATOR_ADMIN)
    url = reverse("admin:accounts_user_changelist")
    response = admin_browser.post(url, {"action": "issue_api_token", "_selected_action": [integration.pk]}, follow=True)
    key = Token.objects.get(user=integration).key
    assert f"API token for erp@example.com: {key}" in response.content.decode()
    admin_browser.post(url, {"action": "revoke_api_token", "_selected_action": [integration.pk]})
    assert not Token.objects.filter(user=integration).exists()


def test_giving_a_user_a_role_in_the_admin_makes_them_staff(admin_browser, make_user):
    user = make_user("new.tech@example.com")
    page = admin_browser.get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()
    data = {
        name: value for name, value in re.findall(r'<input type="(?:text|email)" name="(\w+)" value="([^"]*)"', page)
    }
    data.update(
        {
            "email": user.email,
            "is_active": "on",
            "groups": [Group.objects.get(name="technician").pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "id_tokens-TOTAL_FORMS": "0",
            "id_tokens-INITIAL_FORMS": "0",
        }
    )
    response = admin_browser.post(reverse("admin:accounts_user_change", args=[user.pk]), data)
    assert response.status_code == 302, response.content.decode()
    user.refresh_from_db()
    assert user.is_staff
    assert user.has_perm("stations.add_stationcommand")

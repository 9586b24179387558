"""A driver's own pages: cards (add, see, block) and sessions; nobody else's, ever (404), and CSRF on."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import IdToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.mark.parametrize("name", ["me", "id_tokens", "sessions"])
def test_driver_pages_ask_anonymous_visitors_to_log_in(client, db, name):
    response = client.get(reverse(f"accounts:{name}"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_the_home_page_links_a_driver_to_their_pages(alice_client):
    html = alice_client.get("/").content.decode()
    for name in ("sessions", "id_tokens", "me"):
        assert reverse(f"accounts:{name}") in html
    assert "will appear here" not in html


def test_my_cards_shows_status_expiry_and_group_of_my_cards_only(alice_client, alice, bob, make_token):
    group = make_token("FLEET")
    make_token("MINE-ACTIVE", owner=alice, parent=group, expires_at=timezone.now() + timedelta(days=30))
    make_token("MINE-LOST", owner=alice, status=IdToken.Status.BLOCKED)
    make_token("MINE-OLD", owner=alice, expires_at=timezone.now() - timedelta(days=1))
    make_token("BOBS-CARD", owner=bob)
    html = alice_client.get(reverse("accounts:id_tokens")).content.decode()
    rows = {token: row for token, row in re.findall(r"<tr>\s*<td[^>]*><a [^>]*>([^<]+)</a></td>(.*?)</tr>", html, re.S)}
    assert set(rows) == {"MINE-ACTIVE", "MINE-LOST", "MINE-OLD"}
    assert "Active" in rows["MINE-ACTIVE"] and "FLEET" in rows["MINE-ACTIVE"]
    assert "Blocked" in rows["MINE-LOST"]
    assert "Expired" in rows["MINE-OLD"]
    assert "BOBS-CARD" not in html


def test_a_driver_adds_a_card_by_its_printed_number(alice_client, alice):
    response = alice_client.post(reverse("accounts:id_tokens"), {"token": "04 a2 b3 c4", "label": "Work"}, follow=True)
    card = IdToken.objects.get(token="04A2B3C4")
    assert card.owner == alice
    assert response.redirect_chain[-1][0] == reverse("accounts:id_token", args=[card.pk])
    assert "Card 04A2B3C4 is on your account." in response.content.decode()


def test_a_card_owned_by_someone_else_is_refused_with_a_clear_message(alice_client, bob, make_token):
    make_token("BOBS-CARD", owner=bob)
    response = alice_client.post(reverse("accounts:id_tokens"), {"token": "bobs-card"})
    assert response.status_code == 400
    assert "This card is registered to another account." in response.content.decode()
    assert IdToken.objects.get(token="BOBS-CARD").owner == bob


def test_an_empty_or_malformed_number_gets_a_form_error(alice_client):
    empty = alice_client.post(reverse("accounts:id_tokens"), {"token": ""})
    assert empty.status_code == 400
    assert "This field is required." in empty.content.decode()
    too_long = alice_client.post(reverse("accounts:id_tokens"), {"token": "X" * 40})
    assert "Enter the number printed on the card" in too_long.content.decode()
    assert not IdToken.objects.exists()


def test_a_driver_blocks_a_lost_card_at_once(alice_client, alice, make_token, make_station):
    card = make_token("LOST-CARD", owner=alice)
    response = alice_client.post(reverse("accounts:id_token_block", args=[card.pk]), follow=True)
    assert "is blocked" in response.content.decode()
    card.refresh_from_db()
    assert card.status == IdToken.Status.BLOCKED
    event = card.events.get(kind="changed")
    assert (event.actor, event.source, event.status) == (alice, "portal", "Blocked")
    from accounts.services import id_token_authorize

    assert id_token_authorize(token="LOST-CARD", station=make_station("CP-1")).status == "Blocked"


def test_blocking_needs_a_post(alice_client, alice, make_token):
    card = make_token("CARD-1", owner=alice)
    assert alice_client.get(reverse("accounts:id_token_block", args=[card.pk])).status_code == 405
    card.refresh_from_db()
    assert card.status == IdToken.Status.ACCEPTED


def test_another_drivers_card_is_not_found_and_cannot_be_blocked(alice_client, bob, make_token):
    bobs = make_token("BOBS-CARD", owner=bob)
    unowned = make_token("UNOWNED")
    for card in (bobs, unowned):
        assert alice_client.get(reverse("accounts:id_token", args=[card.pk])).status_code == 404
        assert alice_client.post(reverse("accounts:id_token_block", args=[card.pk])).status_code == 404
        card.refresh_from_db()
        assert card.status == IdToken.Status.ACCEPTED


def test_my_sessions_lists_mine_only_with_energy(alice_client, alice, bob, make_station, make_transaction):
    station = make_station("CP-1", name="Market Square")
    mine = make_transaction(station, user=alice, energy_wh=12_345)
    make_transaction(station, user=alice, active=True, connector_id=2)
    bobs = make_transaction(station, user=bob, connector_id=3, energy_wh=99_999)
    html = alice_client.get(reverse("accounts:sessions")).content.decode()
    assert reverse("accounts:session", args=[mine.pk]) in html
    assert reverse("accounts:session", args=[bobs.pk]) not in html
    assert "12.35 kWh" in html and "in progress" in html and "Market Square" in html
    assert "100.00 kWh" not in html


def test_a_session_page_shows_the_session(alice_client, alice, make_station, make_transaction):
    session = make_transaction(make_station("CP-1"), user=alice, energy_wh=7_500)
    html = alice_client.get(reverse("accounts:session", args=[session.pk])).content.decode()
    assert "7.50 kWh" in html and "1 h 35 min" in html and "CP-1" in html


@pytest.mark.parametrize(
    ("site_zone", "operator_zone", "shown"),
    [("Europe/Paris", "America/New_York", "12:00:00"), ("", "America/New_York", "06:00:00"), ("", None, "11:00:00")],
)
def test_a_session_page_shows_the_hours_its_invoice_uses(
    alice_client, alice, make_station, make_transaction, settings, site_zone, operator_zone, shown
):
    """The site's zone, else the billing operator's, else the installation's (TIME_ZONE), as pricing and invoices."""
    from billing.models import Operator
    from stations.models import Site

    settings.TIME_ZONE = "Europe/London"
    if operator_zone:
        Operator.objects.create(name="Op", legal_name="Op", is_default=True, timezone=operator_zone)
    site = Site.objects.create(name="Quay", timezone=site_zone) if site_zone else None
    started_at = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # summer: Paris +2, New York -4, London +1
    session = make_transaction(make_station("CP-TZ", site=site), user=alice, started_at=started_at)
    html = alice_client.get(reverse("accounts:session", args=[session.pk])).content.decode()
    assert f"2026-06-01 {shown}" in html


def test_another_drivers_session_is_not_found(alice_client, bob, make_station, make_transaction):
    station = make_station("CP-1")
    for session in (make_transaction(station, user=bob), make_transaction(station, user=None, connector_id=2)):
        assert alice_client.get(reverse("accounts:session", args=[session.pk])).status_code == 404


def test_forms_without_the_csrf_token_are_refused(alice, make_token):
    card = make_token("CARD-1", owner=alice)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    url = reverse("accounts:id_token_block", args=[card.pk])
    assert browser.post(url).status_code == 403
    assert browser.post(reverse("accounts:id_tokens"), {"token": "NEW-1"}).status_code == 403
    card.refresh_from_db()
    assert card.status == IdToken.Status.ACCEPTED
    assert not IdToken.objects.filter(token="NEW-1").exists()
    # The page's own form carries the token and works.
    page = browser.get(reverse("accounts:id_token", args=[card.pk])).content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert browser.post(url, {"csrfmiddlewaretoken": csrf}).status_code == 302
    card.refresh_from_db()
    assert card.status == IdToken.Status.BLOCKED


def test_guessing_card_numbers_is_stopped_after_a_few_refusals(alice_client, bob, make_token, settings):
    settings.CMS_IDTOKEN_CLAIM_REFUSALS_PER_HOUR = 3
    make_token("BOBS-CARD", owner=bob)
    for _ in range(3):
        assert alice_client.post(reverse("accounts:id_tokens"), {"token": "BOBS-CARD"}).status_code == 400
    response = alice_client.post(reverse("accounts:id_tokens"), {"token": "FRESH-CARD"})
    assert response.status_code == 429
    assert "Too many cards could not be added. Please try again in an hour." in response.content.decode()
    assert not IdToken.objects.filter(token="FRESH-CARD").exists()

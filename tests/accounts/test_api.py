"""The accounts API: /api/id-tokens/ for integrators (token auth, roles) and /api/me/... for drivers (own only)."""

import pytest
from rest_framework.test import APIClient

from accounts.models import IdToken
from accounts.roles import Role
from accounts.services import api_token_issue, api_token_revoke
from stations.models import Site

pytestmark = pytest.mark.django_db


def api_as(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_issue(user=user).key}")
    return client


@pytest.fixture
def integrator(staff):
    return api_as(staff[Role.OPERATOR_ADMIN])


def test_post_creates_an_id_token(integrator, alice, make_token, make_station):
    make_token("FLEET")
    make_station("CP-DEPOT")
    site = Site.objects.create(name="Depot")
    response = integrator.post(
        "/api/id-tokens/",
        {
            "token": "04a2b3c4",
            "status": "Accepted",
            "expiry": "2027-12-31T23:59:59Z",
            "parent": "fleet",
            "owner": "ALICE@example.com",
            "label": "Van 1",
            "allowed_stations": ["CP-DEPOT"],
            "allowed_sites": [site.pk],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {key: body[key] for key in ("token", "status", "expiry", "parent", "owner", "allowed_stations")} == {
        "token": "04A2B3C4",
        "status": "Accepted",
        "expiry": "2027-12-31T23:59:59Z",
        "parent": "FLEET",
        "owner": "alice@example.com",
        "allowed_stations": ["CP-DEPOT"],
    }
    card = IdToken.objects.get(token="04A2B3C4")
    assert (card.owner, card.parent.token, list(card.allowed_sites.all())) == (alice, "FLEET", [site])
    assert card.events.get().source == "api"


def test_post_of_an_existing_token_updates_what_is_given(integrator, make_token):
    make_token("CARD-1", label="Kept")
    response = integrator.post("/api/id-tokens/", {"token": "card-1", "status": "Blocked"}, format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["label"]) == ("Blocked", "Kept")
    assert IdToken.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"token": "A1", "status": "Lost"}, "status", '"Lost" is not a valid choice.'),
        ({"token": "has space"}, "token", "Use 1 to 36 letters, digits or punctuation, without spaces."),
        ({"token": "A1", "parent": "NOPE"}, "parent", "There is no ID token NOPE: create the group token first."),
        ({"token": "A1", "owner": "ghost@example.com"}, "owner", "There is no user with the e-mail address"),
        ({"token": "A1", "expiry": "tomorrow"}, "expiry", "Datetime has wrong format"),
        ({"token": "A1", "allowed_stations": ["CP-NOPE"]}, "allowed_stations", "does not exist"),
        ({"status": "Accepted"}, "token", "This field is required."),
    ],
)
def test_bad_input_gets_a_field_error_and_changes_nothing(integrator, payload, field, message):
    response = integrator.post("/api/id-tokens/", payload, format="json")
    assert response.status_code == 400
    assert message in response.json()[field][0]
    assert not IdToken.objects.exists()


def test_list_filter_and_read_by_number(integrator, make_token):
    make_token("CARD-1")
    make_token("CARD-2", status="Blocked")
    listed = integrator.get("/api/id-tokens/?status=Blocked").json()
    assert [item["token"] for item in listed["results"]] == ["CARD-2"]
    assert integrator.get("/api/id-tokens/card-1/").json()["token"] == "CARD-1"
    assert integrator.get("/api/id-tokens/NOPE/").status_code == 404


def test_patch_changes_status_expiry_and_group(integrator, make_token):
    make_token("FLEET")
    make_token("CARD-1")
    response = integrator.patch(
        "/api/id-tokens/CARD-1/", {"status": "Blocked", "expiry": None, "parent": "FLEET"}, format="json"
    )
    assert response.status_code == 200
    card = IdToken.objects.get(token="CARD-1")
    assert (card.status, card.parent.token) == ("Blocked", "FLEET")


def test_patch_cannot_renumber_or_make_a_cycle(integrator, make_token):
    first = make_token("FIRST")
    make_token("SECOND", parent=first)
    renumber = integrator.patch("/api/id-tokens/FIRST/", {"token": "OTHER"}, format="json")
    assert renumber.status_code == 400
    assert "cannot change" in renumber.json()["token"][0]
    cycle = integrator.patch("/api/id-tokens/FIRST/", {"parent": "SECOND"}, format="json")
    assert cycle.status_code == 400
    assert "its own group" in cycle.json()["parent"][0]
    first.refresh_from_db()
    assert first.parent is None


def test_put_and_delete_are_not_offered(integrator, make_token):
    make_token("CARD-1")
    assert integrator.put("/api/id-tokens/CARD-1/", {"token": "CARD-1"}, format="json").status_code == 405
    assert integrator.delete("/api/id-tokens/CARD-1/").status_code == 405
    assert IdToken.objects.filter(token="CARD-1").exists()


def test_a_tokens_history_over_the_api(integrator, make_token, make_station):
    from accounts.services import id_token_authorize

    make_token("CARD-1")
    integrator.patch("/api/id-tokens/CARD-1/", {"status": "Blocked"}, format="json")
    id_token_authorize(token="CARD-1", station=make_station("CP-1"))
    events = integrator.get("/api/id-tokens/CARD-1/events/").json()["results"]
    assert [(e["kind"], e["status"], e["source"]) for e in events] == [
        ("authorization", "Blocked", "station"),
        ("changed", "Blocked", "api"),
        ("created", "Accepted", "command"),
    ]
    assert events[1]["actor"] == "operator_admin@example.com"


@pytest.mark.parametrize("role", [Role.TECHNICIAN, Role.FINANCE, Role.ANALYST])
def test_other_staff_roles_read_but_do_not_write(staff, make_token, role):
    make_token("CARD-1")
    client = api_as(staff[role])
    assert client.get("/api/id-tokens/").status_code == 200
    assert client.post("/api/id-tokens/", {"token": "NEW"}, format="json").status_code == 403
    assert client.patch("/api/id-tokens/CARD-1/", {"status": "Blocked"}, format="json").status_code == 403
    assert IdToken.objects.get(token="CARD-1").status == "Accepted"


def test_drivers_and_strangers_get_nothing(alice, make_token):
    make_token("CARD-1")
    assert api_as(alice).get("/api/id-tokens/").status_code == 403
    assert APIClient().get("/api/id-tokens/").status_code == 401
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    assert stranger.get("/api/id-tokens/").status_code == 401


def test_a_revoked_api_token_stops_working(staff):
    user = staff[Role.OPERATOR_ADMIN]
    client = api_as(user)
    assert client.get("/api/id-tokens/").status_code == 200
    api_token_revoke(user=user)
    assert client.get("/api/id-tokens/").status_code == 401


def test_a_driver_lists_and_reads_only_their_own_cards(alice, bob, make_token):
    mine = make_token("MINE", owner=alice)
    bobs = make_token("BOBS", owner=bob)
    client = api_as(alice)
    assert [item["token"] for item in client.get("/api/me/id-tokens/").json()["results"]] == ["MINE"]
    assert client.get(f"/api/me/id-tokens/{mine.pk}/").json()["effective_status"] == "Accepted"
    assert client.get(f"/api/me/id-tokens/{bobs.pk}/").status_code == 404


def test_a_driver_adds_a_card_and_is_told_when_it_is_someone_elses(alice, bob, make_token):
    make_token("BOBS", owner=bob)
    client = api_as(alice)
    added = client.post("/api/me/id-tokens/", {"token": "04 A2 B3 C4", "label": "Mine"}, format="json")
    assert added.status_code == 201
    assert (added.json()["token"], added.json()["label"]) == ("04A2B3C4", "Mine")
    refused = client.post("/api/me/id-tokens/", {"token": "bobs"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["token"] == [
        "This card is registered to another account. If it is yours, please contact support."
    ]
    assert IdToken.objects.get(token="BOBS").owner == bob


def test_a_driver_blocks_their_own_card_but_not_anothers(alice, bob, make_token):
    mine = make_token("MINE", owner=alice)
    bobs = make_token("BOBS", owner=bob)
    client = api_as(alice)
    assert client.post(f"/api/me/id-tokens/{mine.pk}/block/").json()["status"] == "Blocked"
    assert client.post(f"/api/me/id-tokens/{bobs.pk}/block/").status_code == 404
    assert IdToken.objects.get(token="BOBS").status == "Accepted"


def test_a_driver_reads_only_their_own_sessions(alice, bob, make_station, make_transaction):
    station = make_station("CP-1")
    mine = make_transaction(station, user=alice, energy_wh=5000)
    bobs = make_transaction(station, user=bob, connector_id=2)
    client = api_as(alice)
    listed = client.get("/api/me/sessions/").json()["results"]
    assert [(item["id"], item["station"], item["energy_wh"]) for item in listed] == [(mine.pk, "CP-1", 5000)]
    assert client.get(f"/api/me/sessions/{bobs.pk}/").status_code == 404


def test_the_browser_session_works_for_my_endpoints_with_csrf(alice, make_token):
    mine = make_token("MINE", owner=alice)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get("/api/me/id-tokens/").status_code == 200
    assert client.post(f"/api/me/id-tokens/{mine.pk}/block/").status_code == 403  # no CSRF token
    assert IdToken.objects.get(token="MINE").status == "Accepted"


def test_the_schema_documents_the_endpoints(client, db):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    assert {
        "/api/id-tokens/",
        "/api/id-tokens/{token}/",
        "/api/id-tokens/{token}/events/",
        "/api/me/id-tokens/",
        "/api/me/id-tokens/{id}/block/",
        "/api/me/sessions/{id}/",
    } <= set(paths)
    assert set(paths["/api/id-tokens/"]["post"]["responses"]) >= {"200", "201"}


def test_guessing_card_numbers_over_the_api_is_throttled(alice, bob, make_token, settings):
    settings.CMS_IDTOKEN_CLAIM_REFUSALS_PER_HOUR = 2
    make_token("BOBS", owner=bob)
    client = api_as(alice)
    for _ in range(2):
        assert client.post("/api/me/id-tokens/", {"token": "BOBS"}, format="json").status_code == 400
    response = client.post("/api/me/id-tokens/", {"token": "NEW-1"}, format="json")
    assert response.status_code == 429
    assert not IdToken.objects.filter(token="NEW-1").exists()
    # Successful adds do not count.
    assert api_as(bob).post("/api/me/id-tokens/", {"token": "0B0B0B02"}, format="json").status_code == 201

"""A driver's charging needs for their session in progress, on the phone page (/me/sessions/<id>/needs/) and
through /api/me/sessions/<id>/charging-needs/: their own session only (another's is 404), while it runs, bad input
refused with the reason; the session page shows what is set and the share load management gives."""

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import api_token_issue
from smartcharging import load
from smartcharging.models import ConnectorAllocation, DriverChargingNeeds, LoadGroup
from stations.models import Site

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def site(db):
    return Site.objects.create(name="Harbour", timezone="Europe/Paris")


@pytest.fixture
def station(make_station, site):
    return make_station("CP-NEEDS", site=site)


@pytest.fixture
def mine(station, alice, make_transaction):
    return make_transaction(station, user=alice, active=True)


@pytest.fixture
def bobs(station, bob, make_transaction):
    return make_transaction(station, user=bob, active=True, connector_id=2)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def local_input(moment) -> str:
    """A datetime-local field's value: the site's wall-clock time."""
    return moment.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M")


def in_hours(hours: float):
    return (timezone.now() + timedelta(hours=hours)).replace(second=0, microsecond=0)


# The phone page


def test_a_driver_sets_needs_in_the_sites_local_time_and_sees_them_on_the_session_page(alice_client, mine):
    leaving = in_hours(3)
    response = alice_client.post(
        f"/me/sessions/{mine.pk}/needs/", {"departure_at": local_input(leaving), "energy_kwh": "18.5"}
    )
    assert response.status_code == 302 and response["Location"] == f"/me/sessions/{mine.pk}/"
    row = DriverChargingNeeds.objects.get(transaction=mine)
    assert (row.departure_at, row.energy_kwh) == (leaving, Decimal("18.5"))
    page = alice_client.get(f"/me/sessions/{mine.pk}/").content.decode()
    assert f"{leaving.astimezone(PARIS):%H:%M}" in page and "18.5 kWh" in page
    assert "does not share a limit between cars" in page  # honest: no load management at this site
    form = alice_client.get(f"/me/sessions/{mine.pk}/needs/").content.decode()
    assert f'value="{local_input(leaving)}"' in form and 'value="18.5"' in form


def test_the_session_page_shows_the_share_load_management_gives(alice_client, mine, site, station):
    LoadGroup.objects.create(site=site, name="Grid", limit=32)
    load.driver_needs_set(session=mine, departure_at=in_hours(2), energy_kwh=Decimal(20))
    ConnectorAllocation.objects.create(
        site=site, station=station, connector_id=1, transaction=mine, state="charging", current_a=14.5
    )
    page = alice_client.get(f"/me/sessions/{mine.pk}/").content.decode()
    assert "yours gets <strong>14.5 A</strong> per phase now" in page
    assert "20.00 kWh still to charge (as you asked)" in page


@pytest.mark.parametrize(
    ("hours", "energy", "message"),
    [
        (-1, "", "The departure must be in the future."),
        (50, "", "The departure must be within the next 48 hours."),
        (2, "0", "The energy must be more than 0 kWh."),
        (2, "250", "At most 200 kWh per session."),
        (2, "abc", "Enter a number."),
    ],
)
def test_bad_needs_are_shown_on_the_form_and_nothing_is_kept(alice_client, mine, hours, energy, message):
    response = alice_client.post(
        f"/me/sessions/{mine.pk}/needs/", {"departure_at": local_input(in_hours(hours)), "energy_kwh": energy}
    )
    assert response.status_code == 400 and message in response.content.decode()
    assert not DriverChargingNeeds.objects.exists()


def test_the_form_is_labelled_and_needs_a_departure(alice_client, mine):
    page = alice_client.get(f"/me/sessions/{mine.pk}/needs/").content.decode()
    assert '<label for="id_departure_at">I leave at' in page and '<label for="id_energy_kwh">' in page
    response = alice_client.post(f"/me/sessions/{mine.pk}/needs/", {"energy_kwh": "10"})
    assert response.status_code == 400 and "This field is required." in response.content.decode()


def test_another_drivers_session_and_an_ended_one_are_not_found(alice_client, bobs, station, alice, make_transaction):
    ended = make_transaction(station, user=alice)
    for session in (bobs, ended):
        assert alice_client.get(f"/me/sessions/{session.pk}/needs/").status_code == 404
        posted = alice_client.post(f"/me/sessions/{session.pk}/needs/", {"departure_at": local_input(in_hours(2))})
        assert posted.status_code == 404
    assert not DriverChargingNeeds.objects.exists()
    assert "my charging needs" not in alice_client.get(f"/me/sessions/{ended.pk}/").content.decode()


def test_a_driver_clears_their_needs(alice_client, mine):
    load.driver_needs_set(session=mine, departure_at=in_hours(2))
    response = alice_client.post(f"/me/sessions/{mine.pk}/needs/", {"clear": "1"})
    assert response.status_code == 302 and not DriverChargingNeeds.objects.exists()


# The API


def api_as(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_issue(user=user).key}")
    return client


def test_put_get_and_delete_my_sessions_needs(alice, mine):
    api, url = api_as(alice), f"/api/me/sessions/{mine.pk}/charging-needs/"
    assert api.get(url).status_code == 404
    leaving = in_hours(2)
    put = api.put(url, {"departure_at": leaving.isoformat(), "energy_kwh": "12.5"}, format="json")
    assert put.status_code == 200, put.json()
    body = api.get(url).json()
    assert (body["energy_kwh"], body["load_managed"], body["current_a"]) == ("12.5", False, None)
    assert body["planned"] == {
        "departure_at": leaving.isoformat().replace("+00:00", "Z"),
        "departure_from": "driver",
        "energy_wh": 12500.0,
        "energy_from": "driver",
    }
    assert api.put(url, {"departure_at": leaving.isoformat()}, format="json").json()["energy_kwh"] is None
    assert api.delete(url).status_code == 204
    assert api.delete(url).status_code == 404
    assert not DriverChargingNeeds.objects.exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({}, "departure_at", "This field is required."),
        ({"departure_at": "soon"}, "departure_at", "Datetime has wrong format."),
        ({"departure_at": "0001-01-01T00:00:00+14:00"}, "departure_at", "Datetime value out of range."),
        ({"departure_at": "2020-01-01T08:00:00Z"}, "departure_at", "The departure must be in the future."),
        ({"hours": 72}, "departure_at", "The departure must be within the next 48 hours."),
        ({"hours": 1, "energy_kwh": "-3"}, "energy_kwh", "The energy must be more than 0 kWh."),
        ({"hours": 1, "energy_kwh": "201"}, "energy_kwh", "At most 200 kWh per session."),
        ({"hours": 1, "energy_kwh": "NaN"}, "energy_kwh", "A valid number is required."),
        ({"hours": 1, "energy_kwh": "12.25"}, "energy_kwh", "Ensure that there are no more than 1 decimal place."),
        ({"hours": 1, "energy_kwh": "1e400"}, "energy_kwh", "At most 200 kWh per session."),
    ],
)
def test_bad_input_is_400_with_the_reason(alice, mine, data, field, message):
    if "hours" in data:
        data = {"departure_at": in_hours(data.pop("hours")).isoformat(), **data}
    response = api_as(alice).put(f"/api/me/sessions/{mine.pk}/charging-needs/", data, format="json")
    assert response.status_code == 400
    assert any(text.startswith(message) for text in response.json()[field]), response.json()
    assert not DriverChargingNeeds.objects.exists()


def test_another_drivers_session_is_404_and_an_ended_one_409(alice, bob, bobs, station, make_transaction):
    api = api_as(alice)
    url = f"/api/me/sessions/{bobs.pk}/charging-needs/"
    good = {"departure_at": in_hours(2).isoformat()}
    assert [api.get(url).status_code, api.put(url, good, format="json").status_code, api.delete(url).status_code] == [
        404,
        404,
        404,
    ]
    ended = make_transaction(station, user=alice)
    answer = api.put(f"/api/me/sessions/{ended.pk}/charging-needs/", good, format="json")
    assert answer.status_code == 409 and answer.json()["detail"] == load.SESSION_ENDED
    assert not DriverChargingNeeds.objects.exists()
    assert APIClient().get(url).status_code == 401


def test_the_schema_documents_the_charging_needs(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operations = schema["paths"]["/api/me/sessions/{id}/charging-needs/"]
    assert set(operations) == {"get", "put", "delete"}
    assert {"400", "404", "409"} <= set(operations["put"]["responses"])

"""The operator's station list, its bulk actions, registering and editing a station and its password: what each
page shows, what each role may do, and bad input answered with a form message, never a 500."""

import re

import pytest

from monitoring.models import MaintenanceJob
from stations.models import Station

STAFF = ["operator_admin", "technician", "finance", "analyst"]
WRITERS = ["operator_admin", "technician"]


def _ids(response) -> list[str]:
    return [station.ocpp_id for station in response.context["page"].object_list]


@pytest.mark.parametrize("role", [*STAFF, "driver"])
def test_every_staff_role_reads_the_station_list_and_a_driver_gets_403(client_as, network, role):
    response = client_as(role).get("/operator/stations/")
    assert response.status_code == (200 if role in STAFF else 403)
    if role in STAFF:
        html = response.content.decode()
        assert ("Register a station" in html) == (role in WRITERS)
        assert ('name="stations"' in html) == (role in WRITERS)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["CP-DEPOT-1", "CP-DEPOT-2", "CP-TOWN-1"]),
        ("q=depot+left", ["CP-DEPOT-1"]),  # the name
        ("q=sn-0042", ["CP-DEPOT-1"]),  # the serial number
        ("q=town", ["CP-TOWN-1"]),  # the id
        ("status=online", ["CP-DEPOT-1", "CP-DEPOT-2"]),
        ("status=offline", ["CP-TOWN-1"]),
        ("status=faulted", ["CP-DEPOT-2"]),
        ("ocpp_version=2.0.1", ["CP-DEPOT-2"]),
        ("registration_status=Pending", ["CP-TOWN-1"]),
        ("sort=-id", ["CP-TOWN-1", "CP-DEPOT-2", "CP-DEPOT-1"]),
        ("sort=-last_seen", ["CP-DEPOT-2", "CP-DEPOT-1", "CP-TOWN-1"]),  # never seen last
        ("sort=last_seen", ["CP-TOWN-1", "CP-DEPOT-1", "CP-DEPOT-2"]),
    ],
)
def test_the_station_list_searches_filters_and_sorts(client_as, network, query, expected):
    assert _ids(client_as("analyst").get(f"/operator/stations/?{query}")) == expected


def test_the_station_list_filters_by_site(client_as, network):
    assert _ids(client_as("finance").get(f"/operator/stations/?site={network.town.pk}")) == ["CP-TOWN-1"]


@pytest.mark.parametrize("query", ["site=999999", "site=abc", "status=burning", "sort=price", "page=zzz", "page=99"])
def test_bad_filters_are_ignored_not_a_500(client_as, network, query):
    response = client_as("technician").get(f"/operator/stations/?{query}")
    assert response.status_code == 200


def test_the_station_list_is_paginated(client_as, make_station):
    for number in range(55):
        make_station(ocpp_id=f"CP-{number:03d}")
    client = client_as("analyst")
    first, second = client.get("/operator/stations/"), client.get("/operator/stations/?page=2")
    assert len(_ids(first)) == 50 and _ids(second) == [f"CP-{n:03d}" for n in range(50, 55)]
    assert "page=2" in first.content.decode()


def _bulk(client, action: str, stations: list[str], confirmed: bool, **extra):
    data = {"action": action, "stations": stations, **extra}
    if confirmed:
        data["confirmed"] = "True"
    return client.post("/operator/station-actions/", data)


def test_accepting_registration_asks_for_confirmation_then_reports_each_station(client_as, network):
    client = client_as("technician")
    asked = _bulk(client, "accept", ["CP-TOWN-1", "CP-DEPOT-1"], confirmed=False)
    assert asked.status_code == 200 and "Confirm" in asked.content.decode()
    assert Station.objects.get(ocpp_id="CP-TOWN-1").registration_status == "Pending"  # nothing done yet

    done = _bulk(client, "accept", ["CP-TOWN-1", "CP-DEPOT-1"], confirmed=True)
    assert done.status_code == 200
    assert Station.objects.get(ocpp_id="CP-TOWN-1").registration_status == "Accepted"
    outcomes = {outcome.station.ocpp_id: outcome.changed for outcome in done.context["outcomes"]}
    assert outcomes == {"CP-TOWN-1": True, "CP-DEPOT-1": False}
    html = done.content.decode()
    assert "Changed" in html and "Already so" in html


def test_moving_stations_to_a_site_and_to_none(client_as, network):
    client = client_as("operator_admin")
    _bulk(client, "move", ["CP-DEPOT-1", "CP-DEPOT-2"], confirmed=True, site=network.town.pk)
    assert set(Station.objects.filter(site=network.town).values_list("ocpp_id", flat=True)) == {
        "CP-DEPOT-1",
        "CP-DEPOT-2",
        "CP-TOWN-1",
    }
    _bulk(client, "move", ["CP-TOWN-1"], confirmed=True, site="")
    assert Station.objects.get(ocpp_id="CP-TOWN-1").site is None


def test_changing_availability_becomes_a_maintenance_job_with_an_outcome_per_station(client_as, network, celery_eager):
    response = _bulk(client_as("technician"), "inoperative", ["CP-TOWN-1", "CP-DEPOT-1"], confirmed=True)
    job = MaintenanceJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/operator/maintenance/{job.pk}/"
    assert job.kind == "change_availability" and job.params == {"type": "Inoperative", "connector_id": 0}
    assert set(job.targets.values_list("station__ocpp_id", flat=True)) == {"CP-TOWN-1", "CP-DEPOT-1"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "accept"}, "Select at least one station."),
        ({"action": "accept", "stations": ["NO-SUCH"]}, "Select a valid choice"),
        ({"action": "explode", "stations": ["CP-TOWN-1"]}, "Select a valid choice"),
        ({"action": "move", "stations": ["CP-TOWN-1"], "site": "999999"}, "Select a valid choice"),
    ],
)
def test_a_bad_bulk_request_says_why_and_changes_nothing(client_as, network, data, message):
    response = client_as("technician").post("/operator/station-actions/", data | {"confirmed": "True"}, follow=True)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Station.objects.get(ocpp_id="CP-TOWN-1").registration_status == "Pending"


@pytest.mark.parametrize("role", ["finance", "analyst", "driver"])
def test_readers_may_not_act_in_bulk(client_as, network, role):
    response = _bulk(client_as(role), "accept", ["CP-TOWN-1"], confirmed=True)
    assert response.status_code == 403
    assert Station.objects.get(ocpp_id="CP-TOWN-1").registration_status == "Pending"


def _shown_password(response) -> str:
    return re.search(r'id="station-password" value="([^"]+)"', response.content.decode()).group(1)


def test_registering_a_station_with_a_generated_password_shows_it_once(client_as, network):
    client = client_as("technician")
    form = client.get("/operator/new-station/").content.decode()
    assert 'aria-describedby="id_password_helptext"' in form and 'id="id_password_helptext"' in form
    assert ">No site</option>" in form
    response = client.post(
        "/operator/new-station/",
        {"ocpp_id": "CP-NEW-9", "name": "Gate", "site": network.depot.pk, "registration_status": "Accepted"},
    )
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    password = _shown_password(response)
    station = Station.objects.get(ocpp_id="CP-NEW-9")
    assert 16 <= len(password) <= 40 and station.check_password(password)
    assert (station.name, station.site, station.ocpp_version) == ("Gate", network.depot, "")
    assert password not in client.get("/operator/stations/CP-NEW-9/").content.decode()


def test_registering_with_a_chosen_password(client_as, db):
    response = client_as("operator_admin").post(
        "/operator/new-station/",
        {"ocpp_id": "CP-OWN", "registration_status": "Pending", "password": "a-chosen-password-123"},
    )
    assert _shown_password(response) == "a-chosen-password-123"
    assert Station.objects.get(ocpp_id="CP-OWN").check_password("a-chosen-password-123")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"ocpp_id": "CP 1"}, "ocpp_id", "no spaces"),
        ({"ocpp_id": "CP:1"}, "ocpp_id", "no ':'"),
        ({"ocpp_id": "X" * 49}, "ocpp_id", "at most 48"),
        ({"ocpp_id": ""}, "ocpp_id", "required"),
        ({"ocpp_id": "CP-DEPOT-1"}, "ocpp_id", "already registered"),
        ({"ocpp_id": "CP-OK", "password": "short"}, "password", "at least 16"),
        ({"ocpp_id": "CP-OK", "password": "x" * 41}, "password", "at most 40"),
        ({"ocpp_id": "CP-OK", "site": "999999"}, "site", "valid choice"),
        ({"ocpp_id": "CP-OK", "registration_status": "Maybe"}, "registration_status", "valid choice"),
    ],
)
def test_registering_refuses_what_the_api_refuses_with_a_form_message(client_as, network, data, field, message):
    payload = {"registration_status": "Accepted"} | data
    response = client_as("technician").post("/operator/new-station/", payload)
    assert response.status_code == 400
    assert any(message in error for error in response.context["form"].errors[field])
    assert message.split()[0] in response.content.decode()
    assert not Station.objects.filter(ocpp_id="CP-OK").exists()


def test_the_api_refuses_the_same_ids(network, operator_admin):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(operator_admin)
    for bad in ("CP 1", "CP:1", "X" * 49, "CP-DEPOT-1"):
        assert api.post("/api/stations/", {"id": bad, "password": "p" * 20}, format="json").status_code == 400


def test_editing_a_station_changes_name_site_and_registration(client_as, network):
    client = client_as("technician")
    assert client.get("/operator/stations/CP-TOWN-1/edit/").status_code == 200
    response = client.post(
        "/operator/stations/CP-TOWN-1/edit/",
        {"name": "Town hall", "site": network.depot.pk, "registration_status": "Accepted"},
    )
    assert response.status_code == 302 and response["Location"] == "/operator/stations/CP-TOWN-1/"
    station = Station.objects.get(ocpp_id="CP-TOWN-1")
    assert (station.name, station.site, station.registration_status) == ("Town hall", network.depot, "Accepted")


def test_editing_with_bad_input_shows_the_form_again(client_as, network):
    response = client_as("technician").post(
        "/operator/stations/CP-TOWN-1/edit/", {"name": "x" * 121, "registration_status": "Accepted"}
    )
    assert response.status_code == 400 and "at most 120" in response.content.decode()
    assert Station.objects.get(ocpp_id="CP-TOWN-1").name == ""


def test_setting_a_new_password_replaces_the_old_one(client_as, network):
    from tests.factories import STATION_PASSWORD

    client = client_as("operator_admin")
    assert client.get("/operator/stations/CP-DEPOT-1/credentials/").status_code == 200
    response = client.post("/operator/stations/CP-DEPOT-1/credentials/", {"password": ""})
    password = _shown_password(response)
    station = Station.objects.get(ocpp_id="CP-DEPOT-1")
    assert station.check_password(password) and not station.check_password(STATION_PASSWORD)
    bad = client.post("/operator/stations/CP-DEPOT-1/credentials/", {"password": "too-short"})
    assert bad.status_code == 400 and "at least 16" in bad.content.decode()
    assert Station.objects.get(ocpp_id="CP-DEPOT-1").check_password(password)


@pytest.mark.parametrize("role", ["finance", "analyst", "driver"])
@pytest.mark.parametrize(
    "path",
    ["/operator/new-station/", "/operator/stations/CP-TOWN-1/edit/", "/operator/stations/CP-TOWN-1/credentials/"],
)
def test_readers_may_not_register_edit_or_set_passwords(client_as, network, role, path):
    client = client_as(role)
    assert client.get(path).status_code == 403
    assert (
        client.post(path, {"ocpp_id": "CP-X", "password": "p" * 20, "registration_status": "Accepted"}).status_code
        == 403
    )
    assert not Station.objects.filter(ocpp_id="CP-X").exists()


def test_unknown_stations_are_404(client_as, db):
    client = client_as("technician")
    assert client.get("/operator/stations/NOPE/edit/").status_code == 404
    assert client.post("/operator/stations/NOPE/credentials/", {}).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, network):
    for path in ("/operator/stations/", "/operator/new-station/", "/operator/sites/", "/operator/sessions/"):
        response = client.get(path)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], path


def test_the_station_page_links_to_editing_for_technicians_only(client_as, network):
    assert (
        "/operator/stations/CP-DEPOT-1/edit/"
        in client_as("technician").get("/operator/stations/CP-DEPOT-1/").content.decode()
    )
    assert (
        "/operator/stations/CP-DEPOT-1/edit/"
        not in client_as("finance").get("/operator/stations/CP-DEPOT-1/").content.decode()
    )

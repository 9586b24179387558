"""The stations API: who may use it, registering and changing stations, reading their live state."""

import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.roles import Role
from stations.models import Site, Station, StationCommand
from stations.services import connector_status_report, station_authenticate, station_connected
from tests.api.conftest import token_client
from tests.factories import STATION_PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-new-station-secret"


def test_anonymous_requests_are_unauthenticated(db):
    client = APIClient()
    for response in (
        client.get("/api/stations/"),
        client.post("/api/stations/", {"id": "CP-9", "password": STATION_PASSWORD}, format="json"),
        client.get("/api/commands/"),
    ):
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Token"
    assert not Station.objects.exists()


def test_drivers_are_forbidden_and_finance_reads_but_neither_changes_nor_commands(driver_api, make_staff, make_station):
    """The whole role table is in test_role_access.py; this is the part that must never let a write through."""
    make_station("CP-1")
    finance_api = token_client(make_staff(Role.FINANCE))
    assert finance_api.get("/api/stations/CP-1/").status_code == 200
    for client in (driver_api, finance_api):
        assert client.patch("/api/stations/CP-1/", {"password": NEW_PASSWORD}, format="json").status_code == 403
        assert client.post("/api/stations/CP-1/calls/", {"action": "Reset"}, format="json").status_code == 403
        assert client.get("/api/commands/").status_code == 403
    assert driver_api.get("/api/stations/").status_code == 403
    assert station_authenticate(ocpp_id="CP-1", password=STATION_PASSWORD) is not None
    assert not StationCommand.objects.exists()


def test_session_login_of_an_operator_admin_works_too(client, operator_admin):
    client.force_login(operator_admin)
    assert client.get("/api/stations/").status_code == 200


def test_registering_a_station_stores_its_password_hashed(admin_api):
    response = admin_api.post(
        "/api/stations/", {"id": "CP-9", "password": STATION_PASSWORD, "name": "Depot 9"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["id"], body["name"], body["has_password"], body["is_online"]) == ("CP-9", "Depot 9", True, False)
    assert "password" not in body
    station = Station.objects.get(ocpp_id="CP-9")
    assert STATION_PASSWORD not in station.password_hash
    assert station_authenticate(ocpp_id="CP-9", password=STATION_PASSWORD) == station
    assert station_authenticate(ocpp_id="CP-9", password="not-the-password") is None


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"id": "CP 1", "password": STATION_PASSWORD}, "id", "no spaces"),
        ({"id": "CP:1", "password": STATION_PASSWORD}, "id", "no ':'"),
        ({"id": "C" * 49, "password": STATION_PASSWORD}, "id", "no more than 48"),
        ({"id": "CP-1"}, "password", "required"),
        ({"id": "CP-1", "password": "short"}, "password", "at least 16"),
        ({"id": "CP-1", "password": "x" * 41}, "password", "no more than 40"),
        ({"id": "CP-1", "password": STATION_PASSWORD, "site": "Nowhere"}, "site", "does not exist"),
        ({"id": "CP-1", "password": STATION_PASSWORD, "registration_status": "Maybe"}, "registration_status", ""),
    ],
)
def test_a_bad_registration_is_refused_with_a_clear_error(admin_api, data, field, message):
    response = admin_api.post("/api/stations/", data, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert not Station.objects.exists()


def test_an_id_that_is_taken_is_refused(admin_api, make_station):
    make_station("CP-1")
    response = admin_api.post("/api/stations/", {"id": "CP-1", "password": NEW_PASSWORD}, format="json")
    assert response.status_code == 400
    assert response.json() == {"id": ["A station with this id is already registered."]}
    assert station_authenticate(ocpp_id="CP-1", password=STATION_PASSWORD) is not None


def test_patch_changes_the_password_and_only_what_it_names(admin_api, make_station):
    site = Site.objects.create(name="Harbour")
    station = make_station("CP-1", name="Old name")
    Station.objects.filter(pk=station.pk).update(is_online=True, channel_name="specific.abc!def", vendor="Alfen")

    response = admin_api.patch("/api/stations/CP-1/", {"password": NEW_PASSWORD, "site": "Harbour"}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["site"] == "Harbour"
    station.refresh_from_db()
    assert (station.site, station.name, station.vendor) == (site, "Old name", "Alfen")
    assert (station.is_online, station.channel_name) == (True, "specific.abc!def")
    assert station_authenticate(ocpp_id="CP-1", password=NEW_PASSWORD) == station
    assert station_authenticate(ocpp_id="CP-1", password=STATION_PASSWORD) is None


def test_patch_cannot_rename_a_station_or_set_what_it_reports(admin_api, make_station):
    make_station("CP-1")
    response = admin_api.patch(
        "/api/stations/CP-1/", {"id": "CP-2", "vendor": "Fake", "is_online": True, "name": "Kept"}, format="json"
    )
    assert response.status_code == 200
    station = Station.objects.get()
    assert (station.ocpp_id, station.vendor, station.is_online, station.name) == ("CP-1", "", False, "Kept")


def test_a_weak_new_password_is_refused_and_the_old_one_kept(admin_api, make_station):
    make_station("CP-1")
    response = admin_api.patch("/api/stations/CP-1/", {"password": "1234"}, format="json")
    assert response.status_code == 400
    assert station_authenticate(ocpp_id="CP-1", password=STATION_PASSWORD) is not None


def test_stations_are_listed_with_live_status_and_connectors(admin_api, make_station):
    online = make_station("CP-1", site=Site.objects.create(name="Depot"))
    make_station("CP-2")
    station_connected(station=online, ocpp_version="1.6", channel_name="specific.x!y")
    connector_status_report(station=online, connector_id=2, status="Charging", timestamp=timezone.now())
    connector_status_report(station=online, connector_id=1, status="Faulted", error_code="GroundFailure")

    body = admin_api.get("/api/stations/").json()
    assert body["count"] == 2
    first = body["results"][0]
    assert (first["id"], first["is_online"], first["ocpp_version"], first["site"]) == ("CP-1", True, "1.6", "Depot")
    assert [(c["connector_id"], c["status"], c["error_code"]) for c in first["connectors"]] == [
        (1, "Faulted", "GroundFailure"),
        (2, "Charging", ""),
    ]
    assert [s["id"] for s in admin_api.get("/api/stations/?is_online=true").json()["results"]] == ["CP-1"]
    assert [s["id"] for s in admin_api.get("/api/stations/?is_online=false").json()["results"]] == ["CP-2"]
    assert [s["id"] for s in admin_api.get("/api/stations/?site=Depot").json()["results"]] == ["CP-1"]


def test_station_ids_with_punctuation_work_in_urls(admin_api, make_station):
    make_station("DE*ABC.1@site|2")
    response = admin_api.get("/api/stations/DE*ABC.1@site%7C2/")
    assert response.status_code == 200
    assert response.json()["id"] == "DE*ABC.1@site|2"
    assert admin_api.get("/api/stations/NOPE/").status_code == 404


def test_a_malformed_call_request_gets_field_errors_and_records_nothing(admin_api, make_station):
    make_station("CP-1")
    response = admin_api.post("/api/stations/CP-1/calls/", {"payload": {}}, format="json")
    assert response.status_code == 400
    assert "action" in response.json()
    assert admin_api.post("/api/stations/NOPE/calls/", {"action": "Reset"}, format="json").status_code == 404
    assert not StationCommand.objects.exists()


def test_typed_endpoints_speak_2_0_1_too(admin_api, make_station):
    make_station("CP-2", ocpp_version="2.0.1")
    response = admin_api.post("/api/stations/CP-2/reset/", {"type": "Hard"}, format="json")
    assert response.status_code == 409  # not connected: the 2.0.1 call was built, nothing sent
    assert response.json()["payload"] == {"type": "Immediate"}


def test_the_openapi_schema_documents_the_command_outcomes(admin_api):
    schema = admin_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    calls = schema["paths"]["/api/stations/{ocpp_id}/calls/"]
    assert set(calls["post"]["responses"]) == {"200", "400", "401", "403", "404", "409", "415", "502", "503", "504"}
    assert calls["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/StationCallRequest")
    assert "202" in schema["paths"]["/api/stations/{ocpp_id}/remote-start/"]["post"]["responses"]
    create = schema["components"]["schemas"]["StationCreateRequest"]
    assert (
        "password" not in create["required"] and "profiles 1 and 2" in create["properties"]["password"]["description"]
    )
    assert "password" not in schema["components"]["schemas"]["Station"]["properties"]  # write-only


# The management command registers stations with the same checks as the API.


def run_create_station(*args, **options) -> str:
    out = io.StringIO()
    call_command("create_station", *args, stdout=out, **options)
    return out.getvalue()


def test_create_station_registers_a_station_with_a_hashed_password(db):
    output = run_create_station("CP-7", "--password", STATION_PASSWORD, "--name", "Gate 7", "--site", "Harbour")
    assert output.strip() == "Registered station CP-7."
    station = Station.objects.get(ocpp_id="CP-7")
    assert (station.name, station.site.name, station.registration_status) == ("Gate 7", "Harbour", "Accepted")
    assert STATION_PASSWORD not in station.password_hash
    assert station_authenticate(ocpp_id="CP-7", password=STATION_PASSWORD) == station


def test_create_station_refuses_an_existing_id_unless_told_to_update(make_station):
    make_station("CP-7")
    with pytest.raises(CommandError, match="'CP-7' is already registered; pass --update"):
        run_create_station("CP-7", "--password", NEW_PASSWORD)
    assert station_authenticate(ocpp_id="CP-7", password=STATION_PASSWORD) is not None

    output = run_create_station("CP-7", "--password", NEW_PASSWORD, "--status", "Pending", "--update")
    assert output.strip() == "Updated station CP-7."
    station = Station.objects.get(ocpp_id="CP-7")
    assert station.registration_status == "Pending"
    assert station_authenticate(ocpp_id="CP-7", password=NEW_PASSWORD) == station


def test_update_creates_a_missing_station_so_that_scripts_can_rerun(db):
    run_create_station("CP-7", "--password", STATION_PASSWORD, "--update")
    run_create_station("CP-7", "--password", STATION_PASSWORD, "--update")
    assert Station.objects.filter(ocpp_id="CP-7").count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["CP-7"], "password: This field is required."),
        (["CP-7", "--password", "short"], "password: Ensure this field has at least 16 characters."),
        (["CP 7", "--password", STATION_PASSWORD, "--site", "New site"], "station_id: Use 1 to 48 letters"),
    ],
)
def test_create_station_explains_what_is_wrong_and_creates_nothing(db, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        run_create_station(*args)
    assert not Station.objects.exists()
    assert not Site.objects.exists()

"""The operator pages and API of monitoring and maintenance: what they show, and who may see and do what."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from monitoring import alerts
from monitoring.models import Alert, MaintenanceJob
from sessions.models import MeterSample, Transaction
from stations.models import ConfigurationKey, Connector, OcppMessage, Site, Station, StationCommand
from tests.monitoring.support import client_for


@pytest.fixture
def network(make_station):
    """Two sites: a charging and a faulted connector at the depot, an offline station in town."""
    depot, town = Site.objects.create(name="Depot"), Site.objects.create(name="Town")
    now = timezone.now()
    busy = make_station(ocpp_id="CP-BUSY", site=depot)
    Station.objects.filter(pk=busy.pk).update(
        is_online=True, ocpp_version="1.6", last_seen_at=now, vendor="Voltgrid", model="AC22"
    )
    Connector.objects.create(
        station=busy,
        connector_id=1,
        status="Charging",
        power_w=7400,
        soc_percent=55,
        energy_register_wh=1_012_500,
        measured_at=now,
    )
    Connector.objects.create(station=busy, connector_id=2, status="Faulted", error_code="GroundFailure")
    session = Transaction.objects.create(
        station=busy, connector_id=1, id_tag="TAG-7", meter_start=1_000_000, started_at=now - timedelta(minutes=30)
    )
    for minutes, watts, register in ((20, 7000, 1_002_000), (10, 7400, 1_007_000)):
        for measurand, value in (("Power.Active.Import", watts), ("Energy.Active.Import.Register", register)):
            MeterSample.objects.create(
                transaction=session,
                station=busy,
                connector_id=1,
                measurand=measurand,
                timestamp=now - timedelta(minutes=minutes),
                value=value,
            )
    away = make_station(ocpp_id="CP-AWAY", site=town)
    Station.objects.filter(pk=away.pk).update(ocpp_version="1.6", last_seen_at=now - timedelta(hours=3))
    Connector.objects.create(station=away, connector_id=1, status="Available")
    return {"busy": Station.objects.get(pk=busy.pk), "away": away, "session": session, "depot": depot}


def test_the_board_shows_each_connector_with_its_state_power_and_session(network, analyst):
    response = client_for(analyst).get("/operator/live/")
    assert response.status_code == 200
    rows = [(r.station.ocpp_id, r.connector.connector_id, r.state) for r in response.context["rows"]]
    assert rows == [("CP-BUSY", 1, "charging"), ("CP-BUSY", 2, "faulted"), ("CP-AWAY", 1, "offline")]
    html = response.content.decode()
    assert 'data-state="charging"' in html and f"#{network['session'].pk} · TAG-7" in html
    assert ">7.4<" in html and ">12.50<" in html  # kW, and kWh of the session so far
    assert response.context["counts"]["faulted"] == 1 and response.context["counts"]["offline"] == 1


def test_the_board_filters_by_site_and_state(network, analyst):
    client = client_for(analyst)
    by_site = client.get("/operator/live/", {"site": network["depot"].pk})
    assert {r.station.ocpp_id for r in by_site.context["rows"]} == {"CP-BUSY"}
    by_state = client.get("/operator/live/", {"state": "faulted"})
    html = by_state.content.decode()
    # Rows of other states are sent hidden, so that a change of state shows them without a reload.
    assert html.count("<tr hidden") == 2 and '<tr data-station="CP-BUSY" data-connector="2"' in html
    rows = client.get("/operator/live/rows/", {"state": "faulted", "site": network["depot"].pk}).json()
    assert rows["counts"]["charging"] == 1 and "CP-AWAY" not in rows["rows"]
    station_rows = client.get("/operator/live/rows/", {"station": "CP-AWAY"}).json()
    assert 'data-station="CP-AWAY"' in station_rows["rows"] and "CP-BUSY" not in station_rows["rows"]


def test_the_station_page_shows_identity_configuration_power_curve_alerts_and_commands(network, technician):
    busy = network["busy"]
    ConfigurationKey.objects.create(station=busy, key="HeartbeatInterval", value="300", reported_at=timezone.now())
    ConfigurationKey.objects.create(
        station=busy, key="NumberOfConnectors", value="2", readonly=True, reported_at=timezone.now()
    )
    StationCommand.objects.create(
        station=busy, action="Reset", payload={"type": "Soft"}, status="answered", response={"status": "Accepted"}
    )
    alerts.alerts_evaluate()
    response = client_for(technician).get("/operator/stations/CP-BUSY/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Voltgrid / AC22" in html
    assert "Connector 2 is faulted: GroundFailure" in html
    assert 'name="key" value="HeartbeatInterval"' in html  # writable: a change form
    assert 'name="key" value="NumberOfConnectors"' not in html and "read-only" in html
    assert "plotly-graph-div" in html and "/static/analytics/vendor/plotly.min.js" in html
    assert f"Session {network['session'].pk} on connector 1" in html
    for kind in MaintenanceJob.Kind.values:
        assert f'name="kind" value="{kind}"' in html
    assert ">Reset</summary>" in html


def test_an_analyst_sees_the_station_page_without_command_buttons(network, analyst):
    html = client_for(analyst).get("/operator/stations/CP-BUSY/").content.decode()
    assert "<h2>Maintenance</h2>" not in html and 'name="kind"' not in html


def test_the_power_curve_is_derived_from_the_energy_register_when_no_power_is_sent(network):
    from stations.selectors import session_power_series

    MeterSample.objects.filter(measurand="Power.Active.Import").delete()
    series = session_power_series(session=network["session"])
    assert series.power_w == [pytest.approx(30_000)]  # 5 kWh in 10 minutes
    assert series.energy_wh == [7_000]


def test_the_message_log_is_searchable_and_paginated(network, analyst):
    busy = network["busy"]
    now = timezone.now()
    OcppMessage.objects.bulk_create(
        [
            OcppMessage(
                station=busy,
                direction="in",
                message_type=2,
                action="Heartbeat",
                unique_id=f"hb-{n}",
                payload={},
                created_at=now - timedelta(seconds=n),
            )
            for n in range(60)
        ]
        + [
            OcppMessage(
                station=busy,
                direction="in",
                message_type=2,
                action="StatusNotification",
                unique_id="sn-1",
                payload={"connectorId": 2, "status": "Faulted", "errorCode": "GroundFailure"},
                created_at=now,
            ),
            OcppMessage(
                station=busy,
                direction="out",
                message_type=4,
                unique_id="sn-1",
                error_code="FormationViolation",
                payload={},
                created_at=now,
            ),
        ]
    )
    client = client_for(analyst)
    first = client.get("/operator/stations/CP-BUSY/messages/")
    assert first.context["page"].paginator.count == 62 and len(first.context["page"].object_list) == 50
    assert len(client.get("/operator/stations/CP-BUSY/messages/", {"page": 2}).context["page"].object_list) == 12
    found = client.get("/operator/stations/CP-BUSY/messages/", {"q": "groundfailure"}).context["page"]
    assert [m.unique_id for m in found] == ["sn-1"]
    assert [m.direction for m in client.get("/operator/stations/CP-BUSY/messages/", {"q": "sn-1"}).context["page"]] == [
        "out",
        "in",
    ]
    assert client.get("/operator/stations/CP-BUSY/messages/", {"direction": "out"}).context["page"].paginator.count == 1
    assert (
        client.get("/operator/stations/CP-BUSY/messages/", {"action": "Heartbeat"}).context["page"].paginator.count
        == 60
    )


STATION_PAGES = [
    "/operator/live/",
    "/operator/live/rows/",
    "/operator/stations/CP-BUSY/",
    "/operator/stations/CP-BUSY/messages/",
]
PAGES = [*STATION_PAGES, "/operator/alerts/", "/operator/maintenance/", "/operator/firmware/"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_for_staff_who_read_stations(network, path, analyst, technician, finance_user, driver):
    assert client_for(analyst).get(path).status_code == 200
    assert client_for(technician).get(path).status_code == 200
    # Finance reads stations (README's roles), not alerts or maintenance.
    assert client_for(finance_user).get(path).status_code == (200 if path in STATION_PAGES else 403)
    assert client_for(driver).get(path).status_code == 403
    assert Client().get(path).status_code == 302  # to the login page


@pytest.mark.parametrize("role", ["analyst", "finance"])
def test_only_technicians_and_admins_run_commands(network, make_staff, role, django_capture_on_commit_callbacks):
    client = client_for(make_staff(role))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/operator/stations/CP-BUSY/maintenance/", {"kind": "reset", "type": "Hard"})
    assert response.status_code == 403
    assert client.get("/operator/maintenance/new/").status_code == 403
    api = client.post(
        "/api/maintenance/jobs/", {"kind": "reset", "stations": ["CP-BUSY"]}, content_type="application/json"
    )
    assert api.status_code == 403
    assert not MaintenanceJob.objects.exists()


def test_a_technician_runs_a_command_from_the_station_page(network, technician, django_capture_on_commit_callbacks):
    client = client_for(technician)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/operator/stations/CP-AWAY/maintenance/", {"kind": "reset", "type": "Hard"})
    job = MaintenanceJob.objects.get()
    assert response.url == f"/operator/maintenance/{job.pk}/"
    assert (job.kind, job.params, job.created_by) == ("reset", {"type": "Hard"}, technician)
    page = client.get(response.url)
    assert page.status_code == 200 and "The station is not connected." in page.content.decode()
    status = client.get(f"/operator/maintenance/{job.pk}/status/").json()
    assert (status["status"], status["finished"], status["done"], status["total"]) == ("failed", True, 1, 1)


def test_a_command_with_bad_parameters_sends_nothing_and_says_why(network, technician):
    client = client_for(technician)
    response = client.post("/operator/stations/CP-BUSY/maintenance/", {"kind": "unlock"}, follow=True)
    assert "Nothing was sent. connector_id: This field is required." in response.content.decode()
    assert not MaintenanceJob.objects.exists()


def test_the_bulk_form_names_unknown_stations(network, technician):
    response = client_for(technician).post(
        "/operator/maintenance/new/", {"kind": "clear_cache", "stations": "CP-BUSY, CP-NOPE"}
    )
    assert response.status_code == 400 and "Unknown stations: CP-NOPE." in response.content.decode()
    assert not MaintenanceJob.objects.exists()


def test_the_bulk_form_runs_a_job_over_a_model(network, technician, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(technician).post(
            "/operator/maintenance/new/",
            {
                "kind": "change_availability",
                "model": "ac22",
                "connector_id": "0",
                "type": "Inoperative",
            },
        )
    job = MaintenanceJob.objects.get()
    assert response.status_code == 302
    assert list(job.targets.values_list("station__ocpp_id", "status")) == [("CP-BUSY", "offline")]
    assert job.params == {"connector_id": 0, "type": "Inoperative"}


def test_alerts_are_listed_acknowledged_and_shown_with_their_timeline(network, technician, analyst):
    alerts.alerts_evaluate()
    alert = Alert.objects.get(kind="connector_fault")
    listed = client_for(analyst).get("/operator/alerts/")
    assert {a.kind for a in listed.context["page"]} == {"connector_fault", "offline"}
    assert client_for(analyst).post(f"/operator/alerts/{alert.pk}/acknowledge/").status_code == 403
    client = client_for(technician)
    client.post(f"/operator/alerts/{alert.pk}/acknowledge/", {"note": "Electrician called"})
    html = client.get(f"/operator/alerts/{alert.pk}/").content.decode()
    assert "Electrician called" in html and "Acknowledged" in html
    assert client.post(f"/operator/alerts/{alert.pk}/resolve/", follow=True).status_code == 200
    alert.refresh_from_db()
    assert alert.is_open  # a fault clears only with the fault


def test_the_alerts_api_lists_acknowledges_and_resolves(network, technician, analyst, finance_user):
    alerts.alerts_evaluate()
    security = alerts.alert_security_event(station=network["busy"], event_type="InvalidFirmwareSignature")
    fault = Alert.objects.get(kind="connector_fault")
    assert client_for(finance_user).get("/api/alerts/").status_code == 403
    listed = client_for(analyst).get("/api/alerts/", {"station": "CP-BUSY"}).json()["results"]
    assert {a["kind"] for a in listed} == {"connector_fault", "security_event"}
    client = client_for(technician)
    acknowledged = client.post(
        f"/api/alerts/{fault.pk}/acknowledge/", {"note": "on it"}, content_type="application/json"
    ).json()
    assert acknowledged["acknowledged_by"] == technician.email
    assert [e["kind"] for e in acknowledged["timeline"]] == ["opened", "acknowledged"]
    assert client.post(f"/api/alerts/{fault.pk}/resolve/").status_code == 409
    resolved = client.post(
        f"/api/alerts/{security.pk}/resolve/", {"note": "re-flashed"}, content_type="application/json"
    ).json()
    assert resolved["closed_at"] and resolved["close_reason"] == "re-flashed"
    assert client_for(analyst).post(f"/api/alerts/{fault.pk}/acknowledge/").status_code == 403


def test_the_jobs_api_refuses_bad_requests_clearly(network, technician):
    client = client_for(technician)
    for body, field in [
        ({"kind": "reset"}, "stations"),
        ({"kind": "reset", "stations": ["CP-NOPE"]}, "stations"),
        ({"kind": "unlock", "stations": ["CP-BUSY"]}, "params"),
        ({"kind": "firmware", "stations": ["CP-BUSY"]}, "firmware"),
        ({"kind": "explode", "stations": ["CP-BUSY"]}, "kind"),
        ({"kind": "reset", "selector": {"site": "Depot", "model": "nothing-like-it"}}, "stations"),
    ]:
        response = client.post("/api/maintenance/jobs/", body, content_type="application/json")
        assert response.status_code == 400, body
        assert field in response.json(), (body, response.json())
    assert not MaintenanceJob.objects.exists()


def test_firmware_is_uploaded_and_listed_through_the_api(db, technician, analyst):
    client = client_for(technician)
    response = client.post(
        "/api/firmware/",
        {
            "name": "AC22",
            "version": "2.1",
            "model": "AC22",
            "file": SimpleUploadedFile("ac22-2.1.bin", b"\x00FW" * 9),
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["size"] == 27 and len(body["sha256"]) == 64 and body["uploaded_by"] == technician.email
    assert [image["version"] for image in client_for(analyst).get("/api/firmware/").json()["results"]] == ["2.1"]
    assert client_for(analyst).post("/api/firmware/", {"name": "x"}).status_code == 403
    assert client.delete(f"/api/firmware/{body['id']}/").status_code == 204


def test_the_api_schema_describes_the_maintenance_endpoints(db, technician):
    schema = client_for(technician).get("/api/schema/", {"format": "json"}).json()
    assert {
        "/api/maintenance/jobs/",
        "/api/maintenance/jobs/{id}/cancel/",
        "/api/firmware/",
        "/api/alerts/{id}/acknowledge/",
    } <= set(schema["paths"])

"""The connector page's states and the operators' QR sheets, read from the database as the stations left it."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from sessions.models import Transaction
from stations.models import Connector, Site, StationCommand


@pytest.fixture
def online_station(make_station):
    """A station as a live connection leaves it: online, one connector with a reported status."""
    station = make_station(ocpp_id="PAGE-1", name="Harbour")
    station.is_online, station.channel_name, station.ocpp_version = True, "specific.test!x", "1.6"
    station.save()
    Connector.objects.create(station=station, connector_id=1, status="Available")
    return station


def set_status(station, status):
    Connector.objects.filter(station=station, connector_id=1).update(status=status)


def page(client, ocpp_id="PAGE-1", connector_id=1):
    return client.get(reverse("charging:connector", args=[ocpp_id, connector_id]))


@pytest.mark.parametrize(
    ("status", "label", "message"),
    [
        ("Faulted", "Out of order", "This connector is out of order."),
        ("Unavailable", "Unavailable", "This connector is switched off at the moment."),
        ("Reserved", "Reserved", "This connector is reserved for another driver."),
        ("SuspendedEV", "Occupied", "Someone is charging here right now."),
    ],
)
def test_a_connector_that_cannot_be_started_says_why_and_offers_no_start(
    client, driver, online_station, status, label, message
):
    set_status(online_station, status)
    client.force_login(driver)
    response = page(client)
    content = response.content.decode()
    assert label in content and message in content and "Start charging" not in content

    refused = client.post(reverse("charging:connector_start", args=["PAGE-1", 1]), follow=True)
    assert message in refused.content.decode()
    assert not StationCommand.objects.exists()


def test_unknown_stations_and_connectors_and_connector_zero_are_not_found(client, online_station):
    assert page(client, ocpp_id="NOPE").status_code == 404
    assert page(client, connector_id=2).status_code == 404
    assert page(client, connector_id=0).status_code == 404
    assert client.get(reverse("charging:connector_live", args=["PAGE-1", 2])).status_code == 404


def test_a_pending_start_is_shown_until_its_session_begins(client, driver, online_station):
    client.force_login(driver)
    StationCommand.objects.create(
        station=online_station,
        action="RemoteStartTransaction",
        payload={"connectorId": 1, "idTag": "VGAPP1"},
        status=StationCommand.Status.ANSWERED,
        response={"status": "Accepted"},
        requested_by=driver,
    )
    live_url = reverse("charging:connector_live", args=["PAGE-1", 1])
    assert client.get(live_url).json()["pending_start"] is True
    assert "Starting…" in page(client).content.decode()

    session = Transaction.objects.create(
        station=online_station,
        connector_id=1,
        id_tag="VGAPP1",
        user=driver,
        meter_start=100,
        started_at=timezone.now(),
    )
    live = client.get(live_url).json()
    assert live["pending_start"] is False and live["session"]["id"] == session.pk


def test_another_drivers_pending_start_is_not_shown(client, driver, django_user_model, online_station):
    other = django_user_model.objects.create_user(email="other@example.com", password="x-pass-123456")
    StationCommand.objects.create(
        station=online_station,
        action="RemoteStartTransaction",
        payload={"connectorId": 1, "idTag": "VGAPP2"},
        status=StationCommand.Status.ANSWERED,
        response={"status": "Accepted"},
        requested_by=other,
    )
    client.force_login(driver)
    assert client.get(reverse("charging:connector_live", args=["PAGE-1", 1])).json()["pending_start"] is False


def test_stopping_needs_a_login_and_an_ended_session_cannot_be_stopped(client, driver, online_station):
    session = Transaction.objects.create(
        station=online_station,
        connector_id=1,
        id_tag="X",
        user=driver,
        meter_start=0,
        meter_stop=5000,
        energy_wh=5000,
        started_at=datetime(2030, 1, 1, tzinfo=UTC),
        stopped_at=datetime(2030, 1, 1, 1, tzinfo=UTC),
        status=Transaction.Status.COMPLETED,
    )
    url = reverse("charging:session_stop", args=[session.pk])
    assert client.post(url)["Location"].startswith(reverse("account_login"))
    client.force_login(driver)
    assert client.get(url).status_code == 405
    response = client.post(url, follow=True)
    assert "This session has already ended." in response.content.decode()
    assert not StationCommand.objects.exists()


@pytest.fixture
def staff_user(django_user_model):
    from django.contrib.auth.models import Group

    def make(role: Role):
        user = django_user_model.objects.create_user(email=f"{role.value}@example.com", password="staff-pass-123")
        user.groups.add(Group.objects.get(name=role.value))
        return user

    return make


def test_a_technician_prints_the_qr_codes_of_a_station(client, staff_user, online_station, settings):
    settings.CMS_PORTAL_URL = "https://charge.example.com"
    Connector.objects.create(station=online_station, connector_id=2, status="Available")
    client.force_login(staff_user(Role.TECHNICIAN))
    response = client.get(reverse("charging:qr_station", args=["PAGE-1"]))
    content = response.content.decode()
    assert response.status_code == 200
    assert content.count("<svg") == 2
    for connector_id in (1, 2):
        assert f"https://charge.example.com/c/PAGE-1/{connector_id}/" in content
    assert "Harbour · connector 2" in content


def test_a_site_sheet_holds_its_stations_and_says_which_have_not_reported_connectors(
    client, staff_user, online_station, make_station
):
    site = Site.objects.create(name="Harbour car park")
    online_station.site = site
    online_station.save()
    make_station(ocpp_id="PAGE-2", site=site)  # never connected: no connectors known
    make_station(ocpp_id="ELSEWHERE")
    client.force_login(staff_user(Role.OPERATOR_ADMIN))
    content = client.get(reverse("charging:qr_site", args=[site.pk])).content.decode()
    assert content.count("<svg") == 1 and "http://testserver/c/PAGE-1/1/" in content
    assert "PAGE-2 has not reported its connectors yet" in content
    assert "ELSEWHERE" not in content
    index = client.get(reverse("charging:qr_index")).content.decode()
    assert reverse("charging:qr_site", args=[site.pk]) in index and "ELSEWHERE" in index


def test_qr_sheets_are_for_operator_staff_only(client, staff_user, driver, online_station):
    url = reverse("charging:qr_station", args=["PAGE-1"])
    assert client.get(url)["Location"].startswith(reverse("account_login"))
    client.force_login(driver)
    assert client.get(url).status_code == 403
    client.force_login(staff_user(Role.FINANCE))
    assert client.get(url).status_code == 403
    assert client.get(reverse("charging:qr_index")).status_code == 403
    client.force_login(staff_user(Role.TECHNICIAN))
    assert client.get(reverse("charging:qr_station", args=["NOPE"])).status_code == 404

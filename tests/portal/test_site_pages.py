"""The operator's sites: the list with station counts and the share online, creating and editing a site."""

import pytest

from stations.models import Site

STAFF = ["operator_admin", "technician", "finance", "analyst"]


@pytest.mark.parametrize("role", [*STAFF, "driver"])
def test_every_staff_role_reads_the_sites_and_a_driver_gets_403(client_as, network, role):
    assert client_as(role).get("/operator/sites/").status_code == (200 if role in STAFF else 403)


def test_the_site_list_counts_stations_and_those_online(client_as, network):
    Site.objects.create(name="Empty lot")
    response = client_as("analyst").get("/operator/sites/")
    counts = {site.name: (site.station_count, site.online_count) for site in response.context["sites"]}
    assert counts == {"Depot": (2, 2), "Town": (1, 0), "Empty lot": (0, 0)}
    html = response.content.decode()
    assert "(100 %)" in html and "(0 %)" in html
    assert "New site" not in html  # analysts change nothing


def test_creating_and_editing_a_site(client_as, db):
    client = client_as("technician")
    assert client.get("/operator/sites/new/").status_code == 200
    response = client.post("/operator/sites/new/", {"name": "Harbour", "address": "Kai 1", "timezone": "Europe/Oslo"})
    assert response.status_code == 302 and response["Location"] == "/operator/sites/"
    site = Site.objects.get(name="Harbour")
    assert (site.address, site.timezone) == ("Kai 1", "Europe/Oslo")
    assert client.get(f"/operator/sites/{site.pk}/edit/").status_code == 200
    client.post(f"/operator/sites/{site.pk}/edit/", {"name": "Harbour north", "address": "", "timezone": "UTC"})
    site.refresh_from_db()
    assert (site.name, site.address, site.timezone) == ("Harbour north", "", "UTC")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "timezone": "UTC"}, "This field is required."),
        ({"name": "Depot", "timezone": "UTC"}, "already exists"),
        ({"name": "Moon", "timezone": "Mars/Olympus"}, "Not a time zone we know"),
        ({"name": "x" * 121, "timezone": "UTC"}, "at most 120"),
    ],
)
def test_bad_site_input_gets_a_form_message(client_as, network, data, message):
    response = client_as("operator_admin").post("/operator/sites/new/", data)
    assert response.status_code == 400 and message in response.content.decode()
    assert Site.objects.count() == 2


@pytest.mark.parametrize("role", ["finance", "analyst", "driver"])
def test_readers_may_not_create_or_edit_sites(client_as, network, role):
    client = client_as(role)
    assert client.post("/operator/sites/new/", {"name": "Sneaky", "timezone": "UTC"}).status_code == 403
    assert (
        client.post(f"/operator/sites/{network.town.pk}/edit/", {"name": "Renamed", "timezone": "UTC"}).status_code
        == 403
    )
    assert set(Site.objects.values_list("name", flat=True)) == {"Depot", "Town"}


def test_an_unknown_site_is_404(client_as, db):
    assert client_as("technician").get("/operator/sites/424242/edit/").status_code == 404

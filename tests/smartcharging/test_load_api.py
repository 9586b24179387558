"""Limits through the API and the portal: a change is applied at once (the stations hold their new profiles when the
answer comes), bad input is a 400 with the field named, and only the roles that may change limits do."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from smartcharging.models import ConnectorAllocation, LimitPeriod, LoadGroup, LoadGroupStation
from stations.models import Site
from tests.portal.support import make_staff
from tests.smartcharging.conftest import connected, start_session

pytestmark = pytest.mark.django_db(transaction=True)


def api_as(django_user_model, role: str) -> APIClient:
    client = APIClient()
    user = make_staff(django_user_model, role)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def portal_as(django_user_model, role: str, email: str | None = None) -> Client:
    client = Client()
    client.force_login(make_staff(django_user_model, role, email=email))
    return client


def later(hours: int) -> str:
    """The site's local hour ``hours`` from now, as a period bound."""
    return (datetime.now(ZoneInfo(Site._meta.get_field("timezone").default)) + timedelta(hours=hours)).strftime("%H:00")


def limit_form(limit: str) -> dict:
    return {"limit": limit, "limit_unit": "A", "phases": 3, "voltage": 230}


@pytest.fixture(autouse=True)
def _short_response_timeout(settings):
    settings.CMS_OCPP_RESPONSE_TIMEOUT = 5


@pytest.fixture
def admin_api(django_user_model):
    return api_as(django_user_model, "operator_admin")


async def test_a_limit_set_and_lowered_through_the_api_is_held_by_the_stations_when_the_answer_comes(
    daphne_server, site, tokens, make_station, admin_api
):
    await sync_to_async(make_station)("API-16", site=site)
    await sync_to_async(make_station)("API-201", site=site)
    post, patch = sync_to_async(admin_api.post), sync_to_async(admin_api.patch)
    async with connected(daphne_server, "API-16") as cp16, connected(daphne_server, "API-201", "2.0.1") as cp201:
        await start_session(cp16, 1, "TAG-1")
        await start_session(cp201, 1, "TAG-2")

        created = await post(
            "/api/load-groups/",
            {
                "site": site.pk,
                "name": "Grid",
                "limit": "32",
                "periods": [{"starts": later(6), "ends": later(8), "limit": "63"}],  # not now, whatever the hour
            },
            format="json",
        )
        assert created.status_code == 201, created.content
        assert (cp16.tx_limit(1), cp201.tx_limit(1)) == (16.0, 16.0)
        # The default profile: the lowest limit of any period (32 A) over the two connectors.
        default = cp201.held[(0, "TxDefaultProfile")]["charging_schedule"][0]["charging_schedule_period"][0]
        assert float(default["limit"]) == 16.0

        group_id = created.json()["id"]
        lowered = await patch(f"/api/load-groups/{group_id}/", {"limit": "20"}, format="json")
        assert lowered.status_code == 200, lowered.content
        assert (cp16.tx_limit(1), cp201.tx_limit(1)) == (10.0, 10.0)
        assert (
            float(cp16.held[(0, "TxDefaultProfile")]["charging_schedule"]["charging_schedule_period"][0]["limit"])
            == 10.0
        )

        shares = await sync_to_async(admin_api.get)(f"/api/load-groups/{group_id}/allocations/")
        assert [(row["station"], row["current_a"], row["state"]) for row in shares.json()] == [
            ("API-16", 10.0, "charging"),
            ("API-201", 10.0, "charging"),
        ]

        # No meter: the building's reserve is taken off the limit, for the sessions and the default profiles alike.
        reserved = await patch(f"/api/load-groups/{group_id}/", {"building_reserve_a": "4"}, format="json")
        assert reserved.status_code == 200 and reserved.json()["building_reserve_a"] == "4.0", reserved.content
        assert (cp16.tx_limit(1), cp201.tx_limit(1)) == (8.0, 8.0)
        default = cp201.held[(0, "TxDefaultProfile")]["charging_schedule"][0]["charging_schedule_period"][0]
        assert float(default["limit"]) == 8.0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"limit": "-1"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"limit_unit": "MW"}, "limit_unit"),
        ({"phases": 2}, "phases"),
        ({"building_reserve_a": "-1"}, "building_reserve_a"),
        ({"meter_source": "modbus"}, "meter_host"),
        ({"meter_port": 70000, "meter_source": "modbus", "meter_host": "10.0.0.5"}, "meter_port"),
        ({"periods": [{"starts": "25:00", "ends": "06:00", "limit": "10"}]}, "periods"),
        ({"periods": [{"starts": "22:00", "ends": "06:00", "limit": "-5"}]}, "periods"),
        (
            {
                "periods": [
                    {"starts": "22:00", "ends": "06:00", "limit": "50"},
                    {"starts": "05:00", "ends": "07:00", "limit": "9"},
                ]
            },
            "periods",
        ),
        ({"stations": ["ELSEWHERE"]}, "stations"),
        ({"stations": ["NOBODY"]}, "stations"),
    ],
)
def test_bad_limits_are_refused_with_the_field_named_and_change_nothing(site, make_station, admin_api, change, field):
    make_station("ELSEWHERE", site=Site.objects.create(name="Harbour"))
    group = LoadGroup.objects.create(site=site, name="Grid", limit=40)
    answer = admin_api.patch(f"/api/load-groups/{group.pk}/", change, format="json")
    assert answer.status_code == 400, answer.content
    assert field in answer.json()
    group.refresh_from_db()
    assert (group.limit, group.limit_unit, group.meter_source) == (40, "A", "")
    assert not LimitPeriod.objects.exists() and not LoadGroupStation.objects.exists()


def test_a_site_has_one_grid_connection_and_a_feeder_stays_inside_its_own_site(site, admin_api):
    grid = LoadGroup.objects.create(site=site, name="Grid", limit=40)
    second = admin_api.post("/api/load-groups/", {"site": site.pk, "name": "Again", "limit": "10"}, format="json")
    assert second.status_code == 400 and "parent" in second.json()
    other = Site.objects.create(name="Harbour")
    foreign = admin_api.post(
        "/api/load-groups/", {"site": other.pk, "parent": grid.pk, "name": "F", "limit": "10"}, format="json"
    )
    assert foreign.status_code == 400 and "parent" in foreign.json()
    feeder = admin_api.post(
        "/api/load-groups/", {"site": site.pk, "parent": grid.pk, "name": "Feeder A", "limit": "16"}, format="json"
    )
    assert feeder.status_code == 201, feeder.content
    cycle = admin_api.patch(f"/api/load-groups/{grid.pk}/", {"parent": feeder.json()["id"]}, format="json")
    assert cycle.status_code == 400 and "parent" in cycle.json()


def test_a_feeder_above_its_parents_limit_is_refused_but_a_grid_limit_lowered_below_a_feeder_is_not(site, admin_api):
    grid = LoadGroup.objects.create(site=site, name="Grid", limit=40)
    feeder = {"site": site.pk, "parent": grid.pk, "name": "Hall"}
    too_large = admin_api.post("/api/load-groups/", feeder | {"limit": "40.1"}, format="json")
    assert too_large.status_code == 400 and "above the limit of Grid (40.0 A per phase)" in str(
        too_large.json()["limit"]
    )
    # 30 kW on three phases of 230 V: 43.5 A per phase.
    in_kw = admin_api.post("/api/load-groups/", feeder | {"limit": "30", "limit_unit": "kW"}, format="json")
    assert in_kw.status_code == 400 and "43.5 A per phase" in str(in_kw.json()["limit"])
    assert not LoadGroup.objects.filter(name="Hall").exists()
    hall = admin_api.post("/api/load-groups/", feeder | {"limit": "40"}, format="json")
    assert hall.status_code == 201, hall.content
    # The grid limit lowered for a while: the feeder's limit never binds meanwhile, and the feeder stays editable.
    lowered = admin_api.patch(f"/api/load-groups/{grid.pk}/", {"limit": "25"}, format="json")
    assert lowered.status_code == 200, lowered.content
    renamed = admin_api.patch(f"/api/load-groups/{hall.json()['id']}/", {"name": "Hall A"}, format="json")
    assert renamed.status_code == 200, renamed.content
    raised = admin_api.patch(f"/api/load-groups/{hall.json()['id']}/", {"limit": "32"}, format="json")
    assert raised.status_code == 400 and "limit" in raised.json()
    assert LoadGroup.objects.get(name="Hall A").limit == 40


def test_a_station_in_one_feeder_is_refused_by_another(site, make_station, admin_api):
    station = make_station("FEED-1", site=site)
    grid = LoadGroup.objects.create(site=site, name="Grid", limit=40)
    hall = LoadGroup.objects.create(site=site, parent=grid, name="Hall", limit=20)
    LoadGroupStation.objects.create(station=station, group=hall)
    answer = admin_api.post(
        "/api/load-groups/",
        {"site": site.pk, "parent": grid.pk, "name": "Yard", "limit": "16", "stations": ["FEED-1"]},
        format="json",
    )
    assert answer.status_code == 400 and "stations" in answer.json()
    assert LoadGroupStation.objects.get(station=station).group_id == hall.pk


def test_a_feeder_takes_its_stations_and_the_group_list_shows_them(site, make_station, admin_api):
    make_station("FEED-1", site=site)
    grid = LoadGroup.objects.create(site=site, name="Grid", limit=40)
    answer = admin_api.post(
        "/api/load-groups/",
        {"site": site.pk, "parent": grid.pk, "name": "Feeder A", "limit": "16", "stations": ["FEED-1"]},
        format="json",
    )
    assert answer.status_code == 201, answer.content
    listed = admin_api.get(f"/api/load-groups/?site={site.pk}").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [(row["name"], row["stations"]) for row in rows] == [("Grid", []), ("Feeder A", ["FEED-1"])]


@pytest.mark.parametrize(
    ("role", "read", "write"),
    [
        ("operator_admin", 200, 200),
        ("technician", 200, 200),
        ("analyst", 200, 403),
        ("finance", 403, 403),
    ],
)
def test_limits_are_the_technicians_and_admins_to_change_and_analysts_to_read(
    site, django_user_model, role, read, write
):
    group = LoadGroup.objects.create(site=site, name="Grid", limit=40)
    api = api_as(django_user_model, role)
    assert api.get("/api/load-groups/").status_code == read
    assert api.patch(f"/api/load-groups/{group.pk}/", {"limit": "30"}, format="json").status_code == write
    portal = portal_as(django_user_model, role, email=f"portal-{role}@example.com")
    assert portal.get(f"/operator/load/sites/{site.pk}/").status_code == read
    posted = portal.post(
        f"/operator/load/sites/{site.pk}/", {"limit": "25", "limit_unit": "A", "phases": 3, "voltage": 230}
    )
    assert posted.status_code == (302 if write == 200 else 403)
    group.refresh_from_db()
    assert group.limit == {200: 25, 403: 40}[write]


def test_anonymous_callers_are_refused(site):
    assert APIClient().get("/api/load-groups/").status_code == 401
    assert Client().get(f"/operator/load/sites/{site.pk}/").status_code == 302


def test_the_site_page_shows_the_load_the_shares_and_the_queue(site, make_station, django_user_model):
    from sessions.models import Transaction
    from smartcharging import load

    station = make_station("PAGE-1", site=site)
    LoadGroup.objects.create(site=site, name="Grid", limit=13)
    from django.utils import timezone

    for connector_id in (1, 2, 3):
        Transaction.objects.create(station=station, connector_id=connector_id, started_at=timezone.now(), id_tag="T")
    load.site_rebalance(site_id=site.pk)  # the station is offline: it is counted at its worst case
    assert ConnectorAllocation.objects.count() == 3

    page = portal_as(django_user_model, "analyst").get(f"/operator/load/sites/{site.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Load against the limit" in html and 'id="load-out-of-pool"' in html
    assert 'id="limit-form"' not in html  # analysts read
    tech_page = portal_as(django_user_model, "technician").get("/operator/load/")
    assert site.name in tech_page.content.decode() and "/operator/load/" in tech_page.content.decode()


def test_a_bad_limit_from_the_portal_is_shown_on_the_form(site, django_user_model):
    portal = portal_as(django_user_model, "technician")
    answer = portal.post(
        f"/operator/load/sites/{site.pk}/", {"limit": "-3", "limit_unit": "A", "phases": 3, "voltage": 230}
    )
    assert answer.status_code == 400
    assert not LoadGroup.objects.exists()

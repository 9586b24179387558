"""The operator's load pages: a site put under load management, its feeders with their stations and time-of-day
limits, its building meter and connectors' ranges, each changed with a form and applied at once; bad input is a
form message (400), never a 500; only technicians and operator admins change anything."""

from datetime import time, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from sessions.models import Transaction
from smartcharging import limits, load
from smartcharging.models import (
    ConnectorAllocation,
    ConnectorLoadSettings,
    EVChargingNeeds,
    LoadGroup,
    SiteLoadSample,
    StationLoadState,
)
from stations.models import Site, Station
from tests.portal.support import make_staff

WRITERS = ["operator_admin", "technician"]


def portal(django_user_model, role: str) -> Client:
    client = Client()
    client.force_login(make_staff(django_user_model, role))
    return client


@pytest.fixture
def tech(django_user_model):
    return portal(django_user_model, "technician")


@pytest.fixture
def grid(site):
    return LoadGroup.objects.create(site=site, name="Grid connection", limit=63)


@pytest.fixture
def stations(site, make_station):
    return [make_station(f"LOAD-{number}", site=site) for number in (1, 2, 3)]


def group_form(name="Hall", parent=None, limit="32", stations=(), periods=(), **extra) -> dict:
    """The group page's POST: its fields, then ``periods`` as (starts, ends, limit[, delete]) rows."""
    data = {"name": name, "limit": limit, "limit_unit": "A", "phases": 3, "voltage": 230, **extra}
    if parent is not None:
        data["parent"] = parent.pk
    if stations:
        data["stations"] = [station.pk for station in stations]
    data |= {"periods-TOTAL_FORMS": len(periods), "periods-INITIAL_FORMS": 0}
    for index, (starts, ends, period_limit, *delete) in enumerate(periods):
        data |= {
            f"periods-{index}-starts": starts,
            f"periods-{index}-ends": ends,
            f"periods-{index}-limit": period_limit,
        }
        if delete:
            data[f"periods-{index}-DELETE"] = "on"
    return data


def meter_form(**fields) -> dict:
    return {"meter_source": "", "meter_host": "", "meter_port": 502, "meter_unit": 1, "meter_register": 0} | fields


def connector_form(station, connector_id=1, low="6", high="16", phases=3, priority=0) -> dict:
    fields = {
        "station": station.pk,
        "connector_id": connector_id,
        "min_current_a": low,
        "max_current_a": high,
        "phases": phases,
        "priority": priority,
    }
    return {f"connector-{name}": value for name, value in fields.items()}


# Permissions


@pytest.mark.parametrize("role", ["analyst", "finance", "driver"])
def test_roles_that_may_not_change_limits_get_403_on_every_change(site, grid, stations, django_user_model, role):
    client = portal(django_user_model, role)
    feeder = LoadGroup.objects.create(site=site, parent=grid, name="Hall", limit=20)
    other = Site.objects.create(name="Harbour")
    ranges = ConnectorLoadSettings.objects.create(station=stations[0], connector_id=1)
    refused = [
        client.get(f"/operator/load/sites/{site.pk}/feeders/new/"),
        client.post(f"/operator/load/sites/{site.pk}/feeders/new/", group_form(parent=grid)),
        client.get(f"/operator/load/groups/{feeder.pk}/"),
        client.post(f"/operator/load/groups/{feeder.pk}/", group_form(parent=grid, limit="1")),
        client.post(f"/operator/load/groups/{feeder.pk}/delete/"),
        client.post(f"/operator/load/groups/{grid.pk}/delete/"),
        client.post(f"/operator/load/sites/{site.pk}/meter/", meter_form(meter_source="modbus", meter_host="m")),
        client.post(f"/operator/load/sites/{site.pk}/connectors/", connector_form(stations[1])),
        client.post(f"/operator/load/connectors/{ranges.pk}/delete/"),
        client.post(
            "/operator/load/", {"site": other.pk, "limit": "40", "limit_unit": "A", "phases": 3, "voltage": 230}
        ),
    ]
    assert [answer.status_code for answer in refused] == [403] * len(refused)
    assert LoadGroup.objects.count() == 2 and LoadGroup.objects.get(pk=feeder.pk).limit == 20
    assert grid.__class__.objects.get(pk=grid.pk).meter_source == ""
    assert ConnectorLoadSettings.objects.count() == 1


def test_analysts_read_the_pages_without_the_forms(site, grid, django_user_model):
    client = portal(django_user_model, "analyst")
    for path in ("/operator/load/", f"/operator/load/sites/{site.pk}/"):
        answer = client.get(path)
        assert answer.status_code == 200
        html = answer.content.decode()
        assert "meter-form" not in html and "connector-form" not in html and "Add a feeder" not in html


def test_anonymous_visitors_are_sent_to_log_in(site, grid):
    for path in (f"/operator/load/sites/{site.pk}/feeders/new/", f"/operator/load/groups/{grid.pk}/"):
        answer = Client().get(path)
        assert answer.status_code == 302 and "/login/" in answer["Location"]
    assert Client().post(f"/operator/load/groups/{grid.pk}/delete/").status_code == 302
    assert LoadGroup.objects.filter(pk=grid.pk).exists()


@pytest.mark.parametrize("role", WRITERS)
def test_unknown_sites_groups_and_ranges_are_404(db, django_user_model, role):
    client = portal(django_user_model, role)
    assert client.get("/operator/load/sites/4242/feeders/new/").status_code == 404
    assert client.get("/operator/load/groups/4242/").status_code == 404
    assert client.post("/operator/load/groups/4242/delete/").status_code == 404
    assert client.post("/operator/load/connectors/4242/delete/").status_code == 404
    assert client.post("/operator/load/sites/4242/meter/", meter_form()).status_code == 404


def test_a_feeder_needs_the_site_under_load_management_first(site, tech):
    assert tech.get(f"/operator/load/sites/{site.pk}/feeders/new/").status_code == 404
    assert tech.post(f"/operator/load/sites/{site.pk}/meter/", meter_form()).status_code == 404


# The site


def test_a_site_is_put_under_load_management_from_the_list(site, tech):
    page = tech.get("/operator/load/")
    assert 'id="manage-form"' in page.content.decode()
    answer = tech.post(
        "/operator/load/", {"site": site.pk, "limit": "50", "limit_unit": "kW", "phases": 3, "voltage": 230}
    )
    assert answer.status_code == 302 and answer["Location"] == f"/operator/load/sites/{site.pk}/"
    grid = LoadGroup.objects.get(site=site, parent=None)
    assert (grid.limit, grid.limit_unit, grid.name) == (50, "kW", "Grid connection")
    # A managed site is not offered again.
    again = tech.post(
        "/operator/load/", {"site": site.pk, "limit": "5", "limit_unit": "A", "phases": 3, "voltage": 230}
    )
    assert again.status_code == 400 and "Select a valid choice" in again.content.decode()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"limit": "-1"}, "greater than or equal to 0"),
        ({"limit": "lots"}, "Enter a number"),
        ({"voltage": "900"}, "100 to 400 V"),
        ({"phases": "2"}, "Select a valid choice"),
    ],
)
def test_bad_input_when_putting_a_site_under_management_is_a_form_message(site, tech, fields, message):
    data = {"site": site.pk, "limit": "40", "limit_unit": "A", "phases": 3, "voltage": 230} | fields
    answer = tech.post("/operator/load/", data)
    assert answer.status_code == 400 and message in answer.content.decode()
    assert not LoadGroup.objects.exists()


def test_a_new_limit_is_applied_at_once(site, stations, tech):
    """The save shares the site again before the answer: the rebalance records the session's share and the site's
    sample under the new limit (the station is offline, so nothing is sent)."""
    Transaction.objects.create(station=stations[0], connector_id=1, started_at=timezone.now(), id_tag="T")
    tech.post(f"/operator/load/sites/{site.pk}/", {"limit": "40", "limit_unit": "A", "phases": 3, "voltage": 230})
    assert ConnectorAllocation.objects.filter(station=stations[0], connector_id=1).exists()
    assert SiteLoadSample.objects.latest("at").limit_a == 40
    grid = LoadGroup.objects.get(site=site, parent=None)
    SiteLoadSample.objects.update(at=timezone.now() - timedelta(minutes=5))  # the next rebalance samples again
    answer = tech.post(
        f"/operator/load/groups/{grid.pk}/", group_form(name="Grid", limit="40", periods=[("00:00", "00:00", "16")])
    )
    assert answer.status_code == 302
    assert SiteLoadSample.objects.latest("at").limit_a == 16  # an all-day period holds from now on


def test_ending_load_management_removes_the_groups_and_shares(site, grid, stations, tech):
    feeder = LoadGroup.objects.create(site=site, parent=grid, name="Hall", limit=20)
    Transaction.objects.create(station=stations[0], connector_id=1, started_at=timezone.now(), id_tag="T")
    load.site_rebalance(site_id=site.pk)
    answer = tech.post(f"/operator/load/groups/{grid.pk}/delete/")
    assert answer.status_code == 302 and answer["Location"] == "/operator/load/"
    assert not LoadGroup.objects.filter(pk__in=[grid.pk, feeder.pk]).exists()
    assert not ConnectorAllocation.objects.exists()
    assert tech.get(f"/operator/load/sites/{site.pk}/").status_code == 200  # a page to start again


# Feeders and periods


def test_a_feeder_with_stations_and_a_night_period_is_built_and_shown(site, grid, stations, tech):
    assert tech.get(f"/operator/load/sites/{site.pk}/feeders/new/").status_code == 200
    data = group_form(
        name="Car park", parent=grid, limit="20", stations=stations[:2], periods=[("22:00", "06:00", "32")]
    )
    answer = tech.post(f"/operator/load/sites/{site.pk}/feeders/new/", data)
    assert answer.status_code == 302 and answer["Location"] == f"/operator/load/sites/{site.pk}/"
    feeder = LoadGroup.objects.get(name="Car park")
    assert (feeder.parent_id, feeder.limit) == (grid.pk, 20)
    assert sorted(p.station.ocpp_id for p in feeder.placements.all()) == ["LOAD-1", "LOAD-2"]
    assert [(p.starts, p.ends, p.limit) for p in feeder.periods.all()] == [(time(22), time(6), 32)]
    html = tech.get(f"/operator/load/sites/{site.pk}/").content.decode()
    assert 'data-group="Car park"' in html and "22:00-06:00: 32.0 A" in html and "LOAD-1, LOAD-2" in html


def test_a_feeder_inside_a_feeder_and_its_periods_edited_and_removed(site, grid, stations, tech):
    hall = LoadGroup.objects.create(site=site, parent=grid, name="Hall", limit=40)
    tech.post(f"/operator/load/sites/{site.pk}/feeders/new/", group_form(name="Row A", parent=hall, limit="16"))
    row = LoadGroup.objects.get(name="Row A")
    assert row.parent_id == hall.pk
    tech.post(
        f"/operator/load/groups/{row.pk}/",
        group_form(name="Row A", parent=hall, periods=[("01:00", "05:00", "10"), ("12:00", "13:00", "8")]),
    )
    assert row.periods.count() == 2
    # The page offers what is saved; the operator removes one period and changes the other.
    page = tech.get(f"/operator/load/groups/{row.pk}/")
    assert page.context["formset"].initial == [
        {"starts": time(1), "ends": time(5), "limit": Decimal("10.0")},
        {"starts": time(12), "ends": time(13), "limit": Decimal("8.0")},
    ]
    data = group_form(
        name="Row A", parent=hall, limit="16", periods=[("01:00", "06:00", "12"), ("12:00", "13:00", "8", "delete")]
    )
    data["periods-INITIAL_FORMS"] = 2
    assert tech.post(f"/operator/load/groups/{row.pk}/", data).status_code == 302
    assert [(p.starts, p.ends, p.limit) for p in row.periods.all()] == [(time(1), time(6), 12)]
    # The parent cannot be moved inside its own child: that choice is not offered.
    answer = tech.post(f"/operator/load/groups/{hall.pk}/", group_form(name="Hall", parent=row))
    assert answer.status_code == 400 and "Select a valid choice" in answer.content.decode()


def test_removing_a_feeder_puts_its_stations_below_its_parent(site, grid, stations, tech):
    hall = LoadGroup.objects.create(site=site, parent=grid, name="Hall", limit=40)
    limits.load_group_change(group=hall, stations=stations[:1])
    answer = tech.post(f"/operator/load/groups/{hall.pk}/delete/")
    assert answer.status_code == 302 and answer["Location"] == f"/operator/load/sites/{site.pk}/"
    assert not LoadGroup.objects.filter(pk=hall.pk).exists() and LoadGroup.objects.filter(pk=grid.pk).exists()
    assert not hasattr(type(stations[0]).objects.get(pk=stations[0].pk), "load_placement")


@pytest.mark.parametrize(
    ("fields", "periods", "message"),
    [
        ({"limit": "-5"}, [], "greater than or equal to 0"),
        ({"name": ""}, [], "This field is required"),
        ({}, [("22:00", "06:00", "-1")], "greater than or equal to 0"),
        ({}, [("22:00", "", "10")], "This field is required"),
        ({}, [("25:00", "06:00", "10")], "Enter a valid time"),
        ({}, [("22:00", "06:00", "10"), ("05:00", "07:00", "20")], "Periods overlap: 22:00-06:00 and 05:00-07:00"),
        ({}, [("08:00", "12:00", "10"), ("11:00", "14:00", "20")], "Periods overlap"),
        ({}, [("08:00", "08:00", "10"), ("11:00", "14:00", "20")], "Periods overlap"),
        ({"voltage": "50"}, [], "100 to 400 V"),
        ({"limit": "63.1"}, [], "above the limit of Grid connection (63.0 A per phase)"),
    ],
)
def test_bad_feeder_input_is_a_form_message_and_changes_nothing(site, grid, stations, tech, fields, periods, message):
    hall = LoadGroup.objects.create(site=site, parent=grid, name="Hall", limit=40)
    answer = tech.post(f"/operator/load/groups/{hall.pk}/", group_form(parent=grid, periods=periods) | fields)
    assert answer.status_code == 400 and message in answer.content.decode()
    hall.refresh_from_db()
    assert (hall.name, hall.limit, hall.voltage, hall.periods.count()) == ("Hall", 40, 230, 0)
    new = tech.post(
        f"/operator/load/sites/{site.pk}/feeders/new/", group_form(name="New", parent=grid, periods=periods) | fields
    )
    assert new.status_code == 400 and LoadGroup.objects.count() == 2


def test_a_group_form_without_its_periods_management_data_is_refused_not_a_crash(site, grid, tech):
    data = {key: value for key, value in group_form(parent=grid).items() if not key.startswith("periods-")}
    answer = tech.post(f"/operator/load/sites/{site.pk}/feeders/new/", data)
    assert answer.status_code == 400 and "ManagementForm data is missing" in answer.content.decode()
    assert LoadGroup.objects.count() == 1


def test_a_station_is_in_one_feeder_only(site, grid, stations, tech):
    hall = LoadGroup.objects.create(site=site, parent=grid, name="Hall", limit=40)
    limits.load_group_change(group=hall, stations=stations[:1])
    answer = tech.post(
        f"/operator/load/sites/{site.pk}/feeders/new/", group_form(name="Yard", parent=grid, stations=stations[:2])
    )
    assert answer.status_code == 400
    assert "Already in another group: LOAD-1 (in Hall)" in answer.content.decode()
    assert not LoadGroup.objects.filter(name="Yard").exists()
    assert stations[0].__class__.objects.get(pk=stations[0].pk).load_placement.group_id == hall.pk
    # Taken out of Hall first, it moves.
    tech.post(f"/operator/load/groups/{hall.pk}/", group_form(name="Hall", parent=grid, stations=[]))
    assert (
        tech.post(
            f"/operator/load/sites/{site.pk}/feeders/new/", group_form(name="Yard", parent=grid, stations=stations[:2])
        ).status_code
        == 302
    )


def test_a_station_of_another_site_is_not_offered(site, grid, make_station, tech):
    stranger = make_station("FAR-1", site=Site.objects.create(name="Far"))
    answer = tech.post(f"/operator/load/sites/{site.pk}/feeders/new/", group_form(parent=grid, stations=[stranger]))
    assert answer.status_code == 400 and "Select a valid choice" in answer.content.decode()


def test_a_parent_at_another_site_is_not_offered(site, grid, tech):
    far_grid = LoadGroup.objects.create(site=Site.objects.create(name="Far"), name="Far grid", limit=10)
    answer = tech.post(f"/operator/load/sites/{site.pk}/feeders/new/", group_form(parent=far_grid))
    assert answer.status_code == 400 and not LoadGroup.objects.filter(name="Hall").exists()


# The building meter


def test_the_site_meter_is_set_refused_without_its_host_and_cleared(site, grid, stations, tech):
    path = f"/operator/load/sites/{site.pk}/meter/"
    answer = tech.post(path, meter_form(meter_source="modbus"))
    assert answer.status_code == 400 and "A Modbus TCP site meter needs its host." in answer.content.decode()
    answer = tech.post(path, meter_form(meter_source="modbus", meter_host="10.0.0.9", meter_port=70000))
    assert answer.status_code == 400 and "A TCP port is 1 to 65535." in answer.content.decode()
    answer = tech.post(path, meter_form(meter_source="station"))
    assert answer.status_code == 400 and "grid meter measures the building" in answer.content.decode()
    grid.refresh_from_db()
    assert grid.meter_source == ""
    answer = tech.post(
        path,
        meter_form(meter_source="modbus", meter_host="meter.local", meter_port=1502, meter_unit=3, meter_register=40),
    )
    assert answer.status_code == 302
    grid.refresh_from_db()
    assert (grid.meter_source, grid.meter_host, grid.meter_port, grid.meter_unit, grid.meter_register) == (
        "modbus",
        "meter.local",
        1502,
        3,
        40,
    )
    assert "Remove the meter" in tech.get(f"/operator/load/sites/{site.pk}/").content.decode()
    LoadGroup.objects.filter(pk=grid.pk).update(building_load_w=4000, building_load_at=timezone.now())
    assert tech.post(path, {"clear": "1"}).status_code == 302
    grid.refresh_from_db()
    assert (grid.meter_source, grid.meter_host, grid.building_load_w) == ("", "", None)


def test_a_stations_grid_meter_is_one_of_the_site(site, grid, stations, make_station, tech):
    path = f"/operator/load/sites/{site.pk}/meter/"
    stranger = make_station("FAR-1", site=Site.objects.create(name="Far"))
    assert tech.post(path, meter_form(meter_source="station", meter_station=stranger.pk)).status_code == 400
    assert tech.post(path, meter_form(meter_source="station", meter_station=stations[2].pk)).status_code == 302
    grid.refresh_from_db()
    assert grid.meter_station_id == stations[2].pk


# Connector ranges


def test_a_connectors_range_is_set_replaced_and_removed(site, grid, stations, tech):
    path = f"/operator/load/sites/{site.pk}/connectors/"
    assert tech.post(path, connector_form(stations[0], low="8", high="16", phases=1)).status_code == 302
    assert tech.post(path, connector_form(stations[0], low="6", high="20", priority=5)).status_code == 302
    ranges = ConnectorLoadSettings.objects.get()
    assert (ranges.min_current_a, ranges.max_current_a, ranges.phases, ranges.priority) == (6, 20, 3, 5)
    html = tech.get(f"/operator/load/sites/{site.pk}/").content.decode()
    assert "LOAD-1/1" in html and "Use defaults" in html
    assert tech.post(f"/operator/load/connectors/{ranges.pk}/delete/").status_code == 302
    assert not ConnectorLoadSettings.objects.exists()


def test_a_connectors_range_applies_at_once(site, grid, stations, tech):
    Transaction.objects.create(station=stations[0], connector_id=1, started_at=timezone.now(), id_tag="T")
    load.site_rebalance(site_id=site.pk)
    before = ConnectorAllocation.objects.get().current_a
    tech.post(f"/operator/load/sites/{site.pk}/connectors/", connector_form(stations[0], low="6", high="10"))
    after = ConnectorAllocation.objects.get().current_a
    assert before > 10 and after == 10  # offline, it is counted at its (new) maximum


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"low": "16", "high": "10"}, "The maximum is below the minimum."),
        ({"low": "-1"}, "greater than or equal to 0"),
        ({"connector_id": 0}, "greater than or equal to 1"),
        ({"phases": 2}, "Select a valid choice"),
        ({"high": "abc"}, "Enter a number"),
    ],
)
def test_bad_connector_ranges_are_form_messages(site, grid, stations, tech, fields, message):
    answer = tech.post(f"/operator/load/sites/{site.pk}/connectors/", connector_form(stations[0], **fields))
    assert answer.status_code == 400 and message in answer.content.decode()
    assert not ConnectorLoadSettings.objects.exists()


def test_a_connector_of_another_site_is_not_offered(site, grid, make_station, tech):
    stranger = make_station("FAR-1", site=Site.objects.create(name="Far"))
    answer = tech.post(f"/operator/load/sites/{site.pk}/connectors/", connector_form(stranger))
    assert answer.status_code == 400 and not ConnectorLoadSettings.objects.exists()


# The overlap rule, for any two periods


minutes = st.integers(min_value=0, max_value=24 * 60 - 1).map(lambda m: time(m // 60, m % 60))


@given(a=st.tuples(minutes, minutes), b=st.tuples(minutes, minutes))
def test_two_periods_overlap_exactly_when_a_minute_of_the_day_is_in_both(a, b):
    """Checked against ``load``'s own reading of a period, minute by minute."""
    first, second = {"starts": a[0], "ends": a[1]}, {"starts": b[0], "ends": b[1]}
    shared = any(
        load._within(time(m // 60, m % 60), *a) and load._within(time(m // 60, m % 60), *b) for m in range(24 * 60)
    )
    assert limits.periods_overlap(first, second) is shared
    assert limits.periods_overlap(second, first) is shared


def test_periods_that_touch_do_not_overlap():
    night, day = {"starts": time(22), "ends": time(6)}, {"starts": time(6), "ends": time(22)}
    limits.limit_periods_check([night, day])  # raises when they overlap


# What the site page shows


def test_the_site_page_shows_each_share_and_draw_the_queue_in_order_and_the_load_over_time(
    site, grid, stations, django_user_model
):
    now = timezone.now()
    sessions = {
        key: Transaction.objects.create(
            station=stations[0],
            connector_id=key,
            started_at=now - timedelta(minutes={1: 10, 2: 8, 3: 1}[key]),
            id_tag="T",
        )
        for key in (1, 2, 3)
    }
    ConnectorLoadSettings.objects.create(station=stations[0], connector_id=3, priority=5)
    State = ConnectorAllocation.State
    rows = [(1, State.CHARGING, 16.0, 12.5), (2, State.QUEUED, 0.0, None), (3, State.QUEUED, 0.0, None)]
    for connector_id, state, current, drawn in rows:
        ConnectorAllocation.objects.create(
            site=site,
            station=stations[0],
            connector_id=connector_id,
            transaction=sessions[connector_id],
            state=state,
            current_a=current,
            drawn_a=drawn,
            queued_since=now if state == State.QUEUED else None,
        )
    for minutes, allocated in ((30, 10.0), (5, 16.0)):
        SiteLoadSample.objects.create(site=site, at=now - timedelta(minutes=minutes), limit_a=63, allocated_a=allocated)
    page = portal(django_user_model, "analyst").get(f"/operator/load/sites/{site.pk}/")
    charging = page.context["charging"]
    assert [(row.connector_id, row.current_a, row.drawn_a) for row in charging] == [(1, 16.0, 12.5)]
    assert [row.connector_id for row in page.context["queue"]] == [
        3,
        2,
    ]  # connector 3 came last but has the higher priority
    assert page.context["latest"].allocated_a == 16.0
    html = page.content.decode()
    assert "16.0</td>" in html and "12.5</td>" in html and "Load against the limit" in html
    queue = html[html.index('id="load-queue"') :]
    assert queue.index("LOAD-1/3") < queue.index("LOAD-1/2")


def test_the_site_page_shows_each_sessions_needs_and_whether_the_car_or_the_driver_said_them(
    site, grid, stations, django_user_model
):
    now = timezone.now()
    started = now - timedelta(minutes=5)
    sessions = [
        Transaction.objects.create(station=stations[0], connector_id=key, started_at=started, id_tag="T")
        for key in (1, 2, 3)
    ]
    leaving = (now + timedelta(hours=3)).replace(second=0, microsecond=0)
    load.driver_needs_set(session=sessions[0], departure_at=leaving, energy_kwh=Decimal(12))
    EVChargingNeeds.objects.create(
        station=stations[0],
        evse_id=2,
        requested_energy_transfer="AC_three_phase",
        departure_time=leaving + timedelta(hours=1),
        charging_needs={"acChargingParameters": {"energyAmount": 30000}},
    )
    for key, state in ((1, "charging"), (2, "charging"), (3, "queued")):
        ConnectorAllocation.objects.create(
            site=site, station=stations[0], connector_id=key, transaction=sessions[key - 1], state=state, current_a=8
        )
    html = portal(django_user_model, "analyst").get(f"/operator/load/sites/{site.pk}/").content.decode()
    rows = {key: html[html.index(f"LOAD-1/{key}") :].split("</tr>")[0] for key in (1, 2, 3)}
    local = timezone.localtime
    assert f"leaves {local(leaving):%Y-%m-%d %H:%M}" in rows[1] and "12.00 kWh to go" in rows[1]
    assert rows[1].count("(driver)") == 2
    assert f"leaves {local(leaving + timedelta(hours=1)):%Y-%m-%d %H:%M}" in rows[2] and "30.00 kWh to go" in rows[2]
    assert rows[2].count("(car)") == 2
    assert "leaves" not in rows[3] and "—" in rows[3]


# A station load management reaches otherwise: shares as connector defaults, or counted at its maximum


def charging_at(site, station, connector_id=1, state=ConnectorAllocation.State.CHARGING) -> ConnectorAllocation:
    session = Transaction.objects.create(
        station=station, connector_id=connector_id, started_at=timezone.now(), id_tag="T"
    )
    return ConnectorAllocation.objects.create(
        site=site, station=station, connector_id=connector_id, transaction=session, state=state, current_a=10.0
    )


def row_of(html: str, table: str, connector: str) -> str:
    rows = html[html.index(f'id="{table}"') :]
    start = rows.index(f"<td>{connector}")
    return rows[start : rows.index("</tr>", start)]


def test_the_site_page_marks_the_sessions_of_a_station_refusing_txprofiles(site, grid, stations, django_user_model):
    refused_at = timezone.now() - timedelta(hours=1)
    StationLoadState.objects.create(station=stations[0], tx_profile_refused_at=refused_at)
    StationLoadState.objects.create(station=stations[1], failsafe_current_a=10.0)
    charging_at(site, stations[0])
    charging_at(site, stations[1])
    charging_at(site, stations[0], connector_id=2, state=ConnectorAllocation.State.QUEUED)
    html = portal(django_user_model, "analyst").get(f"/operator/load/sites/{site.pk}/").content.decode()
    since = f"(refuses TxProfile since {timezone.localtime(refused_at):%Y-%m-%d %H:%M})"
    for table, connector in (("load-charging", "LOAD-1/1"), ("load-queue", "LOAD-1/2")):
        assert "connector default</span>" in row_of(html, table, connector)
        assert since in row_of(html, table, connector)
    assert "connector default" not in row_of(html, "load-charging", "LOAD-2/1")
    start = html.index('id="load-station-modes"')
    modes = html[start : html.index("</section>", start)]
    assert 'data-station="LOAD-1"' in modes and "LOAD-2" not in modes and since in modes


def test_a_refusal_before_the_stations_last_boot_is_told_as_such(site, grid, stations, django_user_model):
    refused_at = timezone.now() - timedelta(hours=1)
    Station.objects.filter(pk=stations[0].pk).update(last_boot_at=refused_at + timedelta(minutes=5))
    StationLoadState.objects.create(station=stations[0], tx_profile_refused_at=refused_at)
    charging_at(site, stations[0])
    html = portal(django_user_model, "analyst").get(f"/operator/load/sites/{site.pk}/").content.decode()
    row = row_of(html, "load-charging", "LOAD-1/1")
    assert "before its last boot" in row and "refuses TxProfile since" not in row


def test_a_site_without_refusing_stations_shows_no_connector_default(site, grid, stations, django_user_model):
    StationLoadState.objects.create(station=stations[0], failsafe_current_a=10.0)
    charging_at(site, stations[0])
    html = portal(django_user_model, "analyst").get(f"/operator/load/sites/{site.pk}/").content.decode()
    assert "connector default" not in html and 'id="load-station-modes"' not in html


def test_a_station_refusing_txprofiles_and_connector_defaults_is_counted_at_its_maximum(
    site, grid, stations, django_user_model
):
    """Refusing both, it is out of the pool (and alerted): told with the rejection's wording, not as connector
    defaults."""
    now = timezone.now()
    StationLoadState.objects.create(
        station=stations[0], tx_profile_refused_at=now, rejected_at=now, rejected_detail="SetChargingProfile: Rejected"
    )
    charging_at(site, stations[0], state=ConnectorAllocation.State.REJECTED)
    html = portal(django_user_model, "analyst").get(f"/operator/load/sites/{site.pk}/").content.decode()
    row = row_of(html, "load-out-of-pool", "LOAD-1/1")
    assert "Profile rejected: counted at its maximum" in row and "alerted" in row
    assert "a TxProfile and its connector's default alike" in row
    assert "connector default</span>" not in html


def test_the_station_page_tells_its_sessions_shares_go_as_connector_defaults(site, grid, stations, django_user_model):
    refused_at = timezone.now() - timedelta(hours=1)
    StationLoadState.objects.create(station=stations[0], failsafe_current_a=8.0, tx_profile_refused_at=refused_at)
    StationLoadState.objects.create(station=stations[1], failsafe_current_a=8.0)
    client = portal(django_user_model, "technician")

    def card(station) -> str:
        html = client.get(reverse("stations:station", args=[station.ocpp_id])).content.decode()
        if 'id="load-management"' not in html:
            return ""
        start = html.index('id="load-management"')
        return html[start : html.index("</section>", start)]

    refusing = card(stations[0])
    assert "connector default</span>" in refusing and "It refuses TxProfiles" in refusing
    assert f"(refuses TxProfile since {timezone.localtime(refused_at):%Y-%m-%d %H:%M})" in refusing
    assert f'href="/operator/load/sites/{site.pk}/"' in refusing and "8.0 A per phase" in refusing
    assert "as TxProfiles" in card(stations[1]) and "connector default" not in card(stations[1])
    assert card(stations[2]) == ""  # load management never dealt with it


def test_the_admin_lists_and_filters_refusing_stations_read_only(site, stations, admin_client):
    StationLoadState.objects.create(station=stations[0], tx_profile_refused_at=timezone.now())
    state = StationLoadState.objects.create(station=stations[1])
    changelist = "/admin/smartcharging/stationloadstate/"
    refusing = admin_client.get(changelist, {"tx_profile_refused_at__isnull": "False"}).content.decode()
    assert "LOAD-1" in refusing and "LOAD-2" not in refusing
    assert "tx_profile_refused_at" in admin_client.get(changelist).content.decode()  # a column
    change = admin_client.get(f"{changelist}{state.pk}/change/")
    assert change.status_code == 200 and 'name="tx_profile_refused_at' not in change.content.decode()

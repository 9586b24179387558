"""The device-model page of a 2.0.1 station in the operator portal: browsing, who may edit, the SetVariables form
against a real station and the results it shows, the report button."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.test import Client

from accounts.roles import Role
from stations.models import DeviceModelVariable, Station, StationCommand
from stations.services import device_model_report_store
from tests.factories import STATION_PASSWORD
from tests.ocpp.test_v201_variables import DEVICE_MODEL, DeviceModelStation, online
from tests.ocpp_client import ocpp_connection

PAGE = "/operator/stations/CS-1/device-model/"


@pytest.fixture
def staff(db, django_user_model):
    def make(role: Role) -> Client:
        user = django_user_model.objects.create_user(email=f"{role.value}@example.com", password="x", is_staff=True)
        user.groups.add(Group.objects.get_or_create(name=role.value)[0])
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def station(make_station):
    station = make_station("CS-1", ocpp_version="2.0.1")
    device_model_report_store(station=station, request_id=1, report_data=DEVICE_MODEL)
    return station


def value_of(variable: str) -> str:
    return DeviceModelVariable.objects.get(variable_name=variable, variable_instance="").value


@pytest.mark.django_db
def test_the_page_lists_by_component_filters_and_offers_only_writable_values_to_technicians(staff, station):
    technician, analyst = staff(Role.TECHNICIAN), staff(Role.ANALYST)
    page = technician.get(PAGE).content.decode()
    assert "OCPPCommCtrlr" in page and "EVConnectionTimeOut" in page
    assert f'name="value-{DeviceModelVariable.objects.get(variable_name="HeartbeatInterval").pk}"' in page
    read_only = DeviceModelVariable.objects.get(variable_name="AvailabilityState")
    assert f'name="value-{read_only.pk}"' not in page
    assert "Request full report" in page

    filtered = technician.get(PAGE, {"q": "heartbeat"}).content.decode()
    assert "HeartbeatInterval" in filtered and "EVConnectionTimeOut" not in filtered
    by_component = technician.get(PAGE, {"component": "TxCtrlr"}).content.decode()
    assert "EVConnectionTimeOut" in by_component and "HeartbeatInterval" not in by_component

    as_analyst = analyst.get(PAGE).content.decode()
    assert "HeartbeatInterval" in as_analyst and 'name="value-' not in as_analyst
    assert "Request full report" not in as_analyst
    assert analyst.post(PAGE, {"action": "report"}).status_code == 403
    assert staff(Role.FINANCE).get(PAGE).status_code == 200  # finance reads stations
    assert not StationCommand.objects.exists()


@pytest.mark.django_db
def test_the_station_page_links_the_device_model_of_a_2_0_1_station_only(staff, station, make_station):
    make_station("CP-16", ocpp_version="1.6")
    technician = staff(Role.TECHNICIAN)
    assert PAGE in technician.get("/operator/stations/CS-1/").content.decode()
    assert "device-model" not in technician.get("/operator/stations/CP-16/").content.decode()


@pytest.mark.django_db
def test_an_offline_station_gets_nothing_and_the_operator_is_told(staff, station):
    technician = staff(Role.TECHNICIAN)
    heartbeat = DeviceModelVariable.objects.get(variable_name="HeartbeatInterval")
    changed = technician.post(PAGE, {f"value-{heartbeat.pk}": "90"}, follow=True).content.decode()
    assert "Nothing was set: Offline" in changed
    report = technician.post(PAGE, {"action": "report"}, follow=True).content.decode()
    assert "No report: Offline" in report
    assert value_of("HeartbeatInterval") == "300"


@pytest.mark.django_db(transaction=True)
async def test_the_form_sets_what_changed_and_shows_each_result(daphne_server, staff, station):
    technician = await sync_to_async(staff)(Role.TECHNICIAN)
    rows = {
        row.variable_name: row.pk
        async for row in DeviceModelVariable.objects.filter(
            variable_name__in=["HeartbeatInterval", "EVConnectionTimeOut", "NetworkProfileConnectionAttempts"]
        )
    }
    form = {
        f"value-{rows['HeartbeatInterval']}": "90",
        f"value-{rows['EVConnectionTimeOut']}": "soon",
        f"value-{rows['NetworkProfileConnectionAttempts']}": "3",  # unchanged: not sent
    }
    async with ocpp_connection(
        daphne_server, "CS-1", STATION_PASSWORD, subprotocols=("ocpp2.0.1",), client_class=DeviceModelStation
    ) as cp:
        await online(cp)
        response = await sync_to_async(technician.post, thread_sensitive=False)(PAGE, form, follow=True)
    page = response.content.decode()
    assert "OCPPCommCtrlr/HeartbeatInterval = &#x27;90&#x27;: Accepted" in page
    assert "TxCtrlr/EVConnectionTimeOut = &#x27;soon&#x27;: Rejected" in page
    assert "NetworkProfileConnectionAttempts =" not in page
    assert cp.message_sizes == [2]
    assert await sync_to_async(value_of)("HeartbeatInterval") == "90"
    assert await sync_to_async(value_of)("EVConnectionTimeOut") == "60"
    assert (await Station.objects.aget(ocpp_id="CS-1")).ocpp_version == "2.0.1"

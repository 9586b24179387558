"""The device model of a 2.0.1 station at the service level: report parts, events, and the EVSEs it bounds."""

import pytest

from stations.models import DeviceModelVariable
from stations.plausibility import MAX_CONNECTOR_ID, connector_limits
from stations.selectors import stations_described
from stations.services import device_model_events_record, device_model_report_store

pytestmark = pytest.mark.django_db


def item(component="EVSE", evse=None, variable="AvailabilityState", attributes=None, characteristics=None):
    data = {
        "component": {"name": component, **({"evse": evse} if evse else {})},
        "variable": {"name": variable},
        "variable_attribute": attributes or [{"value": "Available"}],
    }
    if characteristics:
        data["variable_characteristics"] = characteristics
    return data


def test_parts_in_any_order_give_the_same_model_and_a_repeated_attribute_is_stored_once(make_station):
    station = make_station("CS-1")
    second = [item(evse={"id": 2}), item(evse={"id": 2}, attributes=[{"value": "Occupied"}])]
    device_model_report_store(station=station, request_id=1, report_data=second)
    device_model_report_store(station=station, request_id=1, report_data=[item(evse={"id": 1})])
    rows = {row.evse_id: row.value for row in DeviceModelVariable.objects.filter(station=station)}
    assert rows == {1: "Available", 2: "Occupied"}


def test_a_variable_without_evse_or_instance_is_one_row_however_often_reported(make_station):
    station = make_station("CS-1")
    limits = {"data_type": "integer", "min_limit": 10, "max_limit": 60, "supports_monitoring": True}
    for value in ("30", "45"):
        device_model_report_store(
            station=station,
            request_id=2,
            report_data=[
                item(
                    "OCPPCommCtrlr", variable="HeartbeatInterval", attributes=[{"value": value}], characteristics=limits
                )
            ],
        )
    row = DeviceModelVariable.objects.get(station=station)
    assert (row.value, row.attribute_type, row.evse_id, row.min_limit, row.supports_monitoring) == (
        "45",
        "Actual",
        None,
        10,
        True,
    )


def test_events_update_only_variables_the_model_already_has(make_station):
    station = make_station("CS-1")
    device_model_report_store(station=station, request_id=1, report_data=[item(evse={"id": 1})])
    events = [
        {
            "component": {"name": "EVSE", "evse": {"id": 1}},
            "variable": {"name": "AvailabilityState"},
            "actual_value": "Faulted",
        },
        {
            "component": {"name": "EVSE", "evse": {"id": 9}},
            "variable": {"name": "AvailabilityState"},
            "actual_value": "Faulted",
        },
    ]
    assert device_model_events_record(station=station, events=events) == 1
    assert DeviceModelVariable.objects.get(station=station).value == "Faulted"


def test_the_highest_evse_of_the_device_model_bounds_the_connector_ids(make_station):
    described, unknown = make_station("CS-1"), make_station("CS-2")
    device_model_report_store(
        station=described,
        request_id=1,
        report_data=[item(evse={"id": 1}), item("Connector", evse={"id": 2, "connector_id": 2})],
    )
    assert connector_limits(stations=[described, unknown]) == {described.pk: 2, unknown.pk: MAX_CONNECTOR_ID}


def test_which_stations_have_described_themselves_is_one_query(make_station, django_assert_num_queries):
    described, new = make_station("CP-1"), make_station("CP-2")
    device_model_report_store(station=described, request_id=1, report_data=[item()])
    with django_assert_num_queries(1):
        assert stations_described([new, described, new]) == [False, True, False]

"""Reading and writing variables through ``stations.device_model`` with real stations over the wire: a 2.0.1
`ocpp` client whose device model limits its messages, and a 1.6 client taking the same calls as configuration."""

import itertools

import pytest
from asgiref.sync import sync_to_async
from hypothesis import given
from hypothesis import strategies as st
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as call_result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from stations.device_model import VariableRef, frame_size, split, variables_get, variables_set
from stations.models import ConfigurationKey, DeviceModelVariable, Station
from stations.protocol import outbound
from stations.services import device_model_report_store
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)


def reported(component, variable, value, *, instance=None, mutability="ReadWrite", evse=None):
    return {
        "component": {"name": component, **({"evse": evse} if evse else {})},
        "variable": {"name": variable, **({"instance": instance} if instance else {})},
        "variable_attribute": [{"value": value, "mutability": mutability}],
    }


# ItemsPerMessage 2 for both: a list of five goes out as three messages.
DEVICE_MODEL = [
    reported("DeviceDataCtrlr", "ItemsPerMessage", "2", instance="GetVariables", mutability="ReadOnly"),
    reported("DeviceDataCtrlr", "ItemsPerMessage", "2", instance="SetVariables", mutability="ReadOnly"),
    reported("DeviceDataCtrlr", "BytesPerMessage", "4000", instance="GetVariables", mutability="ReadOnly"),
    reported("OCPPCommCtrlr", "HeartbeatInterval", "300"),
    reported("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", "3"),
    reported("TxCtrlr", "EVConnectionTimeOut", "60"),
    reported("SecurityCtrlr", "OrganizationName", "Voltgrid"),
    reported("EVSE", "AvailabilityState", "Available", mutability="ReadOnly", evse={"id": 1}),
]
FIVE = [
    VariableRef("OCPPCommCtrlr", "HeartbeatInterval"),
    VariableRef("TxCtrlr", "EVConnectionTimeOut"),
    VariableRef("Nothing", "Here"),
    VariableRef("EVSE", "AvailabilityState", evse_id=1),
    VariableRef("SecurityCtrlr", "OrganizationName"),
]


class DeviceModelStation(ChargePoint):
    """Answers GetVariables / SetVariables from its own values; refuses more items a message than its model says."""

    items_per_message = 2

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.values = {(item["component"]["name"], item["variable"]["name"]): item for item in DEVICE_MODEL}
        self.values = {key: item["variable_attribute"][0]["value"] for key, item in self.values.items()}
        self.message_sizes = []

    def _take(self, data):
        self.message_sizes.append(len(data))
        assert len(data) <= self.items_per_message

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data, **_):
        self._take(get_variable_data)
        results = []
        for item in get_variable_data:
            value = self.values.get((item["component"]["name"], item["variable"]["name"]))
            found = {"attribute_status": "Accepted", "attribute_value": value} if value is not None else {}
            results.append(
                {
                    "component": item["component"],
                    "variable": item["variable"],
                    "attribute_status": "UnknownComponent",
                    **found,
                }
            )
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data, **_):
        self._take(set_variable_data)
        results = []
        for item in set_variable_data:
            key = (item["component"]["name"], item["variable"]["name"])
            if key not in self.values:
                status = "UnknownVariable"
            elif not item["attribute_value"].isdigit():
                status = "Rejected"
            else:
                self.values[key] = item["attribute_value"]
                status = "RebootRequired" if key[1] == "NetworkProfileConnectionAttempts" else "Accepted"
            results.append({"component": item["component"], "variable": item["variable"], "attribute_status": status})
        return call_result.SetVariables(set_variable_result=results)


@pytest.fixture
def station(make_station):
    station = make_station("CS-1")
    device_model_report_store(station=station, request_id=1, report_data=DEVICE_MODEL)
    return station


async def online(cp, ocpp_id="CS-1"):
    if hasattr(cp, "values"):
        await cp.call(call.BootNotification(charging_station={"vendor_name": "V", "model": "M"}, reason="PowerUp"))
    await until(
        lambda: Station.objects.filter(ocpp_id=ocpp_id, is_online=True).exclude(channel_name="").aexists(),
        what="online",
    )


async def stored(variable):
    row = await DeviceModelVariable.objects.aget(variable_name=variable, attribute_type="Actual")
    return row.value


async def test_five_variables_go_as_three_messages_of_at_most_two_and_merge_in_order(daphne_server, station):
    async with ocpp_connection(
        daphne_server, "CS-1", STATION_PASSWORD, subprotocols=("ocpp2.0.1",), client_class=DeviceModelStation
    ) as cp:
        await online(cp)
        cp.values[("OCPPCommCtrlr", "HeartbeatInterval")] = "120"  # changed on the station meanwhile
        outcome = await variables_get(station=station, variables=FIVE)
    assert cp.message_sizes == [2, 2, 1]
    assert len(outcome.commands) == 3
    assert [(result.ref, result.status, result.value) for result in outcome.results] == [
        (FIVE[0], "Accepted", "120"),
        (FIVE[1], "Accepted", "60"),
        (FIVE[2], "UnknownComponent", None),
        (FIVE[3], "Accepted", "Available"),
        (FIVE[4], "Accepted", "Voltgrid"),
    ]
    # The value read refreshes the one the CSMS knows.
    assert await stored("HeartbeatInterval") == "120"


async def test_accepted_and_reboot_required_update_the_stored_value_rejected_and_unknown_do_not(daphne_server, station):
    changes = [
        (VariableRef("OCPPCommCtrlr", "HeartbeatInterval"), "90"),
        (VariableRef("TxCtrlr", "EVConnectionTimeOut"), "soon"),
        (VariableRef("OCPPCommCtrlr", "NetworkProfileConnectionAttempts"), "5"),
        (VariableRef("OCPPCommCtrlr", "NoSuchThing"), "1"),
    ]
    async with ocpp_connection(
        daphne_server, "CS-1", STATION_PASSWORD, subprotocols=("ocpp2.0.1",), client_class=DeviceModelStation
    ) as cp:
        await online(cp)
        outcome = await variables_set(station=station, values=changes)
    assert cp.message_sizes == [2, 2]
    statuses = [result.status for result in outcome.results]
    assert statuses == ["Accepted", "Rejected", "RebootRequired", "UnknownVariable"]
    assert [result.accepted for result in outcome.results] == [True, False, True, False]
    assert await stored("HeartbeatInterval") == "90"
    assert await stored("EVConnectionTimeOut") == "60"
    assert await stored("NetworkProfileConnectionAttempts") == "5"
    assert not await DeviceModelVariable.objects.filter(variable_name="NoSuchThing").aexists()


async def test_an_offline_station_gets_nothing_and_every_variable_says_offline(station):
    outcome = await variables_get(station=station, variables=FIVE)
    assert [command.status for command in outcome.commands] == ["offline"]
    assert outcome.failed_command is outcome.commands[0]
    assert {result.status for result in outcome.results} == {"offline"}
    assert len(outcome.results) == 5


class ConfigurationStation(ChargePoint16):
    config = {"HeartbeatInterval": "300", "MeterValueSampleInterval": "60"}

    @on(Action16.get_configuration)
    def on_get_configuration(self, key=(), **_):
        known = [{"key": k, "readonly": False, "value": self.config[k]} for k in key if k in self.config]
        unknown = [k for k in key if k not in self.config]
        return call_result16.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action16.change_configuration)
    def on_change_configuration(self, key, value, **_):
        if key not in self.config:
            return call_result16.ChangeConfiguration(status="NotSupported")
        self.config[key] = value
        return call_result16.ChangeConfiguration(status="Accepted")


@pytest.fixture
def station_16(make_station):
    return make_station("CP-16")


async def test_a_1_6_station_takes_the_same_calls_as_configuration_keys(daphne_server, station_16):
    station = station_16
    async with ocpp_connection(
        daphne_server, "CP-16", STATION_PASSWORD, subprotocols=("ocpp1.6",), client_class=ConfigurationStation
    ) as cp:
        await online(cp, "CP-16")
        read = await variables_get(
            station=station,
            variables=[VariableRef("OCPPCommCtrlr", "HeartbeatInterval"), VariableRef("", "Unheard")],
        )
        written = await variables_set(
            station=station,
            values=[(VariableRef("", "MeterValueSampleInterval"), "15"), (VariableRef("", "Unheard"), "1")],
        )
    assert [(r.status, r.value) for r in read.results] == [("Accepted", "300"), ("UnknownVariable", None)]
    assert [r.status for r in written.results] == ["Accepted", "UnknownVariable"]
    assert cp.config["MeterValueSampleInterval"] == "15"
    keys = await sync_to_async(dict)(ConfigurationKey.objects.filter(station=station).values_list("key", "value"))
    assert keys == {"HeartbeatInterval": "300", "MeterValueSampleInterval": "15"}


# Splitting, as a property: every item once, in order, each message within both limits unless alone.

names = st.text(alphabet="abcdefghXYZ", min_size=1, max_size=40)
refs = st.lists(st.builds(VariableRef, component=names, variable=names), max_size=30)


@pytest.mark.django_db(transaction=False)
@given(items=refs, max_items=st.integers(1, 8), max_bytes=st.integers(100, 2000))
def test_split_keeps_order_and_limits(items, max_items, max_bytes):
    def build(run):
        return outbound.variables_get("2.0.1", variables=run)

    runs = split(items, build=build, max_items=max_items, max_bytes=max_bytes)
    assert [item for run in runs for item in run] == items
    for run in runs:
        assert 1 <= len(run) <= max_items
        assert len(run) == 1 or frame_size(*build(run)) <= max_bytes
    # As few messages as greedy filling allows: no run could have taken the next one's first item.
    for run, following in itertools.pairwise(runs):
        assert len(run) == max_items or frame_size(*build([*run, following[0]])) > max_bytes

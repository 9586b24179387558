"""The station's password is never stored in clear outside the password rotation either: a maintenance job will not
take it as a configuration value (it would wait in the job's parameters), and what the CSMS keeps of configuration
keys and device-model variables (answers, reports, accepted writes) has it masked, while the station itself
receives it unmasked."""

import pytest
from asgiref.sync import sync_to_async
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as call_result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from monitoring.maintenance import (
    MaintenanceError,
    configuration_change_store,
    configuration_store,
    maintenance_job_create,
)
from monitoring.models import MaintenanceJob
from stations.device_model import VariableRef, variables_set
from stations.models import ConfigurationKey, DeviceModelVariable, OcppMessage, Station, StationCommand
from stations.protocol.redaction import REDACTED
from stations.services import device_model_report_store
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "Fresh-Station-Password-2026"
BASIC_AUTH = VariableRef("SecurityCtrlr", "BasicAuthPassword")
HEARTBEAT = VariableRef("OCPPCommCtrlr", "HeartbeatInterval")


def _attribute(component, variable, value=None, mutability="ReadWrite"):
    attribute = {"mutability": mutability, **({"value": value} if value is not None else {})}
    return {"component": {"name": component}, "variable": {"name": variable}, "variable_attribute": [attribute]}


async def _nowhere_in_clear(station) -> None:
    """Neither the command log nor the message log holds the password.

    The message log is written in batches after the exchange: the check waits until it holds every command's
    frame to the station, so that it reads the frames that carried the password."""
    commands = [c async for c in StationCommand.objects.filter(station=station).values_list("payload", "response")]
    assert commands
    sent = OcppMessage.objects.filter(
        station=station, direction=OcppMessage.Direction.OUT, message_type=OcppMessage.MessageType.CALL
    )

    async def all_logged():
        return await sent.acount() >= len(commands)

    await until(all_logged, what="the commands' frames in the message log")
    frames = [m async for m in OcppMessage.objects.filter(station=station).values_list("payload", flat=True)]
    assert NEW_PASSWORD not in repr(commands) + repr(frames)


@pytest.mark.parametrize("key", ["AuthorizationKey", "authorizationkey"])
def test_a_maintenance_job_will_not_keep_the_password_as_a_configuration_value(make_station, key):
    station = make_station("CP-1")
    with pytest.raises(MaintenanceError) as refused:
        maintenance_job_create(
            kind=MaintenanceJob.Kind.CHANGE_CONFIGURATION,
            stations=[station],
            params={"key": key, "value": NEW_PASSWORD},
        )
    assert "password rotation" in str(refused.value.errors["key"])
    assert not MaintenanceJob.objects.exists()


def test_an_ordinary_configuration_change_is_still_a_job(make_station):
    station = make_station("CP-1")
    job = maintenance_job_create(
        kind=MaintenanceJob.Kind.CHANGE_CONFIGURATION,
        stations=[station],
        params={"key": "HeartbeatInterval", "value": "120"},
    )
    assert MaintenanceJob.objects.get(pk=job.pk).params["value"] == "120"


def test_configuration_answers_and_accepted_changes_keep_the_key_masked(make_station):
    station = make_station("CP-1")
    configuration_store(
        station=station,
        keys=[
            {"key": "AuthorizationKey", "value": "0011aabb", "readonly": False},
            {"key": "HeartbeatInterval", "value": "300", "readonly": False},
        ],
    )
    assert dict(ConfigurationKey.objects.values_list("key", "value")) == {
        "AuthorizationKey": REDACTED,
        "HeartbeatInterval": "300",
    }
    configuration_change_store(station=station, key="AuthorizationKey", value=NEW_PASSWORD)
    configuration_change_store(station=station, key="HeartbeatInterval", value="60")
    assert dict(ConfigurationKey.objects.values_list("key", "value")) == {
        "AuthorizationKey": REDACTED,
        "HeartbeatInterval": "60",
    }


def test_a_reported_basic_auth_password_is_stored_masked(make_station):
    station = make_station("CS-1")
    device_model_report_store(
        station=station,
        request_id=1,
        report_data=[_attribute("SecurityCtrlr", "BasicAuthPassword", NEW_PASSWORD), _attribute("X", "Y", "plain")],
    )
    assert dict(DeviceModelVariable.objects.values_list("variable_name", "value")) == {
        "BasicAuthPassword": REDACTED,
        "Y": "plain",
    }


class AcceptingStation(ChargePoint):
    """Takes every variable it is sent, remembering the values."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.written = {}

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data, **_):
        for item in set_variable_data:
            self.written[item["variable"]["name"]] = item["attribute_value"]
        results = [
            {"component": item["component"], "variable": item["variable"], "attribute_status": "Accepted"}
            for item in set_variable_data
        ]
        return call_result.SetVariables(set_variable_result=results)


class AcceptingStation16(ChargePoint16):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.written = {}

    @on(Action16.change_configuration)
    def on_change_configuration(self, key, value, **_):
        self.written[key] = value
        return call_result16.ChangeConfiguration(status="Accepted")


async def _online(ocpp_id):
    await until(
        lambda: Station.objects.filter(ocpp_id=ocpp_id, is_online=True).exclude(channel_name="").aexists(),
        what="online",
    )


async def test_a_2_0_1_basic_auth_password_written_reaches_the_station_and_is_stored_masked(
    daphne_server, make_station
):
    station = await sync_to_async(make_station)("CS-1")
    await sync_to_async(device_model_report_store)(
        station=station,
        request_id=1,
        report_data=[
            _attribute("SecurityCtrlr", "BasicAuthPassword", mutability="WriteOnly"),
            _attribute("OCPPCommCtrlr", "HeartbeatInterval", "300"),
        ],
    )
    async with ocpp_connection(
        daphne_server, "CS-1", STATION_PASSWORD, subprotocols=("ocpp2.0.1",), client_class=AcceptingStation
    ) as cp:
        await cp.call(call.BootNotification(charging_station={"vendor_name": "V", "model": "M"}, reason="PowerUp"))
        await _online("CS-1")
        outcome = await variables_set(station=station, values=[(BASIC_AUTH, NEW_PASSWORD), (HEARTBEAT, "90")])
    assert [result.status for result in outcome.results] == ["Accepted", "Accepted"]
    assert cp.written == {"BasicAuthPassword": NEW_PASSWORD, "HeartbeatInterval": "90"}
    stored = await sync_to_async(dict)(DeviceModelVariable.objects.values_list("variable_name", "value"))
    assert stored == {"BasicAuthPassword": REDACTED, "HeartbeatInterval": "90"}
    await _nowhere_in_clear(station)


async def test_a_1_6_authorization_key_written_reaches_the_station_and_is_stored_masked(daphne_server, make_station):
    station = await sync_to_async(make_station)("CP-16")
    async with ocpp_connection(
        daphne_server, "CP-16", STATION_PASSWORD, subprotocols=("ocpp1.6",), client_class=AcceptingStation16
    ) as cp:
        await _online("CP-16")
        outcome = await variables_set(
            station=station, values=[(VariableRef("", "AuthorizationKey"), NEW_PASSWORD), (HEARTBEAT, "90")]
        )
    assert [result.status for result in outcome.results] == ["Accepted", "Accepted"]
    assert cp.written == {"AuthorizationKey": NEW_PASSWORD, "HeartbeatInterval": "90"}
    stored = await sync_to_async(dict)(ConfigurationKey.objects.values_list("key", "value"))
    assert stored == {"AuthorizationKey": REDACTED, "HeartbeatInterval": "90"}
    await _nowhere_in_clear(station)

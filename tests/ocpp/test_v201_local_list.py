"""OCPP 2.0.1 local authorization list (block D) through the same versioned sync as 1.6: the `ocpp` library's
2.0.1 charge point, connected to the running server, receives a Full list then a Differential one; a station
whose LocalAuthListCtrlr is disabled, missing or not implemented is sent nothing."""

from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from accounts import services
from accounts.models import IdToken, IdTokenEvent, StationLocalList
from stations.local_list import station_local_list_sync
from stations.models import Station, StationCommand
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)

BOOT = call.BootNotification(charging_station={"vendor_name": "Alfen", "model": "Eve"}, reason="PowerUp")


class ListStation(ChargePoint):
    """A 2.0.1 station with a local list: LocalAuthListCtrlr as ``variables`` say, lists kept as received."""

    variables = {"Enabled": "true", "ItemsPerMessage": "50", "Available": "true"}
    component_known = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.version = 0
        self.lists: list[dict] = []
        self.tokens: dict[str, dict] = {}

    @on(Action.get_base_report)
    def on_get_base_report(self, **_):
        return call_result.GetBaseReport(status="Accepted")

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data, **_):
        results = []
        for item in get_variable_data:
            name = item["variable"]["name"]
            if not self.component_known:
                status, value = "UnknownComponent", None
            else:
                status, value = (
                    ("Accepted", self.variables[name]) if name in self.variables else ("UnknownVariable", None)
                )
            result = {"attribute_status": status, "component": item["component"], "variable": item["variable"]}
            results.append({**result, **({"attribute_value": value} if value is not None else {})})
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_):
        return call_result.GetLocalListVersion(version_number=self.version)

    @on(Action.send_local_list)
    def on_send_local_list(self, version_number, update_type, local_authorization_list=(), **_):
        if update_type == "Differential" and version_number <= self.version:
            return call_result.SendLocalList(status="VersionMismatch")
        if update_type == "Full":
            self.tokens = {}
        for entry in local_authorization_list or ():
            self.tokens[entry["id_token"]["id_token"]] = entry
        self.version = version_number
        self.lists.append({"type": update_type, "version": version_number, "entries": local_authorization_list})
        return call_result.SendLocalList(status="Accepted")


class NoListStation(ChargePoint):
    """A 2.0.1 station that implements none of the local-list messages (the library answers NotImplemented)."""

    @on(Action.get_base_report)
    def on_get_base_report(self, **_):
        return call_result.GetBaseReport(status="Accepted")


@pytest.fixture
def station(make_station):
    return make_station("LL-201")


def connection(server, client_class=ListStation):
    return ocpp_connection(server, "LL-201", STATION_PASSWORD, subprotocols=("ocpp2.0.1",), client_class=client_class)


async def booted(cp) -> None:
    assert (await cp.call(BOOT)).status == "Accepted"
    await until(lambda: Station.objects.filter(ocpp_id="LL-201", is_online=True).aexists(), what="online")


@sync_to_async
def tokens(*numbers, **data):
    source = IdTokenEvent.Source.COMMAND
    return [services.id_token_create(token=number, data=data, source=source) for number in numbers]


sync = sync_to_async(station_local_list_sync)


async def test_a_full_list_then_a_differential_one_reach_the_station(daphne_server, station):
    group = (await tokens("FLEET-GROUP"))[0]
    await tokens("CARD-0001", "CARD-0002")
    await sync_to_async(services.id_token_update)(
        id_token=await IdToken.objects.aget(token="CARD-0002"),
        data={"parent": group, "status": IdToken.Status.BLOCKED},
        source=IdTokenEvent.Source.COMMAND,
    )
    async with connection(daphne_server) as cp:
        await booted(cp)
        result = await sync(station=station)
        assert (result.outcome, result.update_type, result.entries) == ("updated", "Full", 3)
        assert [(sent["type"], sent["version"]) for sent in cp.lists] == [("Full", 1)]
        card = cp.tokens["CARD-0002"]
        assert card["id_token"] == {"id_token": "CARD-0002", "type": "ISO14443"}
        assert card["id_token_info"]["status"] == "Blocked"
        assert card["id_token_info"]["group_id_token"] == {"id_token": "FLEET-GROUP", "type": "Central"}

        await tokens("CARD-0003", expires_at=datetime(2030, 1, 1, tzinfo=UTC))
        result = await sync(station=station)
        assert (result.outcome, result.update_type, result.entries) == ("updated", "Differential", 1)
        differential = cp.lists[-1]
        assert (differential["type"], differential["version"]) == ("Differential", 2)
        [entry] = differential["entries"]
        assert entry["id_token"]["id_token"] == "CARD-0003"
        assert entry["id_token_info"]["cache_expiry_date_time"].startswith("2030-01-01T00:00:00")
        assert set(cp.tokens) == {"FLEET-GROUP", "CARD-0001", "CARD-0002", "CARD-0003"}

        assert (await sync(station=station)).outcome == "in_sync"
    state = await StationLocalList.objects.aget(station=station)
    assert (state.status, state.station_version, state.send_max_length) == ("in_sync", 2, 50)
    asked = await StationCommand.objects.filter(station=station, action="GetVariables").acount()
    assert asked == 1


async def test_a_station_whose_list_is_ahead_of_what_the_csms_knows_gets_a_full_list(daphne_server, station):
    await tokens("CARD-0001")

    class Restored(ListStation):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.version = 7  # a list from elsewhere (a restored backup)

    async with connection(daphne_server, Restored) as cp:
        await booted(cp)
        result = await sync(station=station)
        assert (result.outcome, result.update_type) == ("updated", "Full")
        assert cp.lists == [{"type": "Full", "version": 8, "entries": cp.lists[0]["entries"]}]


@pytest.mark.parametrize(
    ("variables", "component_known", "outcome"),
    [
        ({"Enabled": "false", "ItemsPerMessage": "50", "Available": "true"}, True, "disabled"),
        ({"Enabled": "true", "Available": "false"}, True, "not_supported"),
        ({}, False, "not_supported"),
    ],
    ids=["disabled", "not-available", "no-controller"],
)
async def test_a_station_without_a_usable_list_is_sent_nothing(
    daphne_server, station, variables, component_known, outcome
):
    await tokens("CARD-0001")
    station_class = type("Station", (ListStation,), {"variables": variables, "component_known": component_known})
    async with connection(daphne_server, station_class) as cp:
        await booted(cp)
        result = await sync(station=station)
        assert result.outcome == outcome
        assert cp.lists == []
    state = await StationLocalList.objects.aget(station=station)
    assert state.status == outcome
    assert state.next_attempt_at is not None  # waits before looking again, as a 1.6 station does
    assert not await StationCommand.objects.filter(station=station, action="SendLocalList").aexists()


async def test_a_station_implementing_no_local_list_message_is_not_supported(daphne_server, station):
    await tokens("CARD-0001")
    async with connection(daphne_server, NoListStation) as cp:
        await booted(cp)
        result = await sync(station=station)
    assert result.outcome == "not_supported"
    assert not await StationCommand.objects.filter(station=station, action="SendLocalList").aexists()

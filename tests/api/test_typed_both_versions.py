"""The typed command endpoints and the variables endpoints with a real OCPP 2.0.1 `ocpp` client connected to the
running server, and their refusals (bad bodies, what 1.6 cannot do, a station offline). 1.6 behaviour stays proven
by tests/ocpp/test_commands_api.py."""

import contextlib

import pytest
from asgiref.sync import sync_to_async
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from sessions.models import Transaction
from stations.models import DeviceModelVariable, Station, StationCommand
from stations.services import device_model_report_store
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)

HEARTBEAT = {
    "component": {"name": "OCPPCommCtrlr"},
    "variable": {"name": "HeartbeatInterval"},
    "variable_attribute": [{"value": "300", "mutability": "ReadWrite"}],
}


@pytest.fixture(autouse=True)
def _short_response_timeout(settings):
    settings.CMS_OCPP_RESPONSE_TIMEOUT = 5


class Station201(ChargePoint):
    """Answers the typed commands as a two-EVSE station would, remembering each request."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.requests = []
        self.heartbeat = "300"

    @on(Action.request_start_transaction)
    def on_request_start(self, id_token, remote_start_id, evse_id=None, **_):
        self.requests.append(("RequestStartTransaction", id_token, evse_id))
        return call_result.RequestStartTransaction(status="Accepted")

    @after(Action.request_start_transaction)
    async def start_the_session(self, id_token, remote_start_id, evse_id=None, **_):
        await self.call(
            call.TransactionEvent(
                event_type="Started",
                timestamp="2026-03-01T10:00:00Z",
                trigger_reason="RemoteStart",
                seq_no=0,
                transaction_info={"transaction_id": "TX-9", "remote_start_id": remote_start_id},
                id_token=id_token,
                evse={"id": evse_id or 1, "connector_id": 1},
            )
        )

    @on(Action.request_stop_transaction)
    def on_request_stop(self, transaction_id, **_):
        self.requests.append(("RequestStopTransaction", transaction_id))
        return call_result.RequestStopTransaction(status="Accepted")

    @on(Action.reset)
    def on_reset(self, type, evse_id=None, **_):
        self.requests.append(("Reset", type, evse_id))
        return call_result.Reset(status="Scheduled" if type == "OnIdle" else "Accepted")

    @on(Action.change_availability)
    def on_change_availability(self, operational_status, evse=None, **_):
        self.requests.append(("ChangeAvailability", operational_status, evse))
        return call_result.ChangeAvailability(status="Accepted")

    @on(Action.unlock_connector)
    def on_unlock(self, evse_id, connector_id, **_):
        self.requests.append(("UnlockConnector", evse_id, connector_id))
        return call_result.UnlockConnector(status="Unlocked" if evse_id <= 2 else "UnknownConnector")

    @on(Action.get_base_report)
    def on_get_base_report(self, request_id, report_base, **_):
        self.requests.append(("GetBaseReport", report_base))
        return call_result.GetBaseReport(status="Accepted")

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data, **_):
        results = []
        for item in get_variable_data:
            known = (item["component"]["name"], item["variable"]["name"]) == ("OCPPCommCtrlr", "HeartbeatInterval")
            found = {"attribute_status": "Accepted", "attribute_value": self.heartbeat} if known else {}
            results.append(
                {"component": item["component"], "variable": item["variable"], "attribute_status": "UnknownVariable"}
                | found
            )
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data, **_):
        results = []
        for item in set_variable_data:
            accepted = item["attribute_value"].isdigit()
            if accepted:
                self.heartbeat = item["attribute_value"]
            status = "Accepted" if accepted else "Rejected"
            info = {} if accepted else {"attribute_status_info": {"reason_code": "InvalidValue"}}
            results.append({"component": item["component"], "variable": item["variable"], "attribute_status": status})
            results[-1] |= info
        return call_result.SetVariables(set_variable_result=results)


@pytest.fixture
def station(make_station):
    station = make_station("CS-2", ocpp_version="2.0.1")
    device_model_report_store(station=station, request_id=1, report_data=[HEARTBEAT])
    return station


def post(client, url, data):
    return sync_to_async(client.post, thread_sensitive=False)(url, data, format="json")


def get(client, url):
    return sync_to_async(client.get, thread_sensitive=False)(url)


@contextlib.asynccontextmanager
async def connected(server):
    async with ocpp_connection(
        server, "CS-2", STATION_PASSWORD, subprotocols=("ocpp2.0.1",), client_class=Station201
    ) as cp:
        await until(
            lambda: Station.objects.filter(ocpp_id="CS-2", is_online=True).exclude(channel_name="").aexists(),
            what="online",
        )
        yield cp


async def test_remote_start_and_stop_of_a_2_0_1_station(daphne_server, admin_api, station):
    async with connected(daphne_server) as cp:
        started = await post(
            admin_api,
            "/api/stations/CS-2/remote-start/",
            {"id_token": "ABCDEF0123456789ABCDEF0123", "id_token_type": "ISO14443", "evse_id": 2, "wait": 5},
        )
        assert started.status_code == 200, started.json()
        body = started.json()
        assert (body["action"], body["response"]["status"]) == ("RequestStartTransaction", "Accepted")
        assert body["payload"]["idToken"] == {"idToken": "ABCDEF0123456789ABCDEF0123", "type": "ISO14443"}
        session = await Transaction.objects.aget(pk=body["transaction_id"])
        assert (session.ocpp_transaction_id, session.connector_id) == ("TX-9", 2)

        by_ours = await post(admin_api, "/api/stations/CS-2/remote-stop/", {"session_id": session.pk})
        by_theirs = await post(admin_api, "/api/stations/CS-2/remote-stop/", {"transaction_id": "TX-9"})
    assert (by_ours.status_code, by_theirs.status_code) == (200, 200)
    assert by_ours.json()["transaction_id"] == session.pk
    assert cp.requests[0] == (
        "RequestStartTransaction",
        {"id_token": "ABCDEF0123456789ABCDEF0123", "type": "ISO14443"},
        2,
    )
    assert cp.requests[1:] == [("RequestStopTransaction", "TX-9")] * 2


async def test_reset_per_evse_availability_unlock_and_report(daphne_server, admin_api, station):
    async with connected(daphne_server) as cp:
        reset = await post(admin_api, "/api/stations/CS-2/reset/", {"type": "OnIdle", "evse_id": 2})
        whole = await post(admin_api, "/api/stations/CS-2/reset/", {"type": "Hard"})
        availability = await post(
            admin_api, "/api/stations/CS-2/availability/", {"status": "Inoperative", "evse_id": 1}
        )
        connector = await post(
            admin_api,
            "/api/stations/CS-2/availability/",
            {"status": "Operative", "evse_id": 2, "connector_id": 1},
        )
        unlock = await post(admin_api, "/api/stations/CS-2/unlock/", {"evse_id": 2, "connector_id": 1})
        unknown = await post(admin_api, "/api/stations/CS-2/unlock/", {"connector_id": 7})
        report = await post(admin_api, "/api/stations/CS-2/report/", {"base": "SummaryInventory"})
    answered = [reset, whole, availability, connector, unlock, unknown, report]
    assert [response.status_code for response in answered] == [200] * 7, [r.json() for r in answered]
    assert [response.json()["response"]["status"] for response in answered] == [
        "Scheduled",
        "Accepted",
        "Accepted",
        "Accepted",
        "Unlocked",
        "UnknownConnector",
        "Accepted",
    ]
    assert cp.requests == [
        ("Reset", "OnIdle", 2),
        ("Reset", "Immediate", None),
        ("ChangeAvailability", "Inoperative", {"id": 1}),
        ("ChangeAvailability", "Operative", {"id": 2, "connector_id": 1}),
        ("UnlockConnector", 2, 1),
        ("UnlockConnector", 7, 1),
        ("GetBaseReport", "SummaryInventory"),
    ]


async def test_variables_read_and_set_through_the_api(daphne_server, admin_api, station):
    async with connected(daphne_server) as cp:
        cp.heartbeat = "240"
        read = await get(
            admin_api, "/api/stations/CS-2/variables/?variable=OCPPCommCtrlr/HeartbeatInterval&variable=EVSE@1/Power"
        )
        written = await post(
            admin_api,
            "/api/stations/CS-2/variables/",
            {
                "variables": [
                    {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "never"},
                    {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "60"},
                ]
            },
        )
    assert read.status_code == 200, read.json()
    results = read.json()["results"]
    assert [(r["component"], r["evse_id"], r["variable"], r["status"], r["value"]) for r in results] == [
        ("OCPPCommCtrlr", None, "HeartbeatInterval", "Accepted", "240"),
        ("EVSE", 1, "Power", "UnknownVariable", None),
    ]
    assert written.status_code == 200, written.json()
    assert [(r["status"], r["reason"]) for r in written.json()["results"]] == [
        ("Rejected", "InvalidValue"),
        ("Accepted", ""),
    ]
    assert (await DeviceModelVariable.objects.aget(variable_name="HeartbeatInterval")).value == "60"


def test_bad_bodies_get_400_with_a_reason_and_send_nothing(admin_api, station, make_station):
    make_station("CP-16", ocpp_version="1.6")
    cases = [
        ("/api/stations/CS-2/remote-start/", {}, "id_token"),
        ("/api/stations/CS-2/remote-start/", {"id_token": "A", "id_tag": "B"}, "exactly one"),
        ("/api/stations/CP-16/remote-start/", {"id_token": "X" * 30}, "at most 20"),
        ("/api/stations/CS-2/remote-stop/", {}, "session_id"),
        ("/api/stations/CP-16/remote-stop/", {"transaction_id": "TX-9"}, "integer"),
        ("/api/stations/CS-2/remote-stop/", {"session_id": 999}, "not one of this station's"),
        ("/api/stations/CS-2/reset/", {"type": "Sometimes"}, "type"),
        ("/api/stations/CP-16/reset/", {"evse_id": 1}, "not an EVSE"),
        ("/api/stations/CP-16/availability/", {"status": "Operative", "evse_id": 1}, "not an EVSE"),
        ("/api/stations/CS-2/availability/", {"status": "Maybe"}, "status"),
        ("/api/stations/CS-2/variables/", {"variables": []}, "variables"),
        (
            "/api/stations/CS-2/variables/",
            {"variables": [{"variable": "HeartbeatInterval", "value": "1"}]},
            "component",
        ),
        ("/api/stations/CS-2/variables/", {"variables": [{"variable": "X", "connector_id": 1, "value": "1"}]}, "evse"),
        ("/api/stations/CP-16/report/", {"criteria": ["Problem"]}, "whole configuration"),
    ]
    for url, body, reason in cases:
        response = admin_api.post(url, body, format="json")
        assert response.status_code == 400, (url, body, response.json())
        assert reason in str(response.json()), (url, body, response.json())
    bad_reads = ["", "?variable=", "?variable=A/B%23Sometimes", "?variable=Heartbeat"]
    for query in bad_reads:
        response = admin_api.get(f"/api/stations/CS-2/variables/{query}")
        assert response.status_code == 400, (query, response.json())
    assert not StationCommand.objects.exists()


def test_an_offline_station_is_409_as_for_every_command(admin_api, station):
    read = admin_api.get("/api/stations/CS-2/variables/?variable=OCPPCommCtrlr/HeartbeatInterval")
    written = admin_api.post(
        "/api/stations/CS-2/variables/",
        {"variables": [{"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "60"}]},
        format="json",
    )
    reset = admin_api.post("/api/stations/CS-2/reset/", {"type": "OnIdle", "evse_id": 1}, format="json")
    assert [response.status_code for response in (read, written, reset)] == [409, 409, 409]
    assert [response.json()["status"] for response in (read, written, reset)] == ["offline"] * 3
    assert DeviceModelVariable.objects.get(variable_name="HeartbeatInterval").value == "300"


def test_analysts_may_not_read_variables_from_a_station(make_staff, station):
    from accounts.roles import Role
    from tests.api.conftest import token_client

    analyst = token_client(make_staff(Role.ANALYST))
    response = analyst.get("/api/stations/CS-2/variables/?variable=OCPPCommCtrlr/HeartbeatInterval")
    assert response.status_code == 403
    assert not StationCommand.objects.exists()

"""Commands through the REST API to stations connected to a real daphne server, and their outcomes' status codes."""

import asyncio
import contextlib
import io

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import IdTokenEvent
from accounts.services import id_token_create
from sessions.models import Transaction
from simulator import DEFAULT_PASSWORD, Simulation, SimulatorConfig
from stations.models import Station, StationCommand
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _short_response_timeout(settings):
    """The caller's wait for a station (the server under test already uses 5 s): a lost answer fails fast."""
    settings.CMS_OCPP_RESPONSE_TIMEOUT = 5


@pytest.fixture
def admin_api(operator_admin):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=operator_admin).key}")
    return client


def post(client, url, data):
    """The sync test client from an async test: in a thread, as a worker would call the API."""
    return sync_to_async(client.post, thread_sensitive=False)(url, data, format="json")


def get(client, url):
    return sync_to_async(client.get, thread_sensitive=False)(url)


async def wait_online(ocpp_id):
    await until(
        lambda: Station.objects.filter(ocpp_id=ocpp_id, is_online=True).exclude(channel_name="").aexists(),
        within=5,
        what=f"{ocpp_id} online",
        every=0.02,
    )


@contextlib.asynccontextmanager
async def simulated(server, **config):
    """SIM-001 with one connector, registered with tag SIMTAG01 and connected; only remote starts charge."""

    @sync_to_async
    def register():
        call_command("create_station", "SIM-001", password=DEFAULT_PASSWORD, stdout=io.StringIO())
        id_token_create(token="SIMTAG01", source=IdTokenEvent.Source.COMMAND)

    await register()
    settings = {"connectors": 1, "autostart": False, "meter_interval": 0.2, "reconnect_delay": 0.2, **config}
    simulation = Simulation(["SIM-001"], SimulatorConfig(url=f"{server.ws_url}/ocpp", **settings))
    task = asyncio.create_task(simulation.run())
    try:
        await simulation.wait_booted(within=10)
        await wait_online("SIM-001")
        yield simulation
    finally:
        simulation.stop()
        await task


class SlowStation(ChargePoint):
    @on(Action.reset)
    async def on_reset(self, type):
        await asyncio.sleep(3)
        return call_result.Reset(status="Accepted")


async def test_any_action_is_answered_with_200_and_recorded(daphne_server, admin_api, operator_admin):
    async with simulated(daphne_server):
        response = await post(
            admin_api,
            "/api/stations/SIM-001/calls/",
            {
                "action": "GetConfiguration",
                "payload": {"key": ["HeartbeatInterval"]},
            },
        )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["action"], body["station"]) == ("answered", "GetConfiguration", "SIM-001")
    assert body["response"] == {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}
    assert body["requested_by"] == operator_admin.email
    listed = (await get(admin_api, "/api/stations/SIM-001/calls/")).json()
    assert [c["id"] for c in listed["results"]] == [body["id"]]
    assert (await get(admin_api, body["url"])).json()["status"] == "answered"


async def test_an_invalid_payload_is_400_and_never_sent(daphne_server, admin_api):
    async with simulated(daphne_server) as simulation:
        response = await post(
            admin_api,
            "/api/stations/SIM-001/calls/",
            {
                "action": "ChangeAvailability",
                "payload": {"connectorId": 1, "type": "Sometimes"},
            },
        )
        assert simulation.stats().commands_answered == 0
    assert response.status_code == 400
    assert response.json()["status"] == "invalid"
    assert "type: 'Sometimes' is not one of ['Inoperative', 'Operative']" in response.json()["error_description"]


async def test_an_offline_station_is_409_at_once(daphne_server, admin_api, make_station):
    await sync_to_async(make_station)("CP-1", ocpp_version="1.6")
    response = await post(admin_api, "/api/stations/CP-1/calls/", {"action": "ClearCache", "payload": {}})
    assert response.status_code == 409
    assert response.json()["status"] == "offline"
    assert await StationCommand.objects.filter(status="offline").acount() == 1


async def test_a_callerror_is_502_with_its_code(daphne_server, admin_api, make_station):
    await sync_to_async(make_station)("CP-1")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD, client_class=ChargePoint):
        await wait_online("CP-1")
        response = await post(admin_api, "/api/stations/CP-1/unlock/", {"connector_id": 1})
    assert response.status_code == 502
    assert (response.json()["status"], response.json()["error_code"]) == ("call_error", "NotImplemented")


async def test_a_station_that_does_not_answer_in_time_is_504(daphne_server, admin_api, make_station):
    await sync_to_async(make_station)("CP-1")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD, client_class=SlowStation):
        await wait_online("CP-1")
        response = await post(admin_api, "/api/stations/CP-1/reset/", {"type": "Hard", "timeout": 1})
    assert response.status_code == 504
    assert response.json()["status"] == "timeout"


async def test_remote_start_answers_with_the_transaction_id_and_remote_stop_ends_it(daphne_server, admin_api):
    async with simulated(daphne_server):
        started = await post(admin_api, "/api/stations/SIM-001/remote-start/", {"id_tag": "SIMTAG01", "wait": 5})
        assert started.status_code == 200, started.json()
        transaction_id = started.json()["transaction_id"]
        session = await Transaction.objects.aget(pk=transaction_id)
        assert (session.id_tag, session.connector_id, session.status) == ("SIMTAG01", 1, "active")

        stopped = await post(admin_api, "/api/stations/SIM-001/remote-stop/", {"transaction_id": transaction_id})
        assert stopped.status_code == 200
        assert stopped.json()["response"] == {"status": "Accepted"}
        assert stopped.json()["transaction_id"] == transaction_id
        for _ in range(100):
            await session.arefresh_from_db()
            if session.status == "completed":
                break
            await asyncio.sleep(0.05)
    assert (session.status, session.stop_reason) == ("completed", "Remote")


async def test_remote_start_without_waiting_is_202_with_a_command_to_poll(daphne_server, admin_api):
    async with simulated(daphne_server):
        started = await post(admin_api, "/api/stations/SIM-001/remote-start/", {"id_tag": "SIMTAG01", "wait": 0})
        assert started.status_code == 202, started.json()
        assert started["Location"] == started.json()["url"]

        async def polled_transaction_id():
            return (await get(admin_api, started["Location"])).json()["transaction_id"]

        transaction_id = await until(polled_transaction_id, within=5, every=0.05, quiet=True)
    assert await Transaction.objects.filter(pk=transaction_id, id_tag="SIMTAG01").aexists()


async def test_a_rejected_remote_start_is_200_without_a_transaction(daphne_server, admin_api):
    async with simulated(daphne_server):
        response = await post(
            admin_api, "/api/stations/SIM-001/remote-start/", {"id_tag": "SIMTAG01", "connector_id": 5}
        )
    assert response.status_code == 200
    assert (response.json()["response"], response.json()["transaction_id"]) == ({"status": "Rejected"}, None)


async def test_reset_and_unlock_are_answered(daphne_server, admin_api):
    async with simulated(daphne_server):
        unlocked = await post(admin_api, "/api/stations/SIM-001/unlock/", {"connector_id": 1})
        reset = await post(admin_api, "/api/stations/SIM-001/reset/", {})
    assert (unlocked.status_code, unlocked.json()["response"]) == (200, {"status": "Unlocked"})
    assert (reset.status_code, reset.json()["payload"], reset.json()["response"]) == (
        200,
        {"type": "Soft"},
        {"status": "Accepted"},
    )
    actions = [c async for c in StationCommand.objects.order_by("created_at").values_list("action", flat=True)]
    assert actions == ["UnlockConnector", "Reset"]

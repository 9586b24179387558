"""Password rotation for both OCPP versions: a random password goes to the station and is adopted the moment the
station accepts it (the station's next connection must use it, the old one is refused); refused, the old one
stays. The plaintext is kept nowhere: not in the command log, the message log or the API's answers."""

import asyncio
import io
import json
import string

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.test import Client
from hypothesis import assume, example, given
from hypothesis import strategies as st
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from simulator import DEFAULT_PASSWORD, Simulation, SimulatorConfig
from stations.models import OcppMessage, Station, StationCommand
from stations.protocol import outbound
from stations.protocol.redaction import REDACTED, redacted
from stations.security import PASSWORD_ALPHABET, password_generate
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import basic_auth_header, handshake_status, ocpp_connection
from tests.waiting import until

SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
# What each version answers a handshake with wrong credentials.
REFUSED = {"1.6": 403, "2.0.1": 401}


# The password and its wire form (no server, no database)


@pytest.mark.parametrize(("version", "length"), [("1.6", 20), ("2.0.1", 40)])
def test_generated_password_is_as_long_as_the_version_carries_and_random(version, length):
    passwords = {password_generate(version) for _ in range(50)}
    assert len(passwords) == 50
    assert all(len(password) == length and set(password) <= set(PASSWORD_ALPHABET) for password in passwords)


def test_16_sends_the_password_hex_encoded_as_the_authorization_key():
    call = outbound.password_set("1.6", password="abcDEF0123456789wxyz")
    assert call.action == "ChangeConfiguration"
    assert call.payload["key"] == "AuthorizationKey"
    assert bytes.fromhex(call.payload["value"]).decode() == "abcDEF0123456789wxyz"
    assert len(call.payload["value"]) == 40  # 20 bytes, the whitepaper's most


@given(
    secret=st.text(alphabet=string.ascii_letters + string.digits, min_size=16, max_size=40),
    others=st.lists(st.text(min_size=1, max_size=10), max_size=3),
)
@example(secret="BasicAuthPasswor", others=[])
def test_no_secret_survives_redaction_and_nothing_else_is_touched(secret, others):
    for version in ("1.6", "2.0.1"):
        call = outbound.password_set(version, password=secret)
        payload = json.loads(json.dumps(call.payload))
        if version == "2.0.1":
            payload["setVariableData"] += [
                {"attributeValue": value, "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "Other"}}
                for value in others
            ]
        kept = json.dumps(redacted(call.action, payload))
        # A password spelling part of the message's own names ("BasicAuthPasswor") is in it without leaking.
        names = json.dumps(redacted(call.action, outbound.password_set(version, password="x" * 16).payload))
        assume(secret not in names)
        assert secret not in kept and secret.encode().hex() not in kept
        assert REDACTED in kept
        if version == "2.0.1":
            assert [entry["attributeValue"] for entry in json.loads(kept)["setVariableData"][1:]] == others
    other = {"key": "HeartbeatInterval", "value": secret}
    assert redacted("ChangeConfiguration", other) is other


# Against the real server, with the ocpp library's clients of both versions


class Station16(ChargePoint16):
    answer = "Accepted"
    received: list[str]

    @on(Action16.change_configuration)
    def on_change_configuration(self, key, value, **_):
        self.received.append(bytes.fromhex(value).decode() if key == "AuthorizationKey" else value)
        return result16.ChangeConfiguration(status=self.answer)


class Station201(ChargePoint201):
    answer = "Accepted"
    received: list[str]

    @on(Action201.set_variables)
    def on_set_variables(self, set_variable_data, **_):
        self.received += [entry["attribute_value"] for entry in set_variable_data]
        results = [
            {"attribute_status": self.answer, "component": entry["component"], "variable": entry["variable"]}
            for entry in set_variable_data
        ]
        return result201.SetVariables(set_variable_result=results)


CLIENTS = {"1.6": Station16, "2.0.1": Station201}
BOTH_VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1"])


@pytest.fixture(autouse=True)
def _short_response_timeout(settings):
    settings.CMS_OCPP_RESPONSE_TIMEOUT = 5


@pytest.fixture
def admin_api(operator_admin):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=operator_admin).key}")
    return client


def rotate(client):
    post = sync_to_async(client.post, thread_sensitive=False)
    return post("/api/stations/CP-1/password-rotation/", {}, format="json")


async def wait_online():
    await until(
        lambda: Station.objects.filter(ocpp_id="CP-1", is_online=True).exclude(channel_name="").aexists(),
        within=5,
        what="CP-1 online",
        every=0.02,
    )


async def status_with(server, version, password) -> int:
    headers = basic_auth_header("CP-1", password)
    return await handshake_status(server, "CP-1", headers, subprotocols=(SUBPROTOCOL[version],))


def connected(server, version, answer):
    client_class = type(f"Answering{answer}", (CLIENTS[version],), {"answer": answer, "received": []})
    return ocpp_connection(
        server, "CP-1", STATION_PASSWORD, subprotocols=(SUBPROTOCOL[version],), client_class=client_class
    )


@pytest.mark.django_db(transaction=True)
@BOTH_VERSIONS
async def test_accepted_password_is_adopted_at_once_and_the_old_one_refused(
    daphne_server, make_station, admin_api, version
):
    await sync_to_async(make_station)("CP-1")
    async with connected(daphne_server, version, "Accepted") as client:
        await wait_online()
        response = await rotate(admin_api)
        body = response.json()
        assert response.status_code == 200, body
        assert body["adopted"] is True
        [new_password] = client.received
        assert len(new_password) == outbound.password_max_length(version)

    assert await status_with(daphne_server, version, new_password) == 101
    assert await status_with(daphne_server, version, STATION_PASSWORD) == REFUSED[version]

    # The plaintext is nowhere: not in the API's answer, the command log or the message log.
    assert new_password not in json.dumps(body)
    command = await StationCommand.objects.aget(pk=body["command"]["id"])
    assert new_password not in json.dumps(command.payload)
    assert REDACTED in json.dumps(command.payload)
    sent = OcppMessage.objects.filter(station__ocpp_id="CP-1", direction="out", action=command.action)
    await until(sent.aexists, within=5, what="the command in the message log")
    async for message in OcppMessage.objects.filter(station__ocpp_id="CP-1"):
        assert new_password not in json.dumps(message.payload) + message.raw
        assert new_password.encode().hex() not in json.dumps(message.payload)


@pytest.mark.django_db(transaction=True)
@BOTH_VERSIONS
async def test_refused_password_leaves_the_old_one_working(daphne_server, make_station, admin_api, version):
    await sync_to_async(make_station)("CP-1")
    async with connected(daphne_server, version, "Rejected") as client:
        await wait_online()
        response = await rotate(admin_api)
        assert response.status_code == 409, response.json()
        assert response.json()["adopted"] is False
        assert "refused" in response.json()["detail"]
        [new_password] = client.received

    assert await status_with(daphne_server, version, STATION_PASSWORD) == 101
    assert await status_with(daphne_server, version, new_password) == REFUSED[version]


@pytest.mark.django_db(transaction=True)
async def test_offline_station_keeps_its_password_and_the_operator_is_told(daphne_server, make_station, admin_api):
    station = await sync_to_async(make_station)("CP-1", ocpp_version="2.0.1")
    response = await rotate(admin_api)
    assert response.status_code == 409
    assert "not connected" in response.json()["detail"]
    assert (await Station.objects.aget(pk=station.pk)).password_hash == station.password_hash


@pytest.mark.django_db(transaction=True)
async def test_portal_button_rotates_and_shows_the_outcome(daphne_server, make_station, operator_admin):
    await sync_to_async(make_station)("CP-1")
    portal = Client()
    await sync_to_async(portal.force_login)(operator_admin)
    async with connected(daphne_server, "2.0.1", "Accepted") as client:
        await wait_online()
        page = await sync_to_async(portal.post, thread_sensitive=False)(
            "/operator/stations/CP-1/password-rotation/", follow=True
        )
        [new_password] = client.received
    html = page.content.decode()
    assert "accepted its new password" in html
    assert new_password not in html
    assert await status_with(daphne_server, "2.0.1", new_password) == 101


@pytest.mark.django_db
def test_rotation_needs_a_command_role(make_station, django_user_model):
    make_station("CP-1")
    analyst_free = django_user_model.objects.create_user(email="driver@example.com", password="x-pass-123456")
    client = APIClient()
    client.force_authenticate(analyst_free)
    assert client.post("/api/stations/CP-1/password-rotation/", {}, format="json").status_code == 403


@pytest.mark.django_db(transaction=True)
async def test_simulated_16_station_reconnects_with_its_new_password(daphne_server, admin_api):
    """The project's simulator reboots the moment it accepts a new AuthorizationKey: it is back with the new one."""
    await sync_to_async(call_command)("create_station", "CP-1", password=DEFAULT_PASSWORD, stdout=io.StringIO())
    config = SimulatorConfig(url=f"{daphne_server.ws_url}/ocpp", connectors=1, autostart=False, reconnect_delay=0.2)
    simulation = Simulation(["CP-1"], config)
    task = asyncio.create_task(simulation.run())
    try:
        await simulation.wait_booted(within=10)
        await wait_online()
        first_connection = (await Station.objects.aget(ocpp_id="CP-1")).connected_at
        response = await rotate(admin_api)
        assert response.status_code == 200, response.json()
        await until(
            lambda: Station.objects.filter(ocpp_id="CP-1", is_online=True, connected_at__gt=first_connection).aexists(),
            within=10,
            what="CP-1 back with its new password",
        )
    finally:
        simulation.stop()
        await task
    assert await status_with(daphne_server, "1.6", DEFAULT_PASSWORD) == REFUSED["1.6"]

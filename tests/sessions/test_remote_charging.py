"""Charging from the browser, end to end: the connector page through Django's test client, the commands over
the Redis channel layer to the daphne child process, and the simulated charge point that starts and stops.
"""

import asyncio
import contextlib
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse

from accounts.models import IdToken, IdTokenEvent
from accounts.services import id_token_block
from billing.models import Tariff
from billing.services.wallet import wallet_adjust
from sessions.models import Transaction
from simulator import DEFAULT_PASSWORD, SimulatedStation, SimulatorConfig
from stations.models import Connector, Station, StationCommand
from stations.protocol.ocpp_compat import on_action_replace
from stations.services import station_create
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)
OCPP_ID = "WEB-1"


@pytest.fixture(autouse=True)
def _short_response_timeout(settings):
    settings.CMS_OCPP_RESPONSE_TIMEOUT = 5


@sync_to_async
def setup_network(*drivers_with_money):
    """The station, a public tariff, and drivers; those named in ``drivers_with_money`` have a funded wallet."""
    from django.contrib.auth import get_user_model

    station = station_create(ocpp_id=OCPP_ID, password=DEFAULT_PASSWORD, name="Market Square")
    Tariff.objects.create(
        name="Public",
        currency="EUR",
        tax_rate=Decimal("19"),
        valid_from=datetime(2020, 1, 1, tzinfo=UTC),
        price_per_kwh=Decimal("0.40"),
    )
    users = get_user_model().objects
    admin = users.create_superuser(email="admin@example.com", password="admin-pass-123")
    drivers = {}
    for name in ("alice", "bob", "carol"):
        drivers[name] = users.create_user(email=f"{name}@example.com", password="driver-pass-123")
        if name in drivers_with_money:
            wallet_adjust(
                user=drivers[name], amount=Decimal("50"), reason="test credit", by=admin, reference=f"test-{name}"
            )
    return station, drivers


@contextlib.asynccontextmanager
async def charger(server, **configuration):
    """The simulated charge point: no drivers of its own, only remote starts; metering fast."""
    config = SimulatorConfig(
        url=f"{server.ws_url}/ocpp", connectors=1, autostart=False, meter_interval=0.15, reconnect_delay=0.2, seed=3
    )
    simulated = SimulatedStation(OCPP_ID, config)
    simulated.configuration.update(configuration)
    stop = asyncio.Event()
    task = asyncio.create_task(simulated.run(stop))
    try:
        await asyncio.wait_for(simulated.booted.wait(), 10)
        await until(
            lambda: Connector.objects.filter(station__ocpp_id=OCPP_ID, connector_id=1, status="Available").aexists()
        )
        yield simulated
    finally:
        stop.set()
        await task


async def logged_in(user) -> Client:
    client = Client()
    await sync_to_async(client.force_login)(user)
    return client


def page_url(connector_id=1):
    return reverse("charging:connector", args=[OCPP_ID, connector_id])


def start_url(connector_id=1):
    return reverse("charging:connector_start", args=[OCPP_ID, connector_id])


def live_url(connector_id=1):
    return reverse("charging:connector_live", args=[OCPP_ID, connector_id])


async def get(client, url, **kwargs):
    return await sync_to_async(client.get)(url, **kwargs)


async def post(client, url, **kwargs):
    return await sync_to_async(client.post)(url, **kwargs)


def text(response) -> str:
    return response.content.decode()


async def test_a_driver_starts_follows_and_stops_a_charge_from_the_connector_page(daphne_server):
    station, drivers = await setup_network("alice")
    alice = await logged_in(drivers["alice"])
    async with charger(daphne_server) as simulated:
        page = await get(alice, page_url())
        assert page.status_code == 200
        assert "Available" in text(page) and "Start charging" in text(page)
        assert "0.40" in text(page) and "per kWh" in text(page)  # the price before starting

        started = await post(alice, start_url(), follow=True)
        assert "Charging has started." in text(started) and "Stop charging" in text(started)
        session = await Transaction.objects.select_related("id_token").aget(station=station)
        # The driver's app token, issued on first use; the station sent it back and the authorisation
        # service accepted it like any card.
        token = session.id_token
        assert session.user_id == drivers["alice"].pk and session.status == "active"
        assert (token.type, token.owner_id, token.label) == ("Central", drivers["alice"].pk, "Voltgrid app")
        assert session.id_tag == token.token and len(token.token) <= 20
        assert await IdTokenEvent.objects.filter(
            id_token=token, kind="authorization", status="Accepted", station=station
        ).aexists()
        assert simulated.connectors[1].transaction_id == session.pk

        # The page follows the session: energy, power and cost so far appear as the station meters.
        async def metered():
            body = (await get(alice, live_url())).json()
            session_data = body["session"]
            return body if session_data and session_data["energy_wh"] > 0 and session_data["power_w"] else None

        live = await until(metered)
        assert live["state"] == "occupied" and live["session"]["id"] == session.pk
        assert (live["label"], live["message"]) == ("Charging", "This is your charge.")
        assert live["session"]["cost"].endswith("EUR") or "€" in live["session"]["cost"]

        stopped = await post(alice, reverse("charging:session_stop", args=[session.pk]), follow=True)
        assert "ending your session" in text(stopped)
        ended = await until(lambda: Transaction.objects.filter(pk=session.pk, status="completed").afirst())
        assert ended.stop_reason == "Remote"
        after = (await get(alice, live_url())).json()
        assert after["session"]["status"] == "completed" and after["session"]["energy_wh"] == ended.energy_wh
        assert "Your charge has ended" in text(await get(alice, page_url()))

        # The same app token serves the next start: one per driver.
        assert await IdToken.objects.filter(owner=drivers["alice"]).acount() == 1


async def test_another_driver_cannot_stop_my_session_nor_see_it(daphne_server):
    station, drivers = await setup_network("alice", "bob")
    alice, bob = await logged_in(drivers["alice"]), await logged_in(drivers["bob"])
    async with charger(daphne_server):
        await post(alice, start_url())
        session = await Transaction.objects.aget(station=station, status="active")

        refused = await post(bob, reverse("charging:session_stop", args=[session.pk]))
        assert refused.status_code == 404
        assert not await StationCommand.objects.filter(action="RemoteStopTransaction").aexists()
        seen_by_bob = (await get(bob, live_url())).json()
        assert seen_by_bob["session"] is None and seen_by_bob["state"] == "occupied"
        page = await get(bob, page_url())
        assert "Someone is charging here" in text(page) and "Stop charging" not in text(page)
        assert "Start charging" not in text(page)
        taken = await post(bob, start_url(), follow=True)
        assert "Someone is charging here right now." in text(taken)
        assert (await Transaction.objects.aget(pk=session.pk)).status == "active"


async def test_a_driver_charging_elsewhere_is_told_so_and_nothing_is_sent(daphne_server):
    station, drivers = await setup_network("alice")
    other = await sync_to_async(station_create)(ocpp_id="OTHER-1", password=DEFAULT_PASSWORD, name="Depot")
    await Transaction.objects.acreate(
        station=other,
        connector_id=2,
        user=drivers["alice"],
        id_tag="CARD-1",
        meter_start=0,
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    alice = await logged_in(drivers["alice"])
    async with charger(daphne_server):
        page = await get(alice, page_url())
        assert "You are already charging at Depot (connector 2)" in text(page)
        assert "Start charging" not in text(page)
        refused = await post(alice, start_url(), follow=True)
        assert "You are already charging at Depot (connector 2). Stop that session first." in text(refused)
        assert not await StationCommand.objects.filter(station=station).exclude(action="GetLocalListVersion").aexists()


async def test_a_station_refusing_the_start_is_reported_and_nothing_starts(daphne_server):
    station, drivers = await setup_network("alice")
    alice = await logged_in(drivers["alice"])
    async with charger(daphne_server) as simulated:
        simulated.connectors[1].operative = False  # switched off locally, not yet reported
        refused = await post(alice, start_url(), follow=True)

        assert "The charger refused to start." in text(refused)
        command = await StationCommand.objects.aget(station=station, action="RemoteStartTransaction")
        assert command.response == {"status": "Rejected"}
        assert not await Transaction.objects.filter(station=station).aexists()
        assert "Start charging" in text(refused)  # the driver may try again


async def test_a_station_not_answering_is_reported_as_such(daphne_server, settings):
    station, drivers = await setup_network("alice")
    settings.CMS_OCPP_RESPONSE_TIMEOUT = 0.5
    alice = await logged_in(drivers["alice"])
    async with charger(daphne_server) as simulated:

        async def never_answers(**_):
            await asyncio.sleep(3)

        on_action_replace(simulated, "RemoteStartTransaction", never_answers)
        refused = await post(alice, start_url(), follow=True)

        assert "The charger did not answer in time" in text(refused)
        command = await StationCommand.objects.aget(station=station, action="RemoteStartTransaction")
        assert command.status == "timeout"
        assert not await Transaction.objects.filter(station=station).aexists()


async def test_a_driver_whose_app_access_is_blocked_cannot_start(daphne_server):
    station, drivers = await setup_network("alice")
    alice = await logged_in(drivers["alice"])
    async with charger(daphne_server):
        await post(alice, start_url())
        session = await Transaction.objects.select_related("id_token").aget(station=station)
        await post(alice, reverse("charging:session_stop", args=[session.pk]))
        await until(lambda: Transaction.objects.filter(pk=session.pk, status="completed").aexists())
        # The connector is free again (the station reports Available after the stop): only the token stands in the way.
        await until(lambda: Connector.objects.filter(station=station, connector_id=1, status="Available").aexists())
        await sync_to_async(id_token_block)(id_token=session.id_token, source=IdTokenEvent.Source.PORTAL)

        refused = await post(alice, start_url(), follow=True)
        assert "Starting from this page is switched off for your account" in text(refused)
        assert await StationCommand.objects.filter(action="RemoteStartTransaction").acount() == 1


async def test_a_driver_without_a_payment_method_is_told_how_to_fix_it(daphne_server):
    _, drivers = await setup_network()  # nobody has money
    carol = await logged_in(drivers["carol"])
    async with charger(daphne_server):
        page = await get(carol, page_url())
        assert "Your wallet is empty" in text(page) and "Start charging" not in text(page)
        assert reverse("billing:overview") in text(page)
        refused = await post(carol, start_url(), follow=True)
        assert "Your wallet is empty" in text(refused)
        assert not await StationCommand.objects.filter(action="RemoteStartTransaction").aexists()
        assert not await IdToken.objects.filter(owner=drivers["carol"]).aexists()  # no token issued for nothing


async def test_an_offline_station_is_shown_and_not_started(daphne_server):
    station, drivers = await setup_network("alice")
    alice = await logged_in(drivers["alice"])
    async with charger(daphne_server):
        pass  # it connected once (its connector is known), and has gone
    await until(lambda: Station.objects.filter(pk=station.pk, is_online=False).aexists())

    page = await get(alice, page_url())
    assert "Offline" in text(page) and "This charger is offline right now" in text(page)
    assert "Start charging" not in text(page)
    refused = await post(alice, start_url(), follow=True)
    assert "This charger is offline right now" in text(refused)
    assert not await StationCommand.objects.filter(action="RemoteStartTransaction").aexists()
    assert (await get(alice, live_url())).json()["state"] == "offline"


async def test_an_anonymous_visitor_sees_the_status_and_a_login_link_back_to_the_page(daphne_server):
    await setup_network()
    visitor = Client()
    async with charger(daphne_server):
        page = await get(visitor, page_url())
        assert page.status_code == 200 and "Available" in text(page)
        login = reverse("account_login") + "?next=" + page_url().replace("/", "%2F")
        assert login in text(page) and "Start charging" not in text(page)

        live = (await get(visitor, live_url())).json()
        assert (live["state"], live["session"], live["station_online"]) == ("free", None, True)
        attempt = await post(visitor, start_url())
        assert attempt.status_code == 302 and attempt["Location"].startswith(reverse("account_login"))
        assert not await StationCommand.objects.filter(action="RemoteStartTransaction").aexists()

"""Two daphne nodes behind HAProxy (the repository's deploy/haproxy.cfg) serve one network: stations connect
through the balancer and land on both; the live board on one node shows the other's stations; a command
sent from either node reaches a station the other holds; when a node is killed its stations come back
through the balancer on the survivor; the worker prices every session; nothing accepted is lost."""

import asyncio
import contextlib
import json
import shutil
import signal
import time

import pytest
import requests
import websockets
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result

from tests.factories import STATION_PASSWORD
from tests.faults.balancer import Balancer, haproxy_config
from tests.faults.fleet import Fleet
from tests.faults.test_scenarios import checked
from tests.waiting import until

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

FLEET_SIZE = 8


class AnsweringChargePoint(ChargePoint):
    """A fleet station that answers GetConfiguration with its own id: the answer shows who received the call."""

    @on("GetConfiguration")
    def on_get_configuration(self, **_):
        return call_result.GetConfiguration(configuration_key=[{"key": "Identity", "readonly": True, "value": self.id}])


def test_the_test_config_is_the_shipped_one_with_our_addresses():
    shipped = "global\n    maxconn 10\nfrontend f\n    bind :8000\nbackend b\n    server a1 10.0.0.1:8001\n"
    assert haproxy_config(shipped, port=5, nodes=[7, 8]) == (
        "global\n    maxconn 10\nfrontend f\n    bind 127.0.0.1:5\nbackend b\n"
        "    server node1 127.0.0.1:7\n    server node2 127.0.0.1:8\n"
    )


@sync_to_async
def holders(ids: list[str]) -> dict[str, int]:
    """Station id -> pid of the daphne process holding its socket, for the online ones."""
    from stations.models import Station

    return dict(
        Station.objects.filter(ocpp_id__in=ids, is_online=True, node__isnull=False).values_list("ocpp_id", "node__pid")
    )


async def held_when(ids: list[str], condition) -> dict[str, int]:
    """``holders(ids)`` once ``condition`` holds of it, else an empty dict (for polling with ``until``)."""
    held = await holders(ids)
    return held if condition(held) else {}


@sync_to_async
def api_token_and_cookie() -> tuple[str, str]:
    """An operator admin's API token and portal session (for the live board)."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    admin = get_user_model().objects.create_superuser(email="lb-admin@example.com", password="lb-admin-pass-1")
    client = Client()
    client.force_login(admin)
    return Token.objects.create(user=admin).key, client.cookies[settings.SESSION_COOKIE_NAME].value


async def identity_via(base_url: str, token: str, station: str) -> str:
    """Send GetConfiguration to ``station`` through the node (or balancer) at ``base_url``; who answered."""
    response = await asyncio.to_thread(
        requests.post,
        f"{base_url}/api/stations/{station}/calls/",
        json={"action": "GetConfiguration", "payload": {"key": ["Identity"]}},
        headers={"Authorization": f"Token {token}"},
        timeout=15,
    )
    assert response.status_code == 200, f"{base_url} -> {station}: {response.status_code} {response.text}"
    return response.json()["response"]["configurationKey"][0]["value"]


@contextlib.asynccontextmanager
async def live_board(node, cookie: str):
    """The live board's socket on ``node``; every event it receives is appended to the yielded list."""
    headers = {"Origin": node.http_url, "Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"}
    events: list[dict] = []
    async with websockets.connect(f"{node.ws_url}/ws/live/", additional_headers=headers) as socket:

        async def read():
            async for message in socket:
                events.append(json.loads(message))

        reader = asyncio.create_task(read())
        try:
            yield events
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


def seen_from(events: list[dict], stations: set[str], since: int = 0) -> set[str]:
    return {e.get("station") for e in events[since:]} & stations


async def test_two_nodes_behind_the_balancer_serve_one_network_and_a_killed_nodes_stations_move(
    node_servers, fleet_ids, pricing_worker
):
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (scripts/test-faults installs it with apt-get as root)")
    started = time.monotonic()
    ids = await sync_to_async(fleet_ids)(FLEET_SIZE, prefix="LB")
    token, cookie = await api_token_and_cookie()
    board_node, doomed = await sync_to_async(node_servers)(), await sync_to_async(node_servers)()
    with Balancer([board_node.port, doomed.port]) as balancer:
        await sync_to_async(balancer.wait_until_all_up)()
        health = await asyncio.to_thread(requests.get, f"{balancer.http_url}/healthz", timeout=5)
        assert health.json()["status"] == "ok"
        fleet = Fleet(ids, STATION_PASSWORD, lambda i: [balancer.ws_url])
        for station in fleet.stations:
            station.charge_point_class = AnsweringChargePoint
        async with live_board(board_node, cookie) as events:
            fleet.start()
            try:
                await fleet.connected()
                held = await until(
                    lambda: held_when(ids, lambda h: len(h) == FLEET_SIZE),
                    within=10,
                    what="every station recorded on its node",
                )
                survivor = board_node.process.pid
                assert set(held.values()) == {survivor, doomed.process.pid}, f"all on one node: {held}"
                on_board_node = {s for s, pid in held.items() if pid == survivor}
                on_doomed = set(held) - on_board_node

                # The board on one node follows the stations the other node holds.
                await until(lambda: seen_from(events, on_doomed), within=10, what="events of the other node's stations")
                # A command from either node reaches a station held by the other, and through the balancer too.
                some_on_doomed, some_on_board_node = sorted(on_doomed)[0], sorted(on_board_node)[0]
                assert await identity_via(board_node.http_url, token, some_on_doomed) == some_on_doomed
                assert await identity_via(doomed.http_url, token, some_on_board_node) == some_on_board_node
                assert await identity_via(balancer.http_url, token, some_on_doomed) == some_on_doomed

                await asyncio.sleep(2)  # sessions in progress on both nodes
                before_kill = len(events)
                killed_at = time.monotonic()
                doomed.process.send_signal(signal.SIGKILL)  # no goodbye: only what was committed survives
                await sync_to_async(doomed.process.wait)(10)
                moved = [s for s in fleet.stations if s.id in on_doomed]
                await until(
                    lambda: held_when(
                        ids,
                        lambda h: (
                            len(h) == FLEET_SIZE
                            and set(h.values()) == {survivor}
                            and all(s.connections >= 2 and s.connected.is_set() for s in moved)
                        ),
                    ),
                    within=20,
                    what="the killed node's stations reconnected, booted and held by the survivor",
                )
                moved_in = round(time.monotonic() - killed_at, 1)
                await fleet.backlog_delivered()

                # The moved stations go on: on the board, and answering commands.
                await until(
                    lambda: seen_from(events, on_doomed, since=before_kill) == on_doomed,
                    within=20,
                    what="events of every moved station on the board",
                )
                assert await identity_via(balancer.http_url, token, some_on_doomed) == some_on_doomed
                await asyncio.sleep(2)
                await fleet.finish()
            finally:
                await fleet.close()
    figures = await checked(fleet, started, moved_in=moved_in, stations_moved=len(on_doomed))
    assert figures["completed"] >= FLEET_SIZE

"""A daphne node killed outright: its stations go offline once its lease expires, and commands to them fail fast."""

import contextlib
import signal
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from stations.models import Node, Station, StationCommand
from stations.nodes import node_lease_acquire, node_lease_renew
from stations.protocol.commands import station_call
from stations.tasks import sweep_dead_nodes
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

LEASE_SECONDS, RENEW_SECONDS = 3.0, 0.5
# The servers' lease settings; the answer timeout is long, so that a command that waits for it shows.
NODE_ENV = {
    "CMS_OCPP_NODE_LEASE_SECONDS": str(LEASE_SECONDS),
    "CMS_OCPP_NODE_RENEW_SECONDS": str(RENEW_SECONDS),
    "CMS_OCPP_RESPONSE_TIMEOUT": "10",
}


@pytest.fixture
def lease_settings(settings):
    """This process (the API's and the sweep's) reads the same lease time as the servers."""
    settings.CMS_OCPP_NODE_LEASE_SECONDS = LEASE_SECONDS
    settings.CMS_OCPP_RESPONSE_TIMEOUT = 10


def kill(server) -> None:
    server.process.send_signal(signal.SIGKILL)  # no disconnect handling, no goodbye
    server.process.wait(timeout=10)


async def station(ocpp_id: str) -> Station:
    return await Station.objects.aget(ocpp_id=ocpp_id)


async def online(ocpp_id: str) -> bool:
    return (await station(ocpp_id)).is_online


async def lease_ended(pk: int) -> bool:
    return not await Node.objects.filter(pk=pk).aexists()


@pytest.mark.django_db(transaction=True)
async def test_a_killed_nodes_stations_go_offline_and_those_of_live_nodes_stay_online(
    node_servers,
    make_station,
    lease_settings,
):
    for ocpp_id in ("CP-A", "CP-B", "CP-MOVES"):
        await sync_to_async(make_station)(ocpp_id)
    node_a, node_b = node_servers(**NODE_ENV), node_servers(**NODE_ENV)
    async with contextlib.AsyncExitStack() as stack:
        # CP-B keeps its socket alive with WebSocket pings only: it sends no Heartbeat in this test.
        await stack.enter_async_context(ocpp_connection(node_b, "CP-B", STATION_PASSWORD))
        async with (
            ocpp_connection(node_a, "CP-A", STATION_PASSWORD),
            ocpp_connection(node_a, "CP-MOVES", STATION_PASSWORD),
        ):
            for ocpp_id in ("CP-A", "CP-B", "CP-MOVES"):
                await until(lambda ocpp_id=ocpp_id: online(ocpp_id), what=f"{ocpp_id} online")
            lease_a = (await station("CP-A")).node_id
            assert lease_a is not None and (await station("CP-B")).node_id not in (None, lease_a)
            kill(node_a)
            killed_at = time.monotonic()
        # One station comes back at once, on the other node, while the dead node's lease still runs.
        await stack.enter_async_context(ocpp_connection(node_b, "CP-MOVES", STATION_PASSWORD))
        await until(
            lambda: Station.objects.filter(ocpp_id="CP-MOVES", node__isnull=False).exclude(node_id=lease_a).aexists(),
            what="CP-MOVES held by node B",
        )

        # Node B, renewing its own lease, finds A's expired and records A's stations offline.
        await until(lambda: lease_ended(lease_a), within=LEASE_SECONDS + 10, what="A's lease swept")
        offline_after = time.monotonic() - killed_at
        cp_a = await station("CP-A")
        assert (cp_a.is_online, cp_a.channel_name) == (False, "")
        assert await online("CP-B") and await online("CP-MOVES")
        assert (await station("CP-MOVES")).node_id == (await station("CP-B")).node_id
        # Well within a lease and a few renewals (the machine may be loaded).
        assert offline_after < LEASE_SECONDS + 8

        # A station heard only through pings is still seen: node B moves its last_seen_at on.
        an_hour_ago = timezone.now() - timedelta(hours=1)
        await Station.objects.filter(ocpp_id="CP-B").aupdate(last_seen_at=an_hour_ago)
        await until(
            lambda: Station.objects.filter(ocpp_id="CP-B", last_seen_at__gt=an_hour_ago).aexists(),
            what="CP-B's last_seen_at refreshed by its node",
        )
        command = await station_call(station=cp_a, action="ClearCache", payload={})
        assert command.status == StationCommand.Status.OFFLINE


@pytest.mark.django_db(transaction=True)
async def test_a_command_to_a_station_whose_node_was_killed_answers_409_at_once(
    node_servers,
    make_station,
    operator_admin,
    lease_settings,
):
    await sync_to_async(make_station)("CP-1")
    node = node_servers(**NODE_ENV)
    async with ocpp_connection(node, "CP-1", STATION_PASSWORD):
        await until(lambda: online("CP-1"), what="CP-1 online")
        lease = (await station("CP-1")).node_id
        kill(node)
    expired = timezone.now() + timedelta(seconds=LEASE_SECONDS)
    await until(lambda: timezone.now() > expired, within=LEASE_SECONDS + 2, what="the lease time passed")
    # Nobody has swept (no other node, no beat here): the database still says online.
    assert await online("CP-1") and not await lease_ended(lease)

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {(await Token.objects.acreate(user=operator_admin)).key}")
    started = time.monotonic()
    response = await sync_to_async(client.post, thread_sensitive=False)(
        "/api/stations/CP-1/calls/", {"action": "ClearCache", "payload": {}}, format="json"
    )
    answered_in = time.monotonic() - started

    assert response.status_code == 409, response.content
    assert "stopped" in response.json()["error_description"]
    # Not after the response timeout (10 s) with a 504: the lease told at once.
    assert answered_in < 5
    assert not await online("CP-1") and await lease_ended(lease)


def _lease(name: str, *, host="node-host", pid=1, renewed_ago=timedelta(0)) -> Node:
    now = timezone.now()
    return Node.objects.create(
        name=name, host=host, pid=pid, started_at=now - renewed_ago, renewed_at=now - renewed_ago
    )


def _hold(station: Station, node: Node, channel_name: str) -> None:
    Station.objects.filter(pk=station.pk).update(is_online=True, channel_name=channel_name, node=node)


@pytest.mark.django_db
def test_a_node_starting_on_the_host_and_pid_of_a_dead_one_records_that_ones_stations_offline(make_station):
    predecessor, neighbour = _lease("node-host:1:old"), _lease("other-host:1:x", host="other-host")
    _hold(make_station("CP-OLD"), predecessor, "specific.old!1")
    _hold(make_station("CP-NEIGHBOUR"), neighbour, "specific.x!1")

    node_lease_acquire(name="node-host:1:new", channel_prefix="specific.new!", host="node-host", pid=1)

    assert not Station.objects.get(ocpp_id="CP-OLD").is_online
    assert Station.objects.get(ocpp_id="CP-NEIGHBOUR").is_online
    assert set(Node.objects.values_list("name", flat=True)) == {"node-host:1:new", "other-host:1:x"}


@pytest.mark.django_db
def test_the_beat_sweep_ends_expired_leases_only_and_spares_a_station_that_moved(make_station, settings):
    settings.CMS_OCPP_NODE_LEASE_SECONDS = 30
    dead, alive = _lease("a:1:x", renewed_ago=timedelta(seconds=31)), _lease("b:2:y", pid=2)
    _hold(make_station("CP-DEAD"), dead, "specific.x!1")
    _hold(make_station("CP-ALIVE"), alive, "specific.y!1")
    _hold(make_station("CP-MOVED"), alive, "specific.y!2")  # was on the dead node, reconnected to the live one

    assert sweep_dead_nodes() == 1

    assert list(Station.objects.filter(is_online=True).values_list("ocpp_id", flat=True)) == ["CP-ALIVE", "CP-MOVED"]
    assert list(Node.objects.values_list("name", flat=True)) == ["b:2:y"]
    assert sweep_dead_nodes() == 0


@pytest.mark.django_db
def test_a_renewal_finds_out_that_its_node_was_taken_for_dead(make_station):
    node = _lease("c:3:z", pid=3)
    assert node_lease_renew(node=node)
    Node.objects.filter(pk=node.pk).delete()  # swept by another node
    assert not node_lease_renew(node=node)


@pytest.mark.django_db
def test_a_restarted_node_records_all_its_predecessors_stations_offline_in_a_few_statements(
    make_station, django_assert_max_num_queries
):
    """A node restarted under thousands of stations must not hold up their reconnect storm with an UPDATE each."""
    predecessor = _lease("node-host:1:old")
    for n in range(50):
        _hold(make_station(f"CP-{n}", password=None), predecessor, f"specific.old!{n}")
    with django_assert_max_num_queries(15):  # the same for 5 stations; one UPDATE each was 50 more
        node_lease_acquire(name="node-host:1:new", channel_prefix="specific.new!", host="node-host", pid=1)
    assert not Station.objects.filter(is_online=True).exists()
    assert set(Station.objects.values_list("channel_name", flat=True)) == {""}

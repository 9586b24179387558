"""A process with more handshakes waiting than it serves in time refuses the excess at once, with 503 and
Retry-After (a station takes that as "later", not as wrong credentials), and takes stations in again as the
queue drains."""

import asyncio

import psycopg
import pytest
import websockets
from asgiref.sync import sync_to_async

from stations.consumers import HANDSHAKES_AT_ONCE, HandshakeSlots
from stations.models import Station
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import basic_auth_header, handshake_status


@pytest.mark.django_db(transaction=True)
async def test_a_crowded_process_answers_503_with_retry_after(node_servers, make_station):
    await sync_to_async(make_station)("CP-1")
    crowded = node_servers(CMS_OCPP_HANDSHAKES_WAITING="0")  # always crowded
    headers = basic_auth_header("CP-1", STATION_PASSWORD)
    for subprotocols in (["ocpp1.6"], ["ocpp2.0.1"]):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(
                f"{crowded.ws_url}/ocpp/CP-1", subprotocols=subprotocols, additional_headers=headers
            ):
                pass
        assert refused.value.response.status_code == 503
        assert refused.value.response.headers["Retry-After"] == "10"
    roomy = node_servers()
    assert await handshake_status(roomy, "CP-1", headers) == 101


async def test_the_slots_count_the_handshakes_waiting(settings):
    settings.CMS_OCPP_HANDSHAKES_WAITING = 2
    slots = HandshakeSlots(1)
    await slots.acquire()
    waiters = [asyncio.create_task(slots.acquire()) for _ in range(2)]
    await asyncio.sleep(0)
    assert slots.waiting == 2 and slots.crowded()
    waiters[0].cancel()  # a station that gave up stops counting
    await asyncio.sleep(0)
    assert slots.waiting == 1 and not slots.crowded()
    slots.release()
    await waiters[1]
    assert slots.waiting == 0


@pytest.mark.django_db(transaction=True)
async def test_a_handshake_that_waited_past_the_limit_is_refused_and_a_fresh_one_served(node_servers, make_station):
    """All slots held by logins stuck on a locked station table: the handshake queued behind them waits past
    CMS_OCPP_HANDSHAKE_MAX_WAIT_SECONDS and, at its turn, is refused 503 unseen; the next, fresh, is accepted."""
    await sync_to_async(make_station)("CP-1")
    server = node_servers(CMS_OCPP_HANDSHAKE_MAX_WAIT_SECONDS="1")
    headers = basic_auth_header("CP-1", STATION_PASSWORD)
    assert await handshake_status(server, "CP-1", headers) == 101  # the server is up and warm
    with psycopg.connect(**own_database_connection()) as locker:
        locker.execute(f"LOCK TABLE {Station._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        holders = [asyncio.create_task(handshake_status(server, "CP-1", headers)) for _ in range(HANDSHAKES_AT_ONCE)]
        await asyncio.sleep(0.5)  # every slot taken, its login waiting for the lock
        stale = asyncio.create_task(handshake_status(server, "CP-1", headers))
        await asyncio.sleep(2)  # past the limit, in the queue
        assert not stale.done()
        locker.rollback()
    assert await asyncio.gather(*holders) == [101] * HANDSHAKES_AT_ONCE
    assert await stale == 503
    assert await handshake_status(server, "CP-1", headers) == 101


def own_database_connection() -> dict:
    """A connection of its own to the test database (the lock must outlive this test's awaits)."""
    from django.db import connection

    database = connection.settings_dict
    given = {"dbname": database["NAME"], "user": database["USER"], "password": database["PASSWORD"]}
    given |= {"host": database["HOST"], "port": database["PORT"]}
    return {name: value for name, value in given.items() if value}

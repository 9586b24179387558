"""Fault scenarios: a fleet runs sessions while a node, the database or Redis fails; afterwards the
database holds exactly what the stations were answered (see ``tests.faults.fleet.ledger_check``)."""

import asyncio
import random
import time
from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async

from tests.conftest import _free_port
from tests.factories import STATION_PASSWORD
from tests.faults.conftest import PRICE_PER_KWH
from tests.faults.fleet import STEP_WH, Fleet, Queued, iso, ledger_check, meter_values, sessions_priced, tag_of

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

# How long PostgreSQL or Redis stays away (the issue asks for 30 s).
OUTAGE_SECONDS = 30
FLEET_SIZE = 12


def now() -> datetime:
    return datetime.now(UTC)


async def checked(fleet: Fleet, started: float) -> dict:
    figures = await sync_to_async(sessions_priced)(within=20)
    figures |= await sync_to_async(ledger_check)(fleet.ledger, price_per_kwh=PRICE_PER_KWH)
    figures["seconds"] = round(time.monotonic() - started, 1)
    print("\nfigures:", figures)  # the lane runs with -s: the figures of each scenario
    return figures


async def test_a_fleet_without_faults_matches_its_ledger(nodes, fleet_ids, pricing_worker):
    """The control: with nothing failing, the ledger check holds (and a broken check would show here first)."""
    started = time.monotonic()
    ids = await sync_to_async(fleet_ids)(FLEET_SIZE)
    node = await sync_to_async(nodes)()
    fleet = Fleet(ids, STATION_PASSWORD, lambda i: [node.ws_url])
    fleet.start()
    try:
        await fleet.connected()
        await asyncio.sleep(4)
        await fleet.finish()
    finally:
        await fleet.close()
    figures = await checked(fleet, started)
    assert figures["callerrors"] == {} and figures["lost"] == {}
    assert figures["completed"] >= FLEET_SIZE


async def _deliver_offline_queue_twice_out_of_order(station, node_url: str, dead_url: str, rng) -> list:
    """Session A starts online; offline the station queues 18 readings and the stop of A and the start of
    B (20 messages); back online it delivers the whole queue twice, each time in another order."""
    start_a = station.enqueue(
        "StartTransaction",
        lambda: {"connector_id": 1, "id_tag": tag_of(station.id), "meter_start": 1_000_000, "timestamp": iso(now())},
        "A",
    )
    await station.drained()
    transaction_a = station.transaction_ids["A"]

    station.urls = [dead_url]
    await station.close_connection()
    while station.connected.is_set():
        await asyncio.sleep(0.05)
    offline = []
    for n in range(1, 19):
        await asyncio.sleep(0.01)  # distinct timestamps, as a real meter's interval gives
        payload = meter_values(transaction_a, 1, 1_000_000 + n * STEP_WH, now())
        offline.append(Queued("MeterValues", f"{station.id}/offline/{n}", None, "A", payload))
    stop_a = {
        "transaction_id": transaction_a,
        "meter_stop": 1_000_000 + 19 * STEP_WH,
        "timestamp": iso(now()),
        "id_tag": tag_of(station.id),
        "reason": "Local",
    }
    offline.append(Queued("StopTransaction", f"{station.id}/offline/stop-A", None, "A", stop_a))
    start_b = {"connector_id": 2, "id_tag": tag_of(station.id), "meter_start": 2_000_000, "timestamp": iso(now())}
    offline.append(Queued("StartTransaction", f"{station.id}/offline/start-B", None, "B", start_b))
    assert len(offline) == 20 and start_a.payload is not None

    station.urls = [node_url]
    await asyncio.wait_for(station.connected.wait(), 15)
    outcomes = []
    for _ in range(2):
        outcomes += await station.replay(rng.sample(offline, len(offline)))
    station.transaction_ids["B"] = next(o.result["transaction_id"] for o in outcomes if o.key.endswith("start-B"))

    # B carries on online and ends normally.
    for n in (1, 2):
        station.enqueue(
            "MeterValues",
            lambda n=n: meter_values(station.transaction_ids["B"], 2, 2_000_000 + n * STEP_WH, now()),
            "B",
        )
        await asyncio.sleep(0.01)
    station.enqueue(
        "StopTransaction",
        lambda: {
            "transaction_id": station.transaction_ids["B"],
            "meter_stop": 2_000_000 + 3 * STEP_WH,
            "timestamp": iso(now()),
            "reason": "Local",
        },
        "B",
    )
    await station.drained()
    return outcomes


async def test_offline_queues_replayed_twice_out_of_order_count_once(nodes, fleet_ids, pricing_worker):
    started = time.monotonic()
    ids = await sync_to_async(fleet_ids)(5, prefix="RPL")
    node = await sync_to_async(nodes)()
    dead_url = f"ws://127.0.0.1:{_free_port()}"  # nothing listens there: the station is offline
    fleet = Fleet(ids, STATION_PASSWORD, lambda i: [node.ws_url])
    fleet.start(sessions=False)
    try:
        await fleet.connected()
        rng = random.Random(17)  # a reproducible order
        replays = await asyncio.wait_for(
            asyncio.gather(
                *(_deliver_offline_queue_twice_out_of_order(s, node.ws_url, dead_url, rng) for s in fleet.stations)
            ),
            60,
        )
    finally:
        await fleet.close()

    for outcomes in replays:
        refused = [(o.action, o.error or o.lost) for o in outcomes if o.result is None]
        assert refused == [], f"replayed messages not answered with a CALLRESULT: {refused}"
    figures = await checked(fleet, started)
    assert (figures["sessions"], figures["completed"], figures["meter_samples"]) == (10, 10, 5 * 20)
    assert figures["replayed"] == 5 * 20

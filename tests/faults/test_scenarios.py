"""Fault scenarios: a fleet runs sessions while a node, the database or Redis fails; afterwards the
database holds exactly what the stations were answered (see ``tests.faults.fleet.ledger_check``)."""

import asyncio
import logging
import time

import pytest
from asgiref.sync import sync_to_async

from tests.factories import STATION_PASSWORD
from tests.faults.conftest import PRICE_PER_KWH
from tests.faults.fleet import Fleet, ledger_check, sessions_priced

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]
logger = logging.getLogger(__name__)

# How long PostgreSQL or Redis stays away (the issue asks for 30 s).
OUTAGE_SECONDS = 30
FLEET_SIZE = 12


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

"""A simulated charge point for the browser tests: Playwright's sync API owns the test's thread and its event
loop, so the station runs its own loop in a thread of its own, against the live daphne server."""

import asyncio
import contextlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from simulator import SimulatedStation, SimulatorConfig
from stations.models import Connector
from tests.waiting import until_sync


@dataclass
class Charger:
    """The running station and its event loop: ``do`` runs one of its (loop-bound) methods there."""

    station: SimulatedStation
    loop: asyncio.AbstractEventLoop

    def do(self, method, *args, **kwargs) -> None:
        self.loop.call_soon_threadsafe(lambda: method(*args, **kwargs))


@contextlib.contextmanager
def charger_running(
    server, ocpp_id: str, *, connectors: int = 1, meter_interval: float = 1.0, station_class=SimulatedStation
):
    """The station (``station_class``: the 1.6 simulator, or ``SimulatedStation201``), booted with its connectors
    Available, until the block ends; only remote starts charge."""
    config = SimulatorConfig(
        url=f"{server.ws_url}/ocpp",
        connectors=connectors,
        autostart=False,
        meter_interval=meter_interval,
        reconnect_delay=0.2,
        seed=3,
    )
    station = station_class(ocpp_id, config)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    def serve():
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(station.run(stop))
        except BaseException as error:  # reported to the test instead of dying silently in the thread
            failure.append(error)

    thread = threading.Thread(target=serve, name=f"charger-{ocpp_id}", daemon=True)
    thread.start()
    try:
        booted = asyncio.run_coroutine_threadsafe(asyncio.wait_for(station.booted.wait(), 15), loop)
        booted.result(timeout=20)
        until_sync(
            lambda: (
                Connector.objects.filter(station__ocpp_id=ocpp_id, connector_id__gte=1, status="Available").count()
                == connectors
            ),
            within=15,
            what=f"{ocpp_id}'s connectors Available",
        )
        yield Charger(station, loop)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=20)
        loop.close()
    assert not failure, failure


@contextlib.contextmanager
def billing_worker_running(name: str):
    """A Celery worker of its own pricing and invoicing the sessions the server queues on the Redis broker."""
    from tests.billing.test_worker import start_worker, stop

    worker = start_worker("celery", f"test-{name}-worker.log")
    try:
        yield worker
    finally:
        stop(worker)


def public_tariff_and_operator(**operator_fields) -> None:
    """The public tariff, and an operator whose legal details are complete so that invoices go out."""
    from billing.models import Operator, Tariff

    Tariff.objects.create(
        name="Public",
        currency="EUR",
        tax_rate=Decimal("19"),
        valid_from=datetime(2020, 1, 1, tzinfo=UTC),
        price_per_kwh=Decimal("0.40"),
    )
    Operator.objects.create(
        name="Voltgrid Energy",
        legal_name="Voltgrid Energy GmbH",
        address="Hauptstr. 1\n10115 Berlin",
        vat_id="DE136695976",
        invoice_prefix="VG-",
        is_default=True,
        **operator_fields,
    )

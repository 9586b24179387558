"""OCPP 2.0.1 I Tariff and cost over the wire: the driver's tariff in idTokenInfo.personalMessage, the running
cost (CostUpdated) while the session runs and its final cost (totalCost) in the Ended answer, all from the
pricing engine that makes the SessionCharge and the invoice line; and the unhappy paths (no tariff, a station
refusing CostUpdated, the throttle)."""

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from ocpp.exceptions import InternalError
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from accounts.models import IdToken
from billing.models import InvoiceLine, Operator, SessionCharge, Tariff
from billing.money import tax_of
from billing.pricing import TariffSpec, Usage, price_session
from sessions.models import Transaction
from stations.models import OcppMessage, StationCommand
from stations.protocol.framing import CALL, CALL_ERROR, CALL_RESULT
from tests.conftest import module_daphne, settle_before_teardown
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)

TAG = {"id_token": "TAG-1", "type": "ISO14443"}
# Recent enough to be plausible and priceable, whole minutes for readable expectations.
T0 = (datetime.now(UTC) - timedelta(hours=2)).replace(second=0, microsecond=0)
PRICE_TEXT = "Price: 0.40 EUR per kWh, 0.10 EUR per minute, 1.00 EUR per session (plus 19 % tax)."


@pytest.fixture(scope="module")
def cost_server(django_db_setup, django_db_blocker):
    """A daphne of this module's own that sends a running cost with every metered Updated event."""
    yield from module_daphne(django_db_blocker, CMS_OCPP_COST_UPDATE_SECONDS="0")


@pytest.fixture(autouse=True)
def cost_server_settles(request):
    """As ``server_settles_before_teardown`` does for the shared server: its last writes end before the flush."""
    yield from settle_before_teardown(request, "cost_server")


class CostStation(ChargePoint):
    """A 2.0.1 station showing the running costs it is sent (or refusing them, with ``refuse``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.costs: list[tuple[Decimal, str]] = []
        self.refuse = False

    @on(Action.cost_updated)
    def on_cost_updated(self, total_cost, transaction_id, **_):
        if self.refuse:
            raise InternalError("display broken")
        self.costs.append((Decimal(str(total_cost)), transaction_id))
        return call_result.CostUpdated()


@pytest.fixture
def station(make_station):
    return make_station("CP-1")


@pytest.fixture
def card(driver):
    return IdToken.objects.create(token="TAG-1", owner=driver)


@pytest.fixture
def tariff(db) -> TariffSpec:
    """The public tariff, as the engine reads it; its operator bills monthly statements."""
    Operator.objects.create(
        name="Voltgrid", is_default=True, timezone="UTC", invoicing_mode=Operator.InvoicingMode.MONTHLY
    )
    tariff = Tariff.objects.create(
        name="Standard",
        currency="EUR",
        tax_rate=Decimal("19"),
        valid_from=datetime(2020, 1, 1, tzinfo=UTC),
        price_per_kwh=Decimal("0.40"),
        price_per_minute=Decimal("0.10"),
        start_fee=Decimal("1.00"),
    )
    return TariffSpec.from_model(tariff, "UTC")


def connect(server):
    return ocpp_connection(server, "CP-1", STATION_PASSWORD, subprotocols=("ocpp2.0.1",), client_class=CostStation)


def register(minutes: int, wh: int, context: str = "Sample.Periodic") -> dict:
    return {
        "timestamp": (T0 + timedelta(minutes=minutes)).isoformat(),
        "sampled_value": [
            {"value": wh, "context": context, "measurand": "Energy.Active.Import.Register"},
        ],
    }


def event(event_type, seq_no, minutes, trigger_reason, **fields):
    info = {"transaction_id": "TX-1"} | fields.pop("transaction_info", {})
    return call.TransactionEvent(
        event_type=event_type,
        timestamp=(T0 + timedelta(minutes=minutes)).isoformat(),
        trigger_reason=trigger_reason,
        seq_no=seq_no,
        transaction_info=info,
        **fields,
    )


def started():
    return event("Started", 0, 0, "Authorized", id_token=TAG, evse={"id": 1}, meter_value=[register(0, 1000)])


def updated(seq_no, minutes, wh):
    return event("Updated", seq_no, minutes, "MeterValuePeriodic", meter_value=[register(minutes, wh)])


def ended(seq_no, minutes, wh):
    return event(
        "Ended",
        seq_no,
        minutes,
        "EVCommunicationLost",
        transaction_info={"stopped_reason": "EVDisconnected"},
        meter_value=[register(minutes, wh, "Transaction.End")],
    )


def engine_price(tariff: TariffSpec, minutes: int, wh: int) -> Decimal:
    """The engine's gross price of ``wh`` delivered evenly over the first ``minutes``."""
    until_then = T0 + timedelta(minutes=minutes)
    usage = Usage(started_at=T0, ended_at=until_then, curve=((T0, 0), (until_then, wh)))
    return price_session(tariff, usage).gross


async def cost_frames(count: int) -> list[tuple[str, int, str]] | None:
    """The CostUpdated frames in the message log once there are ``count``, in order: (direction, type, error)."""
    frames = OcppMessage.objects.filter(action="CostUpdated").order_by("created_at", "pk")
    logged = [(frame.direction, frame.message_type, frame.error_code) async for frame in frames]
    return logged if len(logged) >= count else None


async def test_the_driver_sees_their_tariff_the_running_cost_and_the_final_cost_the_invoice_bills(
    cost_server, station, card, tariff
):
    async with connect(cost_server) as cp:
        authorized = await cp.call(call.Authorize(id_token=TAG))
        start = await cp.call(started())
        await cp.call(updated(1, 10, 2000))
        await cp.call(updated(2, 20, 3500))
        await until(lambda: len(cp.costs) == 2, what="two running costs")
        end = await cp.call(ended(3, 30, 5000))
    for answer in (authorized.id_token_info, start.id_token_info):
        assert answer["status"] == "Accepted"
        assert answer["personal_message"] == {"format": "UTF8", "language": "en", "content": f"Welcome. {PRICE_TEXT}"}
    # 1 kWh in 10 min, then 2.5 kWh in 20 min: 2.40 and 4.00 net, plus tax.
    assert cp.costs == [(Decimal("2.86"), "TX-1"), (Decimal("4.76"), "TX-1")]
    assert [cost for cost, _ in cp.costs] == [engine_price(tariff, 10, 1000), engine_price(tariff, 20, 2500)]
    session = await Transaction.objects.aget(ocpp_transaction_id="TX-1")
    charge = await SessionCharge.objects.aget(transaction=session)
    line = await InvoiceLine.objects.aget(session_charge=charge)
    assert Decimal(str(end.total_cost)) == charge.gross_amount == Decimal("6.66")
    assert line.net_amount + tax_of(line.net_amount, line.tax_rate, "EUR") == charge.gross_amount
    # Sent on the station's own socket, not as an operator's command: the message log has the calls and answers.
    assert await until(lambda: cost_frames(4), what="the running costs logged") == [
        ("out", CALL, ""),
        ("in", CALL_RESULT, ""),
        ("out", CALL, ""),
        ("in", CALL_RESULT, ""),
    ]
    assert not await StationCommand.objects.filter(action="CostUpdated").aexists()


async def test_without_a_tariff_no_cost_is_sent_and_the_ended_answer_has_none(cost_server, station, card):
    async with connect(cost_server) as cp:
        authorized = await cp.call(call.Authorize(id_token=TAG))
        await cp.call(started())
        await cp.call(updated(1, 10, 2000))
        end = await cp.call(ended(2, 20, 3000))
    assert authorized.id_token_info["personal_message"]["content"] == "Welcome."
    assert end.total_cost is None
    assert cp.costs == [] and await cost_frames(1) is None
    assert (await Transaction.objects.aget(ocpp_transaction_id="TX-1")).status == Transaction.Status.COMPLETED


async def test_a_refused_token_is_shown_no_tariff_and_costs_nothing(cost_server, station, tariff):
    await IdToken.objects.acreate(token="TAG-1", status=IdToken.Status.BLOCKED)
    async with connect(cost_server) as cp:
        start = await cp.call(started())
        await cp.call(updated(1, 10, 2000))
        end = await cp.call(ended(2, 20, 3000))
    assert start.id_token_info["personal_message"]["content"] == "This card is blocked."
    assert end.total_cost is None
    assert cp.costs == [] and await cost_frames(1) is None
    assert not await SessionCharge.objects.aexists()


async def test_a_station_refusing_the_running_cost_leaves_the_session_unaffected(cost_server, station, card, tariff):
    async with connect(cost_server) as cp:
        cp.refuse = True
        await cp.call(started())
        await cp.call(updated(1, 10, 2000))
        refused = await until(lambda: cost_frames(2), what="the refused CostUpdated logged")
        assert refused == [("out", CALL, ""), ("in", CALL_ERROR, "InternalError")]
        end = await cp.call(ended(2, 20, 3500))
    session = await Transaction.objects.aget(ocpp_transaction_id="TX-1")
    charge = await SessionCharge.objects.aget(transaction=session)
    assert (session.status, session.energy_wh) == (Transaction.Status.COMPLETED, 2500)
    assert Decimal(str(end.total_cost)) == charge.gross_amount == engine_price(tariff, 20, 2500)


async def test_running_costs_are_throttled_per_session(daphne_server, station, card, tariff):
    """The shared server keeps the default interval (60 s): a second metered Updated soon after gets none."""
    async with connect(daphne_server) as cp:
        await cp.call(started())
        await cp.call(updated(1, 10, 2000))
        await until(lambda: cp.costs, what="the first running cost")
        await cp.call(updated(2, 20, 3500))
        with contextlib.suppress(AssertionError):
            await until(lambda: len(cp.costs) > 1, within=1.0)
        await cp.call(ended(3, 30, 5000))
    assert cp.costs == [(engine_price(tariff, 10, 1000), "TX-1")]


async def test_events_replayed_from_the_offline_queue_get_no_running_cost(cost_server, station, card, tariff):
    async with connect(cost_server) as cp:
        await cp.call(started())
        replayed = updated(1, 10, 2000)
        replayed.offline = True
        await cp.call(replayed)
        await cp.call(updated(2, 20, 3500))
        await until(lambda: cp.costs, what="the running cost of the live event")
        await asyncio.sleep(0.2)
    assert cp.costs == [(engine_price(tariff, 20, 2500), "TX-1")]

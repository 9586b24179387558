"""A fleet of scripted OCPP 1.6 stations that keep a ledger of every answer they got, and the check of the
database against that ledger.

Each ``FleetStation`` is the `ocpp` library's ChargePoint over a real WebSocket, as a real charger behaves
towards a CSMS that fails: transaction messages (StartTransaction, MeterValues, StopTransaction) go
through an offline queue and are sent in order; one that is not answered (the socket closed, no answer
in time) or answered with a CALLERROR InternalError stays at the head of the queue and is sent again,
with the same payload, after a pause or the next connection. Authorize, StatusNotification and Heartbeat
are sent live and are simply lost while offline. A station that loses its connection tries the next of
its server addresses (another node) with a short back-off.

The ``Ledger`` records every CALL and its outcome; ``ledger_check`` compares the database with it: what
was answered with a CALLRESULT is stored exactly once, nothing is stored that no station sent, and each
completed session is priced once, on one invoice line, for meterStop - meterStart.
"""

import asyncio
import contextlib
import itertools
import logging
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import websockets
from ocpp.exceptions import OCPPError
from ocpp.v16 import ChargePoint, call

from tests.ocpp_client import basic_auth_header

logger = logging.getLogger(__name__)

ENERGY = "Energy.Active.Import.Register"
# Energy per meter sample: a multiple of 25 Wh, so that at 0.40 EUR/kWh every session costs whole cents.
STEP_WH = 250
TRANSACTION_ACTIONS = {"StartTransaction", "MeterValues", "StopTransaction"}
# CALLERRORs a real station answers by sending the message again later: the CSMS failed, not the message.
RETRIED_ERRORS = {"InternalError", "GenericError"}


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Outcome:
    """One CALL as the station sent it and what came back."""

    station: str
    action: str
    payload: dict
    key: str  # the station's own name for the message: replays of one message share it
    at: float  # time.monotonic() when sent
    answered_at: float | None = None
    result: dict | None = None
    error: str = ""  # CALLERROR code
    lost: str = ""  # "timeout" (socket open, no answer) or "closed" (the socket went while waiting)


@dataclass
class Ledger:
    outcomes: list[Outcome] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # queued messages a station gave up on

    def accepted(self, action: str | None = None) -> list[Outcome]:
        return [o for o in self.outcomes if o.result is not None and action in (None, o.action)]

    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error]

    def lost(self, kind: str | None = None) -> list[Outcome]:
        return [o for o in self.outcomes if o.lost and kind in (None, o.lost)]

    def between(self, start: float, end: float) -> list[Outcome]:
        return [o for o in self.outcomes if start <= o.at < end]

    def summary(self) -> dict:
        return {
            "calls": len(self.outcomes),
            "accepted": len(self.accepted()),
            "callerrors": dict(Counter(o.error for o in self.errors())),
            "lost": dict(Counter(o.lost for o in self.lost())),
            "dropped": len(self.dropped),
        }


@dataclass
class Queued:
    """A transaction message waiting in the station's offline queue; its payload is fixed when first sent."""

    action: str
    key: str
    build: object  # () -> payload dict, called once, when the message is first sent
    session: str | None = None
    payload: dict | None = None


class FleetStation:
    """One scripted charge point. ``run(stop)`` keeps it connected (to any of ``urls``) until ``stop`` is set."""

    # The library's ChargePoint answers every command NotImplemented; a test may give it handlers.
    charge_point_class = ChargePoint

    def __init__(self, ocpp_id: str, password: str, urls: list[str], ledger: Ledger, *, response_timeout=10.0):
        self.id = ocpp_id
        self.password = password
        self.urls = urls
        self.url_index = 0
        self.ledger = ledger
        self.response_timeout = response_timeout
        self.queue: deque[Queued] = deque()
        self.transaction_ids: dict[str, int] = {}  # the station's session name -> the CSMS's transactionId
        self.register_wh = 1_000_000
        self.connected = asyncio.Event()
        self.queue_changed = asyncio.Event()
        self.connections = 0
        self._cp: ChargePoint | None = None
        self._websocket = None
        self._keys = itertools.count(1)

    # --- the connection ---

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            url = self.urls[self.url_index % len(self.urls)]
            try:
                async with websockets.connect(
                    f"{url}/ocpp/{self.id}",
                    subprotocols=["ocpp1.6"],
                    additional_headers=basic_auth_header(self.id, self.password),
                    open_timeout=5,
                    close_timeout=1,
                ) as websocket:
                    await self._serve(websocket, stop)
            except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed) as error:
                logger.info("fleet station disconnected: %s %s", self.id, error)
            if not stop.is_set():
                self.url_index += 1  # a node that dropped us may be gone: try the next one
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.3)

    async def _serve(self, websocket, stop: asyncio.Event) -> None:
        self._websocket = websocket
        self._cp = self.charge_point_class(self.id, websocket, response_timeout=self.response_timeout)
        reader = asyncio.create_task(self._cp.start())
        sender = None
        try:
            boot = await self._live(call.BootNotification(charge_point_vendor="Faults", charge_point_model="Fleet"))
            if boot is None or boot.get("status") != "Accepted":
                return
            self.connections += 1
            self.connected.set()
            sender = asyncio.create_task(self._send_queue())
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({reader, stopping, sender}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
        finally:
            self.connected.clear()
            for task in (reader, sender):
                if task is not None:
                    task.cancel()
            await asyncio.gather(*(t for t in (reader, sender) if t is not None), return_exceptions=True)
            await websocket.close()

    async def close_connection(self) -> None:
        """Drop the socket (the station loses its network); ``run`` reconnects."""
        if self._websocket is not None:
            await self._websocket.close()

    # --- sending ---

    async def _call(self, action: str, payload, key: str) -> Outcome:
        outcome = Outcome(self.id, action, _as_dict(payload), key, time.monotonic())
        self.ledger.outcomes.append(outcome)
        answer = asyncio.ensure_future(self._cp.call(payload, suppress=False))
        answer.add_done_callback(_consume)  # an abandoned call's late error is expected, not news
        closed = asyncio.ensure_future(self._websocket.wait_closed())
        try:
            done, _ = await asyncio.wait({answer, closed}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            answer.cancel()
            outcome.lost = "closed"  # the connection was torn down around the call
            raise
        finally:
            closed.cancel()
        outcome.answered_at = time.monotonic()
        if answer not in done:
            answer.cancel()
            outcome.lost = "closed"
        elif isinstance(answer.exception(), OCPPError):
            outcome.error = answer.exception().code
        elif isinstance(answer.exception(), TimeoutError | asyncio.TimeoutError):
            outcome.lost = "timeout"
        elif answer.exception() is not None:
            outcome.lost = "closed"  # the connection failed under the call
        else:
            outcome.result = _as_dict(answer.result())
        return outcome

    async def _live(self, payload) -> dict | None:
        """A message that is not queued: sent if connected, lost otherwise (as stations do)."""
        if self._cp is None or (not self.connected.is_set() and not isinstance(payload, call.BootNotification)):
            return None
        outcome = await self._call(_action(payload), payload, f"{self.id}/live/{next(self._keys)}")
        return outcome.result

    def enqueue(self, action: str, build, session: str | None = None) -> Queued:
        message = Queued(action, f"{self.id}/q/{next(self._keys)}", build, session)
        self.queue.append(message)
        self.queue_changed.set()
        return message

    async def _send_queue(self) -> None:
        """Send the queue in order while connected; returns (ending the connection) when the socket died."""
        while True:
            if not self.queue:
                self.queue_changed.clear()
                await self.queue_changed.wait()
                continue
            message = self.queue[0]
            if message.payload is None:
                if message.action != "StartTransaction" and message.session not in self.transaction_ids:
                    self.queue.popleft()  # its start was refused outright: there is no transactionId to send
                    self.ledger.dropped.append(message.key)
                    continue
                message.payload = message.build()
            outcome = await self._call(message.action, _payload(message.action, message.payload), message.key)
            if outcome.result is not None:
                if message.action == "StartTransaction":
                    self.transaction_ids[message.session] = outcome.result["transaction_id"]
                self.queue.popleft()
            elif outcome.error and outcome.error not in RETRIED_ERRORS:
                self.queue.popleft()  # the message itself is wrong: sending it again cannot help
                self.ledger.dropped.append(message.key)
            elif outcome.lost:
                return  # reconnect, then send it again
            else:
                await asyncio.sleep(1.0)  # the CSMS failed: the same message again in a moment

    async def replay(self, messages: list[Queued]) -> list[Outcome]:
        """Send queued messages again, in the given order, whatever was answered before (a station that lost
        track of what it delivered); each with the payload it was first sent with."""
        outcomes = []
        for message in messages:
            if message.payload is None:
                message.payload = message.build()
            outcomes.append(await self._call(message.action, _payload(message.action, message.payload), message.key))
        return outcomes

    async def drained(self) -> None:
        while self.queue:
            await asyncio.sleep(0.05)

    # --- a charging session ---

    async def charge(self, session: str, *, id_tag: str, samples: int, interval: float, connector_id: int = 1):
        """Authorize, start, ``samples`` meter values ``interval`` seconds apart, stop; queued as a charger does."""
        await self._live(call.Authorize(id_tag=id_tag))
        await self._status(connector_id, "Preparing")
        meter_start = self.register_wh
        started_at = datetime.now(UTC)
        self.enqueue(
            "StartTransaction",
            lambda: {
                "connector_id": connector_id,
                "id_tag": id_tag,
                "meter_start": meter_start,
                "timestamp": iso(started_at),
            },
            session,
        )
        await self._status(connector_id, "Charging")
        for _ in range(samples):
            await asyncio.sleep(interval)
            self.register_wh += STEP_WH
            value, at = self.register_wh, datetime.now(UTC)
            self.enqueue("MeterValues", self._meter_values(session, connector_id, value, at), session)
        self.register_wh += STEP_WH
        meter_stop, stopped_at = self.register_wh, datetime.now(UTC)
        self.enqueue(
            "StopTransaction",
            lambda: {
                "transaction_id": self.transaction_ids[session],
                "meter_stop": meter_stop,
                "timestamp": iso(stopped_at),
                "id_tag": id_tag,
                "reason": "Local",
            },
            session,
        )
        await self._status(connector_id, "Finishing")
        await self._status(connector_id, "Available")

    def _meter_values(self, session: str, connector_id: int, value: int, at: datetime):
        return lambda: meter_values(self.transaction_ids[session], connector_id, value, at)

    async def _status(self, connector_id: int, status: str) -> None:
        await self._live(
            call.StatusNotification(
                connector_id=connector_id, error_code="NoError", status=status, timestamp=iso(datetime.now(UTC))
            )
        )

    async def keep_charging(self, until: asyncio.Event, *, id_tag: str, samples=4, interval=0.5) -> int:
        """Sessions one after another until ``until`` is set (the last one finishes); heartbeats between."""
        count = 0
        while not until.is_set():
            await self.connected.wait()
            count += 1
            await self.charge(f"s{count}", id_tag=id_tag, samples=samples, interval=interval)
            await self._live(call.Heartbeat())
            await asyncio.sleep(0.2)
        return count


def meter_values(transaction_id: int, connector_id: int, value: int, at: datetime) -> dict:
    """A MeterValues payload with one energy register reading."""
    sampled = {
        "value": str(value),
        "measurand": ENERGY,
        "unit": "Wh",
        "context": "Sample.Periodic",
        "location": "Outlet",
    }
    return {
        "connector_id": connector_id,
        "transaction_id": transaction_id,
        "meter_value": [{"timestamp": iso(at), "sampled_value": [sampled]}],
    }


def _consume(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


def _action(payload) -> str:
    return type(payload).__name__


def _as_dict(value) -> dict:
    return value if isinstance(value, dict) else asdict(value)


def _payload(action: str, values: dict):
    return getattr(call, action)(**values)


class Fleet:
    """N stations in this event loop, each running sessions; ``stop_sessions()`` then ``finish()``."""

    def __init__(self, station_ids: list[str], password: str, urls_of, *, samples=4, interval=1.0):
        self.ledger = Ledger()
        self.stations = [FleetStation(sid, password, urls_of(i), self.ledger) for i, sid in enumerate(station_ids)]
        self.samples, self.interval = samples, interval
        self._stop = asyncio.Event()
        self._no_more_sessions = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._sessions: list[asyncio.Task] = []

    def start(self, *, sessions: bool = True) -> None:
        for station in self.stations:
            self._tasks.append(asyncio.create_task(station.run(self._stop)))
            if sessions:
                self._sessions.append(
                    asyncio.create_task(
                        station.keep_charging(
                            self._no_more_sessions,
                            id_tag=tag_of(station.id),
                            samples=self.samples,
                            interval=self.interval,
                        )
                    )
                )

    async def connected(self, within: float = 30.0) -> None:
        await asyncio.wait_for(asyncio.gather(*(s.connected.wait() for s in self.stations)), within)

    def stop_new_sessions(self) -> None:
        """Sessions in progress go on to their end; no station starts another."""
        self._no_more_sessions.set()

    async def finish(self, within: float = 60.0) -> None:
        """No new sessions; the running ones end, every queue is delivered, then the stations disconnect."""
        self.stop_new_sessions()
        await asyncio.wait_for(asyncio.gather(*self._sessions), within)
        await asyncio.wait_for(asyncio.gather(*(s.drained() for s in self.stations)), within)
        await self.close()

    async def backlog_delivered(self, within: float = 60.0) -> float:
        """Wait until everything queued so far has been answered with a CALLRESULT; seconds it took."""
        started = time.monotonic()
        backlog = {q.key for station in self.stations for q in station.queue}

        async def delivered():
            while backlog & {q.key for station in self.stations for q in station.queue}:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(delivered(), within)
        return round(time.monotonic() - started, 1)

    async def close(self) -> None:
        self._stop.set()
        for task in self._tasks + self._sessions:
            if not task.done():
                task.cancel()
        await asyncio.gather(*self._tasks, *self._sessions, return_exceptions=True)


def tag_of(station_id: str, connector_id: int = 1) -> str:
    """The tag of the driver who charges at this station's connector (each connector has its own)."""
    return f"TAG-{station_id}" if connector_id == 1 else f"TAG-{station_id}-{connector_id}"


# --- the database compared with the ledger ---


def ledger_check(ledger: Ledger, *, price_per_kwh: Decimal) -> dict:
    """Assert that the database holds exactly what the stations were answered; figures for the report."""
    from billing.models import InvoiceLine, SessionCharge
    from sessions.models import MeterSample, Transaction

    ids_of_start: dict[str, set[int]] = {}
    expected_starts: dict[int, Outcome] = {}
    for o in ledger.accepted("StartTransaction"):
        ids_of_start.setdefault(o.key, set()).add(o.result["transaction_id"])
        expected_starts[o.result["transaction_id"]] = o
    for key, ids in ids_of_start.items():
        assert len(ids) == 1, f"replays of one StartTransaction got different transaction ids: {key} {ids}"
    refused = [
        (o.key, o.result["id_tag_info"])
        for o in ledger.accepted("StartTransaction")
        if o.result["id_tag_info"]["status"] != "Accepted"
    ]
    assert refused == [], f"starts of valid tags refused: {refused}"
    assert ledger.dropped == [], f"queued messages the stations had to give up on: {ledger.dropped}"
    sessions = {t.pk: t for t in Transaction.objects.select_related("station")}
    assert set(sessions) == set(expected_starts), (
        f"transactions in the database {sorted(sessions)} != accepted starts {sorted(expected_starts)}"
    )
    for pk, o in expected_starts.items():
        t = sessions[pk]
        assert (t.station.ocpp_id, t.connector_id, t.id_tag, t.meter_start) == (
            o.station,
            o.payload["connector_id"],
            o.payload["id_tag"],
            o.payload["meter_start"],
        ), f"transaction {pk} differs from its StartTransaction"

    stops = {o.payload["transaction_id"]: o for o in ledger.accepted("StopTransaction")}
    for pk, o in stops.items():
        t = sessions[pk]
        assert t.status == Transaction.Status.COMPLETED, f"transaction {pk} stopped but {t.status}"
        assert t.meter_stop == o.payload["meter_stop"], f"transaction {pk}: meterStop {t.meter_stop}"
        assert t.energy_wh == t.meter_stop - t.meter_start, f"transaction {pk}: energy {t.energy_wh}"
    open_ones = [pk for pk, t in sessions.items() if t.status != Transaction.Status.COMPLETED]
    assert set(open_ones) == set(sessions) - set(stops), f"sessions open without a reason: {open_ones}"

    sent_samples = Counter()
    for o in {o.key: o for o in ledger.accepted("MeterValues")}.values():
        for value in o.payload["meter_value"]:
            sent_samples[
                (o.payload["transaction_id"], value["timestamp"], float(value["sampled_value"][0]["value"]))
            ] += 1
    stored = Counter(
        (s.transaction_id, iso(s.timestamp), s.value) for s in MeterSample.objects.filter(measurand=ENERGY)
    )
    assert stored == sent_samples, (
        f"meter samples differ: missing {sent_samples - stored}, extra {stored - sent_samples}"
    )

    charges = Counter(SessionCharge.objects.values_list("transaction_id", flat=True))
    assert set(charges) == set(stops) and set(charges.values()) <= {1}, (
        f"priced {sorted(charges)} but completed {sorted(stops)}"
    )
    for charge in SessionCharge.objects.all():
        energy = sessions[charge.transaction_id].energy_wh
        assert charge.energy_wh == energy, f"charge of {charge.transaction_id}: {charge.energy_wh} Wh != {energy}"
        assert charge.gross_amount == Decimal(energy) * price_per_kwh / 1000, (
            f"charge {charge.pk}: {charge.gross_amount}"
        )
    lines = Counter(
        InvoiceLine.objects.exclude(session_charge=None).values_list("session_charge__transaction_id", flat=True)
    )
    assert lines == Counter(set(stops)), f"invoice lines per session: {dict(lines)}"
    return {
        **ledger.summary(),
        "sessions": len(sessions),
        "completed": len(stops),
        "meter_samples": sum(stored.values()),
        "replayed": sum(1 for _ in ledger.accepted()) - len({o.key for o in ledger.accepted()}),
    }


def sessions_priced(*, within: float, idle: float = 4.0) -> dict:
    """Wait for the worker to price every completed session; then the product's sweep prices what was never
    queued (a stop while the broker was away). How many each priced, for the report."""
    from billing.models import SessionCharge
    from billing.services import sessions_price_missing
    from sessions.models import Transaction

    completed = Transaction.objects.filter(status=Transaction.Status.COMPLETED)
    deadline = time.monotonic() + within
    priced, progress_at = -1, time.monotonic()
    while priced < completed.count() and time.monotonic() < deadline:
        if SessionCharge.objects.count() != priced:
            priced, progress_at = SessionCharge.objects.count(), time.monotonic()
        elif time.monotonic() - progress_at > idle:
            break  # the worker has nothing left to price: the rest was never queued
        time.sleep(0.2)
    by_worker, waited = SessionCharge.objects.count(), within - (deadline - time.monotonic())
    by_sweep = sessions_price_missing(settle_seconds=0)
    return {"priced_by_worker": by_worker, "priced_by_sweep": by_sweep, "pricing_wait": round(waited, 1)}

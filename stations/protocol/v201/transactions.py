"""OCPP 2.0.1 E Transactions: TransactionEvent (Started / Updated / Ended, meter values inside), translated to
the version-neutral session services; and I Tariff and cost: the running cost (CostUpdated) while a session
runs, its final cost (totalCost) in the answer to its Ended.

A 2.0.1 station numbers its transactions itself (a string); the services store each event once per seqNo
and fold the session from its events in seqNo order; the common event (a live Updated with meter values) is
appended through the group commit with 1.6's MeterValues, without the fold. Costs come from the pricing app through
``sessions.costs``: the engine that prices the invoice.
"""

import asyncio
import logging

from ocpp.routing import after, on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from sessions import costs, services
from stations.app_settings import app_settings
from stations.models import StationCommand
from stations.protocol import outbound
from stations.protocol.commands import call_outcome
from stations.protocol.db import PoolBatches, in_db_pool
from stations.protocol.framing import parse_timestamp, property_violation
from stations.protocol.group_commit import group_commit
from stations.protocol.v201.authorization import driver_tariff, id_token_info
from stations.protocol.v201.metering import readings_of

logger = logging.getLogger(__name__)

# The running costs of the sessions metered within a second, priced together (``sessions.costs.running_costs``): a
# second later on a charger's display than it could be, a few queries a second for a whole node's sessions.
running_cost_batches = PoolBatches(max_batch=500, linger=1.0)


class TransactionHandlers:
    @on(Action.transaction_event)
    async def on_transaction_event(
        self,
        event_type,
        timestamp,
        trigger_reason,
        seq_no,
        transaction_info,
        meter_value=(),
        offline=False,
        reservation_id=None,
        evse=None,
        id_token=None,
        **_,
    ):
        readings, rejected = readings_of(meter_value or (), field="meterValue")
        with property_violation():
            if rejected:
                raise rejected[0]
            event = services.SessionEvent(
                transaction_id=transaction_info["transaction_id"],
                event_type=event_type,
                seq_no=seq_no,
                timestamp=parse_timestamp(timestamp, field="timestamp"),
                trigger_reason=trigger_reason,
                offline=bool(offline),
                stopped_reason=transaction_info.get("stopped_reason") or "",
                charging_state=transaction_info.get("charging_state") or "",
                evse_id=evse["id"] if evse else None,
                id_token=services.PresentedIdToken(id_token["id_token"], id_token["type"]) if id_token else None,
                readings=readings,
                reservation_id=reservation_id,
                remote_start_id=transaction_info.get("remote_start_id"),
            )
            recorded = None
            if services.session_event_appendable(event):
                # The common case (a live Updated with meter values) rides the group commit with 1.6's MeterValues.
                recorded = await group_commit().submit(_append_events, (self.station, event))
            if recorded is None:
                recorded = await in_db_pool(services.session_event_record)(station=self.station, event=event)
        info = None
        if authorization := recorded.authorization:
            tariff = await in_db_pool(driver_tariff)(authorization=authorization, station=self.station)
            info = id_token_info(authorization, tariff=tariff)
        total_cost = None
        if event_type == "Ended":
            # Priced only now that the Ended is committed: pricing reads the stopped session.
            total_cost = await in_db_pool(costs.final_cost)(session=recorded.transaction)
        # A float: the library's JSON encoder writes a Decimal with one decimal place.
        return call_result.TransactionEvent(
            id_token_info=info, total_cost=float(total_cost) if total_cost is not None else None
        )

    @after(Action.transaction_event)
    async def send_running_cost(self, event_type, timestamp, transaction_info, meter_value=(), offline=False, **_):
        """CostUpdated after an Updated event with meter values, at most every CMS_OCPP_COST_UPDATE_SECONDS per
        session; never lower than the last one sent. Not for events replayed from the station's offline queue.

        Priced with the other stations' events of the moment (``running_cost_batches``) and sent straight on this
        connection's socket: the station's own running cost is no operator's command to record (the message log
        keeps both frames) and needs no channel-layer hop to find the socket it is on.
        """
        transaction_id = transaction_info["transaction_id"]
        # transaction id -> (loop time priced, total last sent)
        sent = self.__dict__.setdefault("_running_costs_sent", {})
        if event_type == "Ended":
            sent.pop(transaction_id, None)
        if event_type != "Updated" or not meter_value or offline:
            return
        if "_running_cost_lock" not in self.__dict__:
            self._running_cost_lock = asyncio.Lock()  # one at a time, so that they arrive in order
        async with self._running_cost_lock:
            now = asyncio.get_running_loop().time()
            last_at, last_total = sent.get(transaction_id, (None, None))
            if last_at is not None and now - last_at < app_settings.COST_UPDATE_SECONDS:
                return
            asked = costs.RunningCostAsked(self.station, transaction_id, parse_timestamp(timestamp, field="timestamp"))
            total = await running_cost_batches.submit(costs.running_costs, asked)
            if total is None or (last_total is not None and total <= last_total):
                # Priced once per interval even when nothing is sent (no tariff, no increase): not at every event.
                sent[transaction_id] = (now, last_total)
                return
            sent[transaction_id] = (now, total)
            action, payload = outbound.cost_updated(self.ocpp_version, total_cost=total, transaction_id=transaction_id)
            outcome = await call_outcome(self, action, payload, app_settings.RESPONSE_TIMEOUT)
        if outcome["status"] != StationCommand.Status.ANSWERED:
            logger.info(
                "running cost not delivered",
                extra={
                    "station_id": self.station.ocpp_id,
                    "transaction_id": transaction_id,
                    "status": outcome["status"],
                    "error_code": outcome.get("error_code", ""),
                },
            )


def _append_events(items: list) -> list:
    return services.session_events_append_many(items=items)

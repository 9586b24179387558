"""OCPP 1.6 Core profile, transactions: StartTransaction and StopTransaction (with its transactionData),
translated to the version-neutral session services.

A 1.6 station is handed its transactionId by the CSMS: an integer, the session's own key, which the services
know as the station's transaction id ``str(id)``. An idTag has no type (``PresentedIdToken``'s default).
"""

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from sessions import services
from stations.protocol.db import in_db_pool
from stations.protocol.framing import parse_timestamp, property_violation
from stations.protocol.v16.authorization import id_tag_info
from stations.protocol.v16.metering import readings_of, station_transaction_id


class TransactionHandlers:
    @on(Action.start_transaction)
    async def on_start_transaction(self, connector_id, id_tag, meter_start, timestamp, reservation_id=None, **_):
        with property_violation():
            started = await in_db_pool(services.session_start)(
                station=self.station,
                connector_id=connector_id,
                id_token=services.PresentedIdToken(id_tag),
                meter_start=meter_start,
                started_at=parse_timestamp(timestamp, field="timestamp"),
                reservation_id=reservation_id,
            )
        return call_result.StartTransaction(
            transaction_id=int(started.transaction.ocpp_transaction_id), id_tag_info=id_tag_info(started.authorization)
        )

    @on(Action.stop_transaction)
    async def on_stop_transaction(
        self, transaction_id, meter_stop, timestamp, id_tag="", reason="", transaction_data=(), **_
    ):
        # Values of transactionData that cannot be taken are dropped (and flagged), not the stop with them.
        readings, rejected = readings_of(transaction_data, field="transactionData")
        with property_violation():
            stopped = await in_db_pool(services.session_stop)(
                station=self.station,
                transaction_id=station_transaction_id(transaction_id),
                meter_stop=meter_stop,
                stopped_at=parse_timestamp(timestamp, field="timestamp"),
                reason=reason,
                id_token=services.PresentedIdToken(id_tag) if id_tag else None,
                readings=readings,
                rejected_readings=rejected,
            )
        authorization = stopped.authorization
        return call_result.StopTransaction(id_tag_info=id_tag_info(authorization) if authorization else None)

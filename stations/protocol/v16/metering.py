"""OCPP 1.6 Core profile, metering: MeterValues, normalised and kept per connector and session."""

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from sessions import services
from sessions.metering import Reading, readings_parse
from stations.plausibility import ValueRejected
from stations.protocol.framing import parse_timestamp, property_violation
from stations.protocol.group_commit import group_commit


def readings_of(meter_values, *, field: str) -> tuple[list[Reading], list[ValueRejected]]:
    """The readings of a MeterValue list (MeterValues.meterValue, StopTransaction.transactionData), and the
    values refused (paths from ``field``)."""
    readings, rejected = readings_parse(
        (parse_timestamp(value["timestamp"], field=f"{field}/{index}/timestamp"), value["sampled_value"])
        for index, value in enumerate(meter_values)
    )
    return readings, [ValueRejected(f"/{field}/{problem.path}", problem.message) for problem in rejected]


# The largest transaction id the CSMS hands out (a bigint key); a larger one names no session.
MAX_TRANSACTION_ID = 2**63 - 1


def station_transaction_id(transaction_id: int) -> str:
    """A 1.6 transactionId as the services know it; ValueRejected for an integer no session can have."""
    if not -MAX_TRANSACTION_ID <= transaction_id <= MAX_TRANSACTION_ID:
        raise ValueRejected("/transactionId", f"{transaction_id} is not a transaction id.")
    return str(transaction_id)


class MeteringHandlers:
    @on(Action.meter_values)
    async def on_meter_values(self, connector_id, meter_value, transaction_id=None, **_):
        """Readings during the session named (``services.session_update``) or of the connector alone, stored
        through the group commit in their batched form."""
        readings, rejected = readings_of(meter_value, field="meterValue")
        with property_violation():
            if rejected:
                raise rejected[0]
            report = services.MeterValuesReport(
                station=self.station,
                connector_id=connector_id,
                readings=readings,
                transaction_id=None if transaction_id is None else station_transaction_id(transaction_id),
            )
            await group_commit().submit(_record_meter_values, report)
        return call_result.MeterValues()


def _record_meter_values(reports: list) -> list:
    return services.meter_values_record_many(reports=reports)

"""OCPP 2.0.1 E Transactions: TransactionEvent (Started / Updated / Ended, meter values inside), translated to
the version-neutral session services.

A 2.0.1 station numbers its transactions itself (a string); the services store each event once per seqNo
and fold the session from its events in seqNo order. GetTransactionStatus is the CSMS's to send, not here.
"""

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.datatypes import IdTokenInfoType, IdTokenType
from ocpp.v201.enums import Action

from accounts.services import Authorization
from sessions import services
from sessions.metering import Reading, readings_parse
from stations.plausibility import ValueRejected
from stations.protocol.db import in_db_pool
from stations.protocol.framing import parse_timestamp, property_violation

# The type a group (parent) id token is answered with: groups are the CSMS's own.
GROUP_ID_TOKEN_TYPE = "Central"


def id_token_info(authorization: Authorization) -> IdTokenInfoType:
    expiry = authorization.expires_at.isoformat() if authorization.expires_at else None
    group = IdTokenType(id_token=authorization.parent_id, type=GROUP_ID_TOKEN_TYPE) if authorization.parent_id else None
    return IdTokenInfoType(status=authorization.status, cache_expiry_date_time=expiry, group_id_token=group)


def readings_of(meter_values, *, field: str) -> tuple[list[Reading], list[ValueRejected]]:
    """The readings of a 2.0.1 MeterValue list, and the values refused (paths from ``field``).

    A 2.0.1 sampled value is a number with a unit and a power-of-ten multiplier, and its signature beside it;
    each becomes the 1.6-shaped value ``readings_parse`` takes (the signed one merged with the plain one).
    """
    readings, rejected = readings_parse(
        (
            parse_timestamp(value["timestamp"], field=f"{field}/{index}/timestamp"),
            [shaped for sampled in value["sampled_value"] for shaped in _as_sampled_values(sampled)],
        )
        for index, value in enumerate(meter_values)
    )
    return readings, [ValueRejected(f"/{field}/{problem.path}", problem.message) for problem in rejected]


def _as_sampled_values(sampled: dict) -> list[dict]:
    unit = sampled.get("unit_of_measure") or {}
    common = {key: sampled[key] for key in ("measurand", "phase", "location", "context") if sampled.get(key)}
    if unit.get("unit"):
        common["unit"] = unit["unit"]
    multiplier = unit.get("multiplier", 0)
    value = sampled["value"] * 10**multiplier if isinstance(sampled["value"], int | float) else sampled["value"]
    shaped = [{**common, "value": str(value)}]
    if signed := sampled.get("signed_meter_value"):
        shaped.append({**common, "format": "SignedData", "value": signed.get("signed_meter_data", "")})
    return shaped


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
            recorded = await in_db_pool(services.session_event_record)(station=self.station, event=event)
        authorization = recorded.authorization
        return call_result.TransactionEvent(id_token_info=id_token_info(authorization) if authorization else None)

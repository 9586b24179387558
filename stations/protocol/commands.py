"""Commands to a station (CSMS-initiated OCPP calls) from any process, over the channel layer.

The caller (portal view, DRF view, Celery task, shell) validates the payload against the official
schema, records a ``StationCommand`` and sends a ``station.call`` event to the channel of the
connection that holds the station's socket, wherever that daphne process runs; then it waits on a
reply channel of its own. ``serve_call`` runs on that daphne process: it makes the OCPP CALL through
the ``ocpp`` library's ChargePoint and sends the outcome back. Only the caller writes the record.
"""

import asyncio
import datetime
import decimal
import json
import logging

from asgiref.sync import async_to_sync, sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.utils import timezone
from ocpp.messages import CallError, MessageType

from stations.app_settings import app_settings
from stations.models import Station, StationCommand
from stations.nodes import node_lease_expired, nodes_sweep
from stations.protocol.channel_layer import LAYER_ERRORS, layer_health
from stations.protocol.framing.schema import payload_errors
from stations.protocol.outbound import stopped_session_id
from stations.protocol.redaction import redacted

logger = logging.getLogger(__name__)

Status = StationCommand.Status

# What a CSMS may send to a station, per OCPP version.
CSMS_ACTIONS: dict[str, frozenset[str]] = {
    "1.6": frozenset(
        {
            "CancelReservation",
            "ChangeAvailability",
            "ChangeConfiguration",
            "ClearCache",
            "ClearChargingProfile",
            "DataTransfer",
            "GetCompositeSchedule",
            "GetConfiguration",
            "GetDiagnostics",
            "GetLocalListVersion",
            "RemoteStartTransaction",
            "RemoteStopTransaction",
            "ReserveNow",
            "Reset",
            "SendLocalList",
            "SetChargingProfile",
            "TriggerMessage",
            "UnlockConnector",
            "UpdateFirmware",
            # The 1.6 security extension (security whitepaper, edition 3).
            "CertificateSigned",
            "DeleteCertificate",
            "ExtendedTriggerMessage",
            "GetInstalledCertificateIds",
            "GetLog",
            "InstallCertificate",
            "SignedUpdateFirmware",
        }
    ),
    "2.0.1": frozenset(
        {
            "CancelReservation",
            "CertificateSigned",
            "ChangeAvailability",
            "ClearCache",
            "ClearChargingProfile",
            "ClearDisplayMessage",
            "ClearVariableMonitoring",
            "CostUpdated",
            "CustomerInformation",
            "DataTransfer",
            "DeleteCertificate",
            "GetBaseReport",
            "GetChargingProfiles",
            "GetCompositeSchedule",
            "GetDisplayMessages",
            "GetInstalledCertificateIds",
            "GetLocalListVersion",
            "GetLog",
            "GetMonitoringReport",
            "GetReport",
            "GetTransactionStatus",
            "GetVariables",
            "InstallCertificate",
            "PublishFirmware",
            "RequestStartTransaction",
            "RequestStopTransaction",
            "ReserveNow",
            "Reset",
            "SendLocalList",
            "SetChargingProfile",
            "SetDisplayMessage",
            "SetMonitoringBase",
            "SetMonitoringLevel",
            "SetNetworkProfile",
            "SetVariableMonitoring",
            "SetVariables",
            "TriggerMessage",
            "UnlockConnector",
            "UnpublishFirmware",
            "UpdateFirmware",
        }
    ),
}

# How much longer than the station's own timeout the caller waits for the outcome: the channel-layer
# hops there and back, and the daphne process getting round to the event.
REPLY_MARGIN = 2.0


class InvalidPayload(ValueError):
    pass


def _to_json(value):
    """The payload as plain JSON values (Python callers may pass Decimals, datetimes or dataclass-free dicts)."""

    def default(obj):
        if isinstance(obj, decimal.Decimal):
            return float(obj)
        if isinstance(obj, datetime.datetime):
            return obj.isoformat()
        raise TypeError(f"{type(obj).__name__} is not a JSON value")

    try:
        return json.loads(json.dumps(value, default=default))
    except (TypeError, ValueError) as error:
        raise InvalidPayload(f"The payload is not JSON: {error}") from error


def _check_request(action: str, payload, ocpp_version: str) -> dict:
    """The payload as JSON, or InvalidPayload saying clearly what is wrong with the command."""
    if action not in CSMS_ACTIONS.get(ocpp_version, ()):
        raise InvalidPayload(f"{action!r} is not a command a CSMS can send to an OCPP {ocpp_version} station.")
    if not isinstance(payload, dict):
        raise InvalidPayload("The payload must be a JSON object.")
    payload = _to_json(payload)
    errors = payload_errors(action=action, payload=payload, ocpp_version=ocpp_version)
    if errors:
        problems = "; ".join(errors)
        raise InvalidPayload(f"The payload does not match the OCPP {ocpp_version} {action} schema: {problems}")
    return payload


async def station_call(
    *,
    station: Station,
    action: str,
    payload: dict,
    requested_by=None,
    timeout: float | None = None,  # noqa: ASYNC109 - the station's time to answer, enforced where the socket is
) -> StationCommand:
    """Send ``action`` to ``station`` and return the recorded command with the station's answer.

    Never raises for the station's behaviour: the outcome is in ``command.status`` (answered,
    call_error, timeout, offline, invalid or unavailable, the last three when nothing was sent).
    """
    timeout = app_settings.RESPONSE_TIMEOUT if timeout is None else float(timeout)
    station = await Station.objects.aget(pk=station.pk)  # the connection state of this very moment
    if requested_by is not None and not requested_by.is_authenticated:
        requested_by = None
    command = StationCommand(station=station, action=action[:64], requested_by=requested_by)
    command.payload = redacted(action, _as_recorded(payload))

    if not station.ocpp_version:
        return await _finish(command, Status.OFFLINE, description="The station has never connected.")
    try:
        wire_payload = _check_request(action, payload, station.ocpp_version)
        command.payload = redacted(action, wire_payload)  # what is kept: no secret the payload carries
    except InvalidPayload as error:
        return await _finish(command, Status.INVALID, description=str(error))
    if not (station.is_online and station.channel_name):
        return await _finish(command, Status.OFFLINE, description="The station is not connected.")
    if station.node_id is not None and await sync_to_async(node_lease_expired)(node_id=station.node_id):
        # Its node was killed: nobody would answer. Its stations are recorded offline now, not at the next sweep.
        await sync_to_async(nodes_sweep)()
        return await _finish(
            command, Status.OFFLINE, description="The station is not connected (the server holding it has stopped)."
        )
    if not layer_health.worth_trying():
        return await _finish(command, Status.UNAVAILABLE, description=layer_health.reason())

    command.transaction_id = await sync_to_async(stopped_session_id)(
        station_id=station.pk, action=action, payload=command.payload
    )
    await command.asave()
    outcome = await _send_and_wait(station.channel_name, command, wire_payload, timeout)
    return await _finish(
        command,
        outcome["status"],
        response=outcome.get("response"),
        code=outcome.get("error_code", ""),
        description=outcome.get("error_description", ""),
        answered=outcome.get("answered", False),
    )


def station_call_sync(
    *, station: Station, action: str, payload: dict, requested_by=None, timeout: float | None = None
) -> StationCommand:
    """``station_call`` for synchronous code: views, Celery tasks, the shell."""
    return async_to_sync(station_call)(
        station=station, action=action, payload=payload, requested_by=requested_by, timeout=timeout
    )


def _as_recorded(payload) -> dict:
    """What the record keeps of a payload, even one that is not a JSON object."""
    try:
        value = _to_json(payload)
    except InvalidPayload:
        return {"repr": repr(payload)[:2000]}
    return value if isinstance(value, dict) else {"payload": value}


async def _finish(command, status, *, response=None, code="", description="", answered=False) -> StationCommand:
    command.status = status
    command.response = response
    command.error_code = code[:40]
    command.error_description = description
    command.answered_at = timezone.now() if answered else None
    await command.asave()
    log = logger.info if status == Status.ANSWERED else logger.warning
    log(
        "station command",
        extra={
            "station_id": command.station.ocpp_id,
            "action": command.action,
            "command_id": command.pk,
            "status": status,
            "error_code": command.error_code,
            "error_description": description,
        },
    )
    return command


async def _send_and_wait(channel_name: str, command: StationCommand, payload: dict, answer_within: float) -> dict:
    layer = get_channel_layer()
    reply_channel = await layer.new_channel()
    event = {
        "type": "station.call",
        "command_id": command.pk,
        "action": command.action,
        "payload": payload,
        "timeout": answer_within,
        "reply_channel": reply_channel,
    }
    try:
        await layer.send(channel_name, event)
    except ChannelFull:
        return {"status": Status.TIMEOUT, "error_description": "The station's connection is not taking commands."}
    except LAYER_ERRORS as error:
        layer_health.failed(error)
        return {"status": Status.UNAVAILABLE, "error_description": layer_health.reason()}
    try:
        # The layer's receive waits a Redis outage out (a failed read loses nothing: channels_redis keeps
        # the message until it is taken); the station's answer is lost only if Redis itself loses it.
        async with asyncio.timeout(answer_within + REPLY_MARGIN):
            return await layer.receive(reply_channel)
    except TimeoutError:
        # The connection's process did not answer at all: it has gone, or is too busy.
        return {
            "status": Status.TIMEOUT,
            "error_description": f"No answer from the station's connection within {answer_within:g} s.",
        }


async def serve_call(charge_point, event, channel_layer) -> None:
    """Run on the daphne process that holds the station's socket: make the call, send back the outcome."""
    if charge_point is None:
        outcome = {"status": Status.OFFLINE, "error_description": "The station's connection is not ready."}
    else:
        try:
            outcome = await call_outcome(charge_point, event["action"], event["payload"], event["timeout"])
        except asyncio.CancelledError:
            # The connection closed while the station still owed the answer.
            await _reply(
                channel_layer,
                event,
                {"status": Status.OFFLINE, "error_description": "The station disconnected before answering."},
            )
            raise
    await _reply(channel_layer, event, outcome)


async def call_outcome(charge_point, action: str, payload: dict, timeout: float) -> dict:  # noqa: ASYNC109
    """One call on a socket this process holds, its outcome as a command's (answered, call_error, timeout).

    ``serve_call`` makes an operator's commands with it; a connection calls its own station with it directly
    (a 2.0.1 running cost): no record and no channel-layer hop, the message log keeps both frames.
    """
    try:
        return await asyncio.wait_for(_call(charge_point, action, payload, timeout), timeout)
    except TimeoutError:
        return {"status": Status.TIMEOUT, "error_description": f"The station did not answer within {timeout:g} s."}
    except Exception as error:
        logger.exception("station command failed", extra={"action": action})
        return {
            "status": Status.CALL_ERROR,
            "error_code": "InternalError",
            "error_description": f"The call could not be made: {error}",
        }


async def _reply(channel_layer, event: dict, outcome: dict) -> None:
    try:
        await channel_layer.send(event["reply_channel"], outcome)
    except (ChannelFull, *LAYER_ERRORS) as error:
        # Redis went away meanwhile, or the caller's process has more waiting than the layer's capacity: the caller
        # times out waiting; the station's answer is in the message log.
        if not isinstance(error, ChannelFull):
            layer_health.failed(error)
        logger.warning("command outcome not returned to its caller", extra={"command_id": event.get("command_id")})


async def _call(charge_point, action: str, payload: dict, answer_within: float) -> dict:
    """One OCPP CALL with a JSON payload as given (a command is already the wire payload), its answer checked."""
    response = await charge_point.call_payload(action, payload, answer_within)
    if isinstance(response, CallError):
        return {
            "status": Status.CALL_ERROR,
            "answered": True,
            "response": response.error_details or None,
            "error_code": str(response.error_code),
            "error_description": str(response.error_description or ""),
        }
    errors = payload_errors(
        action=action,
        payload=response.payload,
        ocpp_version=charge_point.ocpp_version,
        message_type=MessageType.CallResult,
    )
    if errors:
        return {
            "status": Status.CALL_ERROR,
            "answered": True,
            "response": response.payload,
            "error_code": "InvalidResponse",
            "error_description": "The station's answer does not match the schema: " + "; ".join(errors),
        }
    return {"status": Status.ANSWERED, "answered": True, "response": response.payload}

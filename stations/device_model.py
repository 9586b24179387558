"""Reading and writing a station's variables in one language, whatever OCPP version it speaks.

An OCPP 2.0.1 station takes GetVariables / SetVariables with as many items per message, and as many bytes per
message, as its own device model allows (DeviceDataCtrlr.ItemsPerMessage and .BytesPerMessage, instances
GetVariables / SetVariables): a longer list goes out as several messages, one after the other, and the results
come back merged in the order asked. An OCPP 1.6 station takes GetConfiguration / ChangeConfiguration: the
variable's name is the key, the component is ignored. What the station answers updates what the CSMS knows
(``DeviceModelVariable`` / ``ConfigurationKey``).
"""

import json
import logging
import uuid
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from asgiref.sync import async_to_sync, sync_to_async
from django.utils import timezone

from stations.models import ConfigurationKey, DeviceModelVariable, Station, StationCommand
from stations.protocol import outbound
from stations.protocol.commands import station_call
from stations.protocol.redaction import stored_value

logger = logging.getLogger(__name__)

# When the station's device model does not say (not reported yet, or not a positive integer).
DEFAULT_ITEMS_PER_MESSAGE = 10
DEFAULT_BYTES_PER_MESSAGE = 8192
# A 1.6 station's limit on the keys of one GetConfiguration, when it reported one.
V16_MAX_KEYS = "GetConfigurationMaxKeys"
# The station's words for an attribute (GetVariableStatusEnumType / SetVariableStatusEnumType); ours for one
# whose message was not answered take the command's status (offline, timeout...).
ACCEPTED = "Accepted"
REBOOT_REQUIRED = "RebootRequired"
UNKNOWN_VARIABLE = "UnknownVariable"
NO_RESULT = "NoResult"  # the station answered the message but left this attribute out


@dataclass(frozen=True)
class VariableRef:
    """One attribute of one variable (OCPP 2.0.1 ComponentType, VariableType and attributeType)."""

    component: str
    variable: str
    component_instance: str = ""
    variable_instance: str = ""
    evse_id: int | None = None
    connector_id: int | None = None
    attribute_type: str = "Actual"

    def __str__(self):
        component = ":".join(filter(None, [self.component, self.component_instance]))
        if self.evse_id is not None:
            component += f"@{self.evse_id}" + (f":{self.connector_id}" if self.connector_id is not None else "")
        variable = ":".join(filter(None, [self.variable, self.variable_instance]))
        suffix = "" if self.attribute_type == "Actual" else f"#{self.attribute_type}"
        return f"{component}/{variable}{suffix}" if component else variable + suffix


@dataclass(frozen=True)
class VariableResult:
    ref: VariableRef
    status: str
    value: str | None = None
    reason: str = ""
    command_id: int | None = None

    @property
    def accepted(self) -> bool:
        return self.status in (ACCEPTED, REBOOT_REQUIRED)


@dataclass
class VariablesOutcome:
    """The result of each variable in the order asked, and the commands that carried them."""

    results: list[VariableResult] = field(default_factory=list)
    commands: list[StationCommand] = field(default_factory=list)

    @property
    def failed_command(self) -> StationCommand | None:
        """The command that was not answered, when none was: nothing reached the station."""
        if any(command.status == StationCommand.Status.ANSWERED for command in self.commands):
            return None
        return self.commands[0] if self.commands else None


def _key(ref: VariableRef) -> tuple:
    return (
        ref.component,
        ref.component_instance,
        ref.evse_id,
        ref.connector_id,
        ref.variable,
        ref.variable_instance,
        ref.attribute_type,
    )


# Limits


def _limit(station: Station, variable: str, instance: str, default: int) -> int:
    value = (
        DeviceModelVariable.objects.filter(
            station=station,
            component_name="DeviceDataCtrlr",
            component_instance="",
            evse_id=None,
            variable_name=variable,
            variable_instance=instance,
            attribute_type=DeviceModelVariable.AttributeType.ACTUAL,
        )
        .values_list("value", flat=True)
        .first()
    )
    return _positive(value) or default


def _positive(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def message_limits(*, station: Station, action: str) -> tuple[int, int]:
    """(items, bytes) one GetVariables or SetVariables message to ``station`` may carry."""
    return (
        _limit(station, "ItemsPerMessage", action, DEFAULT_ITEMS_PER_MESSAGE),
        _limit(station, "BytesPerMessage", action, DEFAULT_BYTES_PER_MESSAGE),
    )


def frame_size(action: str, payload: dict) -> int:
    """The bytes of the CALL frame carrying ``payload`` (its message id: a UUID, as the ``ocpp`` library's)."""
    frame = [2, str(uuid.uuid4()), action, payload]
    return len(json.dumps(frame, separators=(",", ":")).encode())


def split(items: Sequence, *, build, max_items: int, max_bytes: int) -> list[list]:
    """``items`` in order, in as few runs as keep each message (``build(run)``: an OutboundCall) within both
    limits; an item too big on its own still goes, alone.

    A message's items are one JSON list: its size is the empty message's, plus each item's, plus a comma
    between two (each item sized once, not each run again)."""
    empty = frame_size(*build([]))
    runs: list[list] = []
    size = 0
    for item in items:
        item_size = frame_size(*build([item])) - empty
        if runs and len(runs[-1]) < max_items and size + 1 + item_size <= max_bytes:
            runs[-1].append(item)
            size += 1 + item_size
        else:
            runs.append([item])
            size = empty + item_size
    return runs


# Reading and writing


async def variables_get(
    *,
    station: Station,
    variables: Sequence[VariableRef],
    requested_by=None,
    timeout: float | None = None,  # noqa: ASYNC109 - the station's time to answer each message (station_call's)
) -> VariablesOutcome:
    """Read ``variables`` from the station; Accepted values refresh the ones the CSMS knows."""
    station = await Station.objects.aget(pk=station.pk)
    send = partial(station_call, station=station, requested_by=requested_by, timeout=timeout)
    if station.ocpp_version == "1.6":
        return await _v16_get(station, list(variables), send)
    return await _v201_exchange(station, "GetVariables", list(variables), send)


async def variables_set(
    *,
    station: Station,
    values: Sequence[tuple[VariableRef, str]],
    requested_by=None,
    timeout: float | None = None,  # noqa: ASYNC109 - as for variables_get
) -> VariablesOutcome:
    """Write (variable, value) pairs; those the station accepts (also RebootRequired) update the known value."""
    station = await Station.objects.aget(pk=station.pk)
    send = partial(station_call, station=station, requested_by=requested_by, timeout=timeout)
    if station.ocpp_version == "1.6":
        return await _v16_set(station, list(values), send)
    return await _v201_exchange(station, "SetVariables", list(values), send)


variables_get_sync = async_to_sync(variables_get)
variables_set_sync = async_to_sync(variables_set)


async def _v201_exchange(station, action, items, send) -> VariablesOutcome:
    # A station that never connected: its commands end as offline, in whichever format.
    version = station.ocpp_version or "2.0.1"
    verb = outbound.variables_get if action == "GetVariables" else outbound.variables_set
    refs = items if action == "GetVariables" else [ref for ref, _ in items]

    def build(run):
        return verb(version, variables=run)

    max_items, max_bytes = await sync_to_async(message_limits)(station=station, action=action)
    outcome = VariablesOutcome()
    runs = split(items, build=build, max_items=max_items, max_bytes=max_bytes)
    for run in runs:
        run_refs = refs[len(outcome.results) : len(outcome.results) + len(run)]
        if outcome.commands and outcome.commands[-1].status != StationCommand.Status.ANSWERED:
            # The station did not answer the last message: the rest would not fare better.
            outcome.results += _unanswered(run_refs, outcome.commands[-1])
            continue
        call = build(run)
        command = await send(action=call.action, payload=call.payload)
        outcome.commands.append(command)
        if command.status != StationCommand.Status.ANSWERED:
            outcome.results += _unanswered(run_refs, command)
            continue
        # By what each result names (the same attribute may be asked twice: its results in turn).
        answered: dict[tuple, deque] = defaultdict(deque)
        for result in outbound.answer_of(version, command).data.get("results", []):
            answered[_key(_ref_of(result))].append(result)
        for ref in run_refs:
            result = answered[_key(ref)].popleft() if answered[_key(ref)] else None
            if result is None:
                outcome.results.append(VariableResult(ref, NO_RESULT, command_id=command.pk))
            else:
                outcome.results.append(
                    VariableResult(ref, result["status"], result["value"], result["reason"], command.pk)
                )
    written = dict(items) if action == "SetVariables" else {}
    await sync_to_async(_v201_store)(station, outcome.results, written)
    if len(runs) > 1:
        logger.info(
            "variables exchanged in several messages",
            extra={"station_id": station.ocpp_id, "action": action, "messages": len(outcome.commands)},
        )
    return outcome


def _ref_of(result: dict) -> VariableRef:
    return VariableRef(
        component=result["component"],
        component_instance=result["component_instance"],
        evse_id=result["evse_id"],
        connector_id=result["connector_id"],
        variable=result["variable"],
        variable_instance=result["variable_instance"],
        attribute_type=result["attribute_type"],
    )


def _unanswered(refs, command: StationCommand) -> list[VariableResult]:
    reason = command.error_description
    return [VariableResult(ref, command.status, reason=reason, command_id=command.pk) for ref in refs]


def _v201_store(station: Station, results: list[VariableResult], written: dict[VariableRef, str]) -> int:
    """Known attributes only: a variable the station never reported is left for its next report (a row would
    make its device model look known, and the report asked for after boot would not be asked)."""
    now = timezone.now()
    updated = 0
    for result in results:
        if not result.accepted:
            continue
        value = stored_value(result.ref.variable, written.get(result.ref, result.value))
        if result.ref not in written and result.value is None:
            continue  # a WriteOnly attribute read: nothing to learn
        ref = result.ref
        updated += DeviceModelVariable.objects.filter(
            station=station,
            component_name=ref.component,
            component_instance=ref.component_instance,
            evse_id=ref.evse_id,
            connector_id=ref.connector_id,
            variable_name=ref.variable,
            variable_instance=ref.variable_instance,
            attribute_type=ref.attribute_type,
        ).update(value=value, reported_at=now)
        if result.status == REBOOT_REQUIRED:
            logger.info("variable set, takes effect on reboot", extra={"station_id": station.ocpp_id, "ref": str(ref)})
    return updated


# OCPP 1.6: configuration keys


def _v16_max_keys(station: Station) -> int:
    value = ConfigurationKey.objects.filter(station=station, key=V16_MAX_KEYS).values_list("value", flat=True).first()
    return _positive(value) or DEFAULT_ITEMS_PER_MESSAGE


async def _v16_get(station, refs, send) -> VariablesOutcome:
    outcome = VariablesOutcome()
    max_keys = await sync_to_async(_v16_max_keys)(station)
    for start in range(0, len(refs), max_keys):
        run = refs[start : start + max_keys]
        call = outbound.configuration_read("1.6", keys=dict.fromkeys(ref.variable for ref in run))
        command = await send(action=call.action, payload=call.payload)
        outcome.commands.append(command)
        if command.status != StationCommand.Status.ANSWERED:
            outcome.results += _unanswered(refs[start:], command)
            break
        data = outbound.answer_of("1.6", command).data
        values = {entry["key"]: entry.get("value") for entry in data["keys"]}
        await sync_to_async(_v16_store)(station, data["keys"])
        for ref in run:
            if ref.variable in values:
                outcome.results.append(VariableResult(ref, ACCEPTED, values[ref.variable], command_id=command.pk))
            else:
                outcome.results.append(VariableResult(ref, UNKNOWN_VARIABLE, command_id=command.pk))
    return outcome


# ChangeConfiguration's words in the 2.0.1 ones callers read (NotSupported: "the key is not supported").
V16_CHANGE_STATUS = {"NotSupported": UNKNOWN_VARIABLE}


async def _v16_set(station, values, send) -> VariablesOutcome:
    """ChangeConfiguration takes one key a message."""
    outcome = VariablesOutcome()
    for index, (ref, value) in enumerate(values):
        call = outbound.configuration_write("1.6", key=ref.variable, value=value)
        command = await send(action=call.action, payload=call.payload)
        outcome.commands.append(command)
        if command.status != StationCommand.Status.ANSWERED:
            outcome.results += _unanswered([ref for ref, _ in values[index:]], command)
            break
        status = outbound.answer_of("1.6", command).status
        result = VariableResult(ref, V16_CHANGE_STATUS.get(status, status), command_id=command.pk)
        outcome.results.append(result)
        if result.accepted:
            await sync_to_async(_v16_store)(station, [{"key": ref.variable, "value": value}], keep_readonly=True)
    return outcome


def _v16_store(station: Station, keys: list[dict], keep_readonly: bool = False) -> None:
    now = timezone.now()
    for entry in keys:
        defaults = {"value": stored_value(entry["key"], entry.get("value")), "reported_at": now}
        if not keep_readonly:
            defaults["readonly"] = bool(entry.get("readonly"))
        ConfigurationKey.objects.update_or_create(station=station, key=entry["key"][:50], defaults=defaults)

"""JSON-schema validation of OCPP payloads against the official schemas, both directions, compiled once per action.

One validator serves what stations send us (``validate_call``), what we answer them (``result_is_valid``)
and the commands we send and the answers they get (``payload_errors``). The `ocpp` library validates with
``jsonschema`` in a worker thread: about 140 µs of interpretation for a MeterValues, plus two thread hops
per message. Here each schema the library ships is compiled by ``fastjsonschema`` into a Python function
the first time its action is seen (about 5 µs a MeterValues, on the event loop). The compiled function
only says pass or fail (it stops at the first violation); a payload it refuses is checked again by the
library's own ``jsonschema`` validator of the same schema, which lists every violation and picks the
one a CALLERROR reports (see ``SCHEMA_ERRORS``); one that validator accepts after all is accepted, so
the set of payloads accepted stays exactly the library's. Formats (``date-time``) are not checked, as
the library does not check them; handlers parse timestamps.

The few schemas whose numbers the library parses as Decimal (``DECIMAL_MESSAGES``) are validated by
the library's validator only: fastjsonschema's generated ``multipleOf`` check divides by a float.
"""

import decimal
import functools
import json
from collections.abc import Callable

import fastjsonschema
from jsonschema import Draft4Validator, ValidationError
from jsonschema.exceptions import best_match
from ocpp.exceptions import (
    FormationViolationError,
    FormatViolationError,
    NotImplementedError,
    OccurenceConstraintViolationError,
    PropertyConstraintViolationError,
    TypeConstraintViolationError,
)
from ocpp.messages import Call, CallResult, MessageType, get_validator

from stations.protocol.framing import MAX_DESCRIPTION

# A schema violation, by the JSON-schema keyword that failed. A missing required field violates its
# occurrence constraint (1.6 comes from XSD's minOccurs), as do too few or too many array items.
SCHEMA_ERRORS = {
    "type": TypeConstraintViolationError,
    "maxLength": TypeConstraintViolationError,
    "minLength": TypeConstraintViolationError,
    "enum": PropertyConstraintViolationError,
    "pattern": PropertyConstraintViolationError,
    "format": PropertyConstraintViolationError,
    "minimum": PropertyConstraintViolationError,
    "maximum": PropertyConstraintViolationError,
    "exclusiveMinimum": PropertyConstraintViolationError,
    "exclusiveMaximum": PropertyConstraintViolationError,
    "multipleOf": PropertyConstraintViolationError,
    "required": OccurenceConstraintViolationError,
    "minItems": OccurenceConstraintViolationError,
    "maxItems": OccurenceConstraintViolationError,
    "additionalProperties": FormationViolationError,
}

# The ocpp library parses the numbers of these messages as Decimal, so that a limit of 21.4 passes the
# schema's "multipleOf": 0.1 (as a float it does not). Its validator cache ignores how numbers are parsed,
# so we must parse exactly as it does, or we would hand it a float validator for these schemas.
DECIMAL_MESSAGES = frozenset(
    {
        ("1.6", MessageType.Call, "SetChargingProfile"),
        ("1.6", MessageType.Call, "RemoteStartTransaction"),
        ("1.6", MessageType.CallResult, "GetCompositeSchedule"),
    }
)


class SchemaMissing(LookupError):
    """The library has no schema for this action in this OCPP version."""


@functools.cache
def _compiled(ocpp_version: str, message_type: int, action: str) -> Callable | None:
    """The compiled pass/fail check; None for the Decimal messages (the detailed validator alone checks them)."""
    if (ocpp_version, message_type, action) in DECIMAL_MESSAGES:
        return None
    return fastjsonschema.compile(
        _detailed(ocpp_version, message_type, action).schema, use_formats=False, detailed_exceptions=False
    )


@functools.cache
def _detailed(ocpp_version: str, message_type: int, action: str) -> Draft4Validator:
    """The library's own validator of the schema, its numbers parsed as the library parses them."""
    parse_float = decimal.Decimal if (ocpp_version, message_type, action) in DECIMAL_MESSAGES else float
    try:
        return get_validator(message_type, action, ocpp_version, parse_float=parse_float)
    except (OSError, ValueError):
        raise SchemaMissing(f"There is no OCPP {ocpp_version} schema for {action}.") from None


def _violations(payload, *, action: str, ocpp_version: str, message_type: int) -> list[ValidationError]:
    """Every violation of the schema (empty when the payload is valid); SchemaMissing when there is none."""
    compiled = _compiled(ocpp_version, message_type, action)
    if compiled is not None:
        try:
            compiled(payload)
        except fastjsonschema.JsonSchemaException:
            pass  # refused: the detailed validator says why (and has the last word)
        else:
            return []
        parse_float = float
    else:
        parse_float = decimal.Decimal
    # Plain JSON values as the library would parse them off the wire (Decimal numbers where it uses them).
    instance = json.loads(json.dumps(payload), parse_float=parse_float)
    return list(_detailed(ocpp_version, message_type, action).iter_errors(instance))


def payload_errors(*, action: str, payload: dict, ocpp_version: str, message_type: int = MessageType.Call) -> list[str]:
    """Every violation of the official JSON schema, as ``path: problem`` lines (empty when the payload is valid)."""
    errors = []
    for error in _violations(payload, action=action, ocpp_version=ocpp_version, message_type=message_type):
        path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path)
        errors.append(f"{path.lstrip('.') or '(payload)'}: {error.message}")
    return sorted(errors)


async def validate_call(message: Call, ocpp_version: str) -> None:
    """A station's CALL payload against its schema; the CALLERROR chosen by the most relevant violation."""
    try:
        violations = _violations(
            message.payload, action=message.action, ocpp_version=ocpp_version, message_type=MessageType.Call
        )
    except SchemaMissing as missing:
        raise NotImplementedError(str(missing)) from None
    if violation := best_match(violations):
        path = "/" + "/".join(str(part) for part in violation.absolute_path)
        error_class = SCHEMA_ERRORS.get(violation.validator, FormatViolationError)
        raise error_class(f"{path}: {violation.message}"[:MAX_DESCRIPTION], details={"path": path})


async def result_is_valid(result: CallResult, ocpp_version: str) -> bool:
    """Whether our own answer matches its schema (a bug of ours if not)."""
    try:
        return not _violations(
            result.payload, action=result.action, ocpp_version=ocpp_version, message_type=MessageType.CallResult
        )
    except SchemaMissing:
        return False

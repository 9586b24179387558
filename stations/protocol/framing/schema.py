"""JSON-schema validation of OCPP payloads against the official schemas, compiled once per action.

The `ocpp` library validates with ``jsonschema`` in a worker thread: about 140 µs of interpretation
for a MeterValues, plus two thread hops per message. Here each schema the library ships is compiled
by ``fastjsonschema`` into a Python function the first time its action is seen (about 5 µs a
MeterValues, on the event loop). The set of payloads accepted stays exactly the library's: a payload
the compiled function refuses is checked again by the library's own validator, which also picks the
violation reported (see ``SCHEMA_ERRORS``), and one it accepts after all is accepted. Formats
(``date-time``) are not checked, as the library does not check them; handlers parse timestamps.

The few schemas whose numbers the library parses as Decimal (a ``multipleOf: 0.1`` would refuse
21.4 as a float) keep the library's validation.
"""

import functools
from collections.abc import Callable

import fastjsonschema
from jsonschema.exceptions import best_match
from ocpp.exceptions import (
    FormationViolationError,
    FormatViolationError,
    NotImplementedError,
    OccurenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    TypeConstraintViolationError,
)
from ocpp.messages import Call, CallResult, MessageType, get_validator, validate_payload

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

# Validated by the library itself, which parses their numbers as Decimal (see ocpp.messages).
LIBRARY_VALIDATED = frozenset(
    {
        ("1.6", MessageType.Call, "SetChargingProfile"),
        ("1.6", MessageType.Call, "RemoteStartTransaction"),
        ("1.6", MessageType.CallResult, "GetCompositeSchedule"),
    }
)

_NO_SCHEMA = object()


@functools.cache
def _compiled(ocpp_version: str, message_type: int, action: str) -> Callable | object | None:
    """The compiled validator; None for the library's own validation, _NO_SCHEMA when there is no schema."""
    if (ocpp_version, message_type, action) in LIBRARY_VALIDATED:
        return None
    try:
        schema = get_validator(message_type, action, ocpp_version).schema
    except (OSError, ValueError):
        return _NO_SCHEMA
    # Which keyword failed is asked of the library's validator (see _schema_error): no details needed here.
    return fastjsonschema.compile(schema, use_formats=False, detailed_exceptions=False)


async def validate_call(message: Call, ocpp_version: str) -> None:
    """A station's CALL payload against its schema; the CALLERROR chosen by the failing keyword."""
    validator = _compiled(ocpp_version, MessageType.Call, message.action)
    if validator is None:
        try:
            await validate_payload(message, ocpp_version)
        except OCPPError as error:
            raise _schema_error(message, ocpp_version) or error from None
        return
    if validator is _NO_SCHEMA:
        raise NotImplementedError(f"There is no OCPP {ocpp_version} schema for {message.action}.")
    try:
        validator(message.payload)
    except fastjsonschema.JsonSchemaException:
        if error := _schema_error(message, ocpp_version):
            raise error from None


async def result_is_valid(result: CallResult, ocpp_version: str) -> bool:
    """Whether our own answer matches its schema (a bug of ours if not)."""
    validator = _compiled(ocpp_version, MessageType.CallResult, result.action)
    if validator is _NO_SCHEMA:
        return False
    try:
        if validator is None:
            await validate_payload(result, ocpp_version)
        else:
            validator(result.payload)
    except fastjsonschema.JsonSchemaException:
        return get_validator(MessageType.CallResult, result.action, ocpp_version).is_valid(result.payload)
    except OCPPError:
        return False
    return True


def _schema_error(message: Call, ocpp_version: str) -> OCPPError | None:
    """The most relevant violation as the library's validator sees it; None when it sees none."""
    try:
        violation = best_match(
            get_validator(MessageType.Call, message.action, ocpp_version).iter_errors(message.payload)
        )
    except (OSError, ValueError):
        return None
    if violation is None:
        return None
    path = "/" + "/".join(str(part) for part in violation.absolute_path)
    error_class = SCHEMA_ERRORS.get(violation.validator, FormatViolationError)
    return error_class(f"{path}: {violation.message}"[:MAX_DESCRIPTION], details={"path": path})

"""OCPP-J RPC framing: each frame parsed once, and the exact CALLERROR a bad frame or a refused call gets.

Error codes follow the OCPP-J 1.6 table "Valid Error Codes" (§4.2.3) with the 1.6 errata that are
kept on purpose: 1.6 spells ``FormationViolation`` and ``OccurenceConstraintViolation``; 2.0.1 spells
``FormatViolation`` and keeps ``OccurenceConstraintViolation``. The classification:

- not UTF-8, not JSON, larger than ``CMS_OCPP_MAX_FRAME_BYTES``: FormationViolation (syntax);
- JSON but not an RPC array (not a list, wrong number of elements, no message id): ProtocolError;
- a message type id that is not 2, 3 or 4: PropertyConstraintViolation; one that is not a number,
  a message id, action or payload of the wrong JSON type, a message id over 36 characters:
  TypeConstraintViolation;
- schema violations by JSON-schema keyword (see ``framing.schema.SCHEMA_ERRORS``).

When the message id cannot be read the CALLERROR carries ``"-1"`` (the OCPP-J 2.0.1 rule; 1.6 has
none). A malformed CALLRESULT or CALLERROR from the station is logged and never answered: a CALLERROR
answers only a CALL.
"""

import contextlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ocpp.exceptions import (
    FormationViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    ProtocolError,
    TypeConstraintViolationError,
)
from ocpp.messages import Call, CallError, CallResult

from stations.plausibility import ValueRejected

CALL, CALL_RESULT, CALL_ERROR = 2, 3, 4
FRAME_LENGTHS = {CALL: 4, CALL_RESULT: 3, CALL_ERROR: 5}
FRAME_SHAPES = {
    CALL: "[2, messageId, action, payload]",
    CALL_RESULT: "[3, messageId, payload]",
    CALL_ERROR: "[4, messageId, errorCode, errorDescription, errorDetails]",
}
UNREADABLE_ID = "-1"
MAX_ID_LENGTH = 36
MAX_DESCRIPTION = 255
# How much of a frame that could not be parsed the message log keeps.
RAW_KEEP = 8192

# The head of a frame, to answer with the right message id even when the rest cannot be parsed.
_HEAD = re.compile(r'\s*\[\s*(\d+)\s*,\s*"([^"\\]{1,36})"')

# Codes as each OCPP-J version spells them on the wire.
_WIRE_CODES = {
    "1.6": {"FormatViolation": "FormationViolation", "OccurrenceConstraintViolation": "OccurenceConstraintViolation"},
    "2.0.1": {"FormationViolation": "FormatViolation", "OccurrenceConstraintViolation": "OccurenceConstraintViolation"},
}


@dataclass(slots=True)
class Frame:
    """One frame off the wire (either direction), parsed once for routing and for the message log."""

    message_type: int | None
    unique_id: str
    action: str = ""
    payload: Any = None
    error_code: str = ""  # of a CALLERROR frame
    message: Call | CallResult | CallError | None = None
    # Set when the frame is malformed; a CALLERROR answers it when ``answerable``.
    error: OCPPError | None = None
    raw: str = ""  # the text, kept only when the frame could not be parsed

    @property
    def answerable(self) -> bool:
        return self.error is not None and self.message_type not in (CALL_RESULT, CALL_ERROR)


def parse_frame(data: str | bytes, *, max_bytes: int | None = None) -> Frame:
    """The frame, or a Frame whose ``error`` says what is wrong with it (never raises)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            return _malformed(data.decode("utf-8", "replace"), FormationViolationError("The frame is not UTF-8 text."))
    # Four bytes per character at most: the encoding is only measured when it could be too long.
    if max_bytes and len(data) * 4 > max_bytes and (size := len(data.encode("utf-8"))) > max_bytes:
        return _malformed(
            data, FormationViolationError(f"The frame has {size} bytes; this server accepts at most {max_bytes}.")
        )
    try:
        value = json.loads(data)
    except ValueError:
        return _malformed(data, FormationViolationError("The frame is not valid JSON."))
    return _from_json(value, data)


def _from_json(value, text: str) -> Frame:
    if not isinstance(value, list) or not value:
        return _malformed(text, ProtocolError("An OCPP-J frame is a JSON array: [messageTypeId, messageId, ...]."))
    type_id = value[0]
    if type(type_id) is not int or type_id not in FRAME_LENGTHS:
        readable = len(value) > 1 and isinstance(value[1], str) and len(value[1]) <= MAX_ID_LENGTH
        unique_id = value[1] if readable else UNREADABLE_ID
        if type(type_id) is not int:
            return _bad(None, unique_id, text, TypeConstraintViolationError("The messageTypeId must be an integer."))
        problem = f"MessageTypeId {type_id} is not 2 (CALL), 3 (CALLRESULT) or 4 (CALLERROR)."
        return _bad(None, unique_id, text, PropertyConstraintViolationError(problem))
    if len(value) < 2:
        return _bad(type_id, UNREADABLE_ID, text, ProtocolError("The frame has no messageId."))
    unique_id = value[1]
    if not isinstance(unique_id, str):
        return _bad(type_id, UNREADABLE_ID, text, TypeConstraintViolationError("The messageId must be a string."))
    if len(value) != FRAME_LENGTHS[type_id]:
        return _bad(type_id, unique_id, text, ProtocolError(f"The frame must be {FRAME_SHAPES[type_id]}."))

    if type_id == CALL:
        _, _, action, payload = value
        if not isinstance(action, str):
            return _bad(type_id, unique_id, text, TypeConstraintViolationError("The action must be a string."))
        if not isinstance(payload, dict):
            return _bad(type_id, unique_id, text, TypeConstraintViolationError("The payload must be a JSON object."))
        frame = Frame(CALL, unique_id, action, payload, message=Call(unique_id, action, payload))
    elif type_id == CALL_RESULT:
        payload = value[2]
        frame = Frame(CALL_RESULT, unique_id, payload=payload, message=CallResult(unique_id, payload))
    else:
        _, _, code, description, details = value
        code, description = str(code), str(description)
        details = details if isinstance(details, dict) else {"details": details}
        frame = Frame(
            CALL_ERROR,
            unique_id,
            payload={"errorDescription": description, "errorDetails": details},
            error_code=code,
            message=CallError(unique_id, code, description, details),
        )
    if len(unique_id) > MAX_ID_LENGTH:
        # Parsed all the same, for the message log; a CALL with it is answered with this error.
        frame.error = TypeConstraintViolationError(f"The messageId is longer than {MAX_ID_LENGTH} characters.")
    return frame


def _malformed(text: str, error: OCPPError) -> Frame:
    """A frame whose structure cannot be trusted: its head may still name its type and message id."""
    head = _HEAD.match(text)
    if head is None:
        return _bad(None, UNREADABLE_ID, text, error)
    type_id = int(head.group(1))
    return _bad(type_id if type_id in FRAME_LENGTHS else None, head.group(2), text, error)


def _bad(type_id: int | None, unique_id: str, text: str, error: OCPPError) -> Frame:
    return Frame(type_id, unique_id, error=error, raw=text[:RAW_KEEP])


def wire_error_code(error: OCPPError, ocpp_version: str) -> str:
    return _WIRE_CODES.get(ocpp_version, {}).get(error.code, error.code)


def call_error_frame(unique_id: str, error: OCPPError, ocpp_version: str) -> str:
    """The CALLERROR text answering a CALL with ``error``, spelled the way ``ocpp_version`` does."""
    description = str(error.description or "")[:MAX_DESCRIPTION]
    details = error.details if isinstance(error.details, dict) else {}
    return CallError(unique_id, wire_error_code(error, ocpp_version), description, details).to_json()


def parse_timestamp(value: str, *, field: str) -> datetime:
    """An OCPP dateTime as an aware datetime (UTC when the station gives no offset).

    The official schemas declare ``"format": "date-time"`` but the validator does not check formats.
    """
    try:
        if "T" not in value and " " not in value:
            raise ValueError
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise PropertyConstraintViolationError(
            f"{field}: {value!r} is not an RFC 3339 date-time.", details={"path": f"/{field}"}
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@contextlib.contextmanager
def property_violation(prefix: str = ""):
    """A value the services refuse (``ValueRejected``) answered as PropertyConstraintViolation (OCPP-J
    §4.2.3: "at least one field contains an invalid value"); ``prefix`` is the path of the values checked."""
    try:
        yield
    except ValueRejected as rejected:
        path = f"{prefix}/{rejected.path.lstrip('/')}" if prefix else rejected.path
        raise PropertyConstraintViolationError(
            f"{path}: {rejected.message}"[:MAX_DESCRIPTION], details={"path": path}
        ) from None

"""The CSMS side of the OCPP-J RPC framework, mixed into each version's `ocpp` library ChargePoint.

The library's own ``route_message`` only logs a frame it cannot parse, answers an unknown action with
the two "not implemented/supported" codes swapped, and reports a schema violation of *our* answer to
the station as if the station were at fault. This replaces its routing of incoming frames (already
parsed by ``ConsumerConnection``), its handling of a CALL (validated against the library's official
schemas by ``framing.schema``, compiled) and its wait for the answer to our own CALL (which must end
when the connection does); ``@on``/``@after`` handlers, payload conversion and ``call()`` for outgoing
commands stay the library's.
"""

import asyncio
import functools
import inspect
import logging
from collections import Counter

from ocpp.exceptions import InternalError, NotImplementedError, NotSupportedError, OCPPError, SecurityError
from ocpp.messages import Call, CallResult

from stations.app_settings import app_settings
from stations.models import Station
from stations.protocol.framing import CALL, Frame, call_error_frame
from stations.protocol.framing.schema import result_is_valid, validate_call
from stations.protocol.ocpp_compat import (
    AFTER_ACTION,
    ON_ACTION,
    SKIP_SCHEMA_VALIDATION,
    ChargePointCompat,
    action_handlers,
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)

logger = logging.getLogger(__name__)

Registration = Station.RegistrationStatus

# What a station not (yet) Accepted may send (OCPP 1.6 §4.2; 2.0.1 B02.FR.09 and B03.FR.07), besides a
# message the CSMS asked for with TriggerMessage while Pending. Anything else gets SecurityError.
ALLOWED_BEFORE_ACCEPTED = {
    Registration.PENDING: frozenset({"BootNotification", "Heartbeat"}),
    Registration.REJECTED: frozenset({"BootNotification"}),
}
TRIGGER_ACTIONS = frozenset({"TriggerMessage", "ExtendedTriggerMessage"})
# Queued behind the station's last answers when its connection ends: a call still waiting then has none coming.
CONNECTION_LOST = object()


@functools.lru_cache(maxsize=4096)
def _snake_case_key(key: str) -> str:
    return next(iter(camel_to_snake_case({key: None})))


def snake_case_keys(data):
    """The library's ``camel_to_snake_case``, with each key's conversion (two regexes) done once per process."""
    if isinstance(data, dict):
        return {_snake_case_key(key): snake_case_keys(value) for key, value in data.items()}
    if isinstance(data, list):
        return [snake_case_keys(value) for value in data]
    return data


def _wants_call_unique_id(handler) -> bool:
    # Cached by the function, not the bound method: that would keep every connection's ChargePoint alive.
    return _takes_call_unique_id(getattr(handler, "__func__", handler))


@functools.cache
def _takes_call_unique_id(function) -> bool:
    return "call_unique_id" in inspect.signature(function).parameters


class RpcDispatch(ChargePointCompat):
    """Routes parsed frames; answers every CALL with its CALLRESULT or the right CALLERROR.

    The class using it sets ``known_actions`` (every action of its OCPP version) and
    ``registration_status``, and updates the latter when it answers a BootNotification.
    """

    known_actions: frozenset[str] = frozenset()
    registration_status: str = Registration.ACCEPTED

    def __init__(self, station, connection, **kwargs):
        kwargs.setdefault("response_timeout", app_settings.RESPONSE_TIMEOUT)
        super().__init__(station.ocpp_id, connection, **kwargs)
        self.station = station  # the authenticated Station
        self.registration_status = station.registration_status
        # Messages the CSMS asked for with TriggerMessage, which a Pending station may send once each.
        self._triggered: Counter[str] = Counter()
        self._after_tasks: set[asyncio.Task] = set()
        self._connection_lost = False

    async def start(self):
        while True:
            frame = await self.receive_frame()
            try:
                await self.route_message(frame)
            except Exception:
                # A bug in routing must not end the connection's serving loop.
                logger.exception("OCPP frame could not be routed", extra={"station_id": self.id})

    async def route_message(self, frame: Frame):
        if frame.error is not None:
            if frame.answerable:
                await self._send_call_error(frame.unique_id, frame.error)
            else:
                logger.warning(
                    "malformed answer from station ignored",
                    extra={"station_id": self.id, "message_id": frame.unique_id, "error": frame.error.description},
                )
        elif frame.message_type == CALL:
            await self.handle_call(frame.message)
        elif self.call_pending():
            # A CALLRESULT or CALLERROR: call() (and the command layer) match it by message id.
            self.answer_received(frame.message)
        else:
            # Nothing is waiting (the call timed out, or was never made): queued, it would only pile up.
            logger.info(
                "answer to no pending call ignored", extra={"station_id": self.id, "message_id": frame.unique_id}
            )

    async def handle_call(self, msg: Call):
        try:
            response, handlers, kwargs = await self._answer(msg)
        except OCPPError as error:
            await self._send_call_error(msg.unique_id, error)
            return
        except Exception:
            # Whatever the handler's service committed before failing stays committed; the frame is in
            # the message log, so nothing the station sent is lost.
            logger.exception("OCPP handler failed", extra={"station_id": self.id, "action": msg.action})
            await self._send_call_error(
                msg.unique_id, InternalError(f"The CSMS could not process {msg.action}; it has been logged.")
            )
            return
        await self.send_message(response.to_json())
        if after := handlers.get(AFTER_ACTION):
            result = after(**kwargs)
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._after_tasks.add(task)
                task.add_done_callback(self._after_tasks.discard)

    async def _answer(self, msg: Call) -> tuple[CallResult, dict, dict]:
        handlers = action_handlers(self, msg.action)
        if ON_ACTION not in handlers:
            # OCPP-J §4.2.3: NotImplemented is "not known by receiver", NotSupported "recognized but not
            # supported" (the library has the two the other way round).
            if msg.action in self.known_actions:
                raise NotSupportedError(f"{msg.action} is not a message a charge point sends to the CSMS.")
            raise NotImplementedError(f"{msg.action!r} is not an OCPP {self.ocpp_version} action.")
        self._check_registration(msg.action)
        validate = not handlers.get(SKIP_SCHEMA_VALIDATION, False)
        if validate:
            await validate_call(msg, self.ocpp_version)

        handler = handlers[ON_ACTION]
        kwargs = snake_case_keys(msg.payload)
        if _wants_call_unique_id(handler):
            result = handler(**kwargs, call_unique_id=msg.unique_id)
        else:
            result = handler(**kwargs)
        if inspect.isawaitable(result):
            result = await result

        response = msg.create_call_result(snake_to_camel_case(remove_nones(serialize_as_dict(result))))
        if validate and not await result_is_valid(response, self.ocpp_version):
            logger.error(
                "our answer does not match the schema",
                extra={"station_id": self.id, "action": msg.action, "payload": response.payload},
            )
            raise InternalError(f"The CSMS produced an invalid {msg.action} answer.")
        return response, handlers, kwargs

    def connection_lost(self, unread: list[Frame]) -> None:
        """The socket is gone. A command waiting for the station's answer ends at once as offline, unless
        the answer is among the frames received before the end (``unread``: not yet routed)."""
        self._connection_lost = True
        for frame in unread:
            if frame.error is None and frame.message_type != CALL and self.call_pending():
                self.answer_received(frame.message)
        self.answer_received(CONNECTION_LOST)

    async def wait_for_answer(self, unique_id: str, timeout: float):  # noqa: ASYNC109 - as the library's call() passes it
        """The station's answer to our CALL ``unique_id`` (the library's wait, ending when the connection does).

        Raises CancelledError when the connection has ended first, as if the waiting command had been
        cancelled: the command layer answers its caller that the station disconnected before answering.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._connection_lost:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            response = await asyncio.wait_for(self.next_answer(), remaining)
            if response is CONNECTION_LOST:
                break
            if response.unique_id == unique_id:
                return response
            logger.info(
                "answer to an earlier call ignored", extra={"station_id": self.id, "message_id": response.unique_id}
            )
        raise asyncio.CancelledError("The station disconnected before answering.")

    def _check_registration(self, action: str) -> None:
        allowed = ALLOWED_BEFORE_ACCEPTED.get(self.registration_status)
        if allowed is None or action in allowed:
            return
        if self.registration_status == Registration.PENDING and self._triggered[action] > 0:
            self._triggered[action] -= 1
            return
        raise SecurityError(
            f"The station's registration is {self.registration_status}: only "
            f"{' and '.join(sorted(allowed))} may be sent until the CSMS accepts it."
        )

    async def send_message(self, message: str):
        if self._connection_lost:
            # A command that was waiting its turn: the station is gone (see wait_for_answer).
            raise asyncio.CancelledError("The station disconnected.")
        frame = await self.write_frame(message)
        if frame is not None and frame.message_type == CALL and frame.action in TRIGGER_ACTIONS:
            requested = frame.payload.get("requestedMessage")
            if isinstance(requested, str):
                self._triggered[requested] += 1

    async def _send_call_error(self, unique_id: str, error: OCPPError) -> None:
        await self.send_message(call_error_frame(unique_id, error, self.ocpp_version))

"""Every use of the `ocpp` library's private API, in one place: what we rely on beyond its documented surface.

We keep the library's ChargePoint (its ``@on``/``@after`` route map, payload conversion and ``call()``)
but replace its routing of incoming frames and parts of its call path (``framing.dispatch``), and send
commands whose payload is already on the wire format (``commands``). That needs its private state
(``_connection``, ``_call_lock``, ``_response_queue``, ``_unique_id_generator``, ``_ocpp_version``), the
keys of its route map, its case-conversion helpers, and overrides of its ``__init__`` (the route map) and of the
private methods its ``call()`` goes through (``_send``, ``_get_specific_response``). No other module names any of
them.

``tests/ocpp/test_ocpp_compat.py`` checks each against a real library ChargePoint (attributes present,
signatures unchanged, ``call()`` still going through the overridden methods) and fails loudly when an
upgrade changes them; ``pyproject.toml`` pins ``ocpp`` to the releases that passed.
"""

import asyncio
import functools
import uuid

from ocpp.charge_point import (  # not in the library's documented API
    LOGGER,
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.messages import Call, CallError, CallResult
from ocpp.routing import create_route_map

# The keys of one action's entry in a ChargePoint's ``route_map`` (``ocpp.routing.create_route_map``).
ON_ACTION = "_on_action"
AFTER_ACTION = "_after_action"
SKIP_SCHEMA_VALIDATION = "_skip_schema_validation"

__all__ = [
    "AFTER_ACTION",
    "ON_ACTION",
    "SKIP_SCHEMA_VALIDATION",
    "ChargePointCompat",
    "action_handlers",
    "camel_to_snake_case",
    "on_action_replace",
    "remove_nones",
    "serialize_as_dict",
    "snake_to_camel_case",
]


def action_handlers(charge_point, action: str) -> dict:
    """The route map entry of ``action`` (keys ON_ACTION, AFTER_ACTION, SKIP_SCHEMA_VALIDATION); {} if none."""
    return charge_point.route_map.get(action) or {}


def on_action_replace(charge_point, action: str, handler) -> None:
    """Answer ``action`` with ``handler`` from now on, on this one ChargePoint (tests: a station that misbehaves)."""
    charge_point.route_map[action][ON_ACTION] = handler


class RouteMap(dict):
    """A ChargePoint's ``route_map`` as ``create_route_map`` makes it, each entry made when first read: the routes
    of the class are found once (``class_routes``) and bound to the instance as they are used."""

    __slots__ = ("_charge_point",)

    def __init__(self, charge_point):
        super().__init__()
        self._charge_point = charge_point

    def __missing__(self, action):
        routes = class_routes(type(self._charge_point))[action]  # KeyError: no route
        entry = {
            key: value if key == SKIP_SCHEMA_VALIDATION else value.__get__(self._charge_point)
            for key, value in routes.items()
        }
        self[action] = entry
        return entry

    def get(self, action, default=None):
        try:
            return self[action]
        except KeyError:
            return default


@functools.cache
def class_routes(charge_point_class) -> dict:
    """The routes (``@on``/``@after``) of a ChargePoint class, its functions unbound: the library's own walk."""
    return create_route_map(charge_point_class)


class ChargePointCompat:
    """Mixed in before the library's ChargePoint: its private state under our names, and the private methods
    its ``call()`` and routing use redirected to ours (``send_message``, ``wait_for_answer``, ``handle_call``,
    which the class using this mixin defines)."""

    def __init__(self, id, connection, response_timeout=30, logger=LOGGER):
        """The library's ``ChargePoint.__init__`` (the same attributes; the tests compare them), but for its route
        map: the library walks ``dir()`` of every new ChargePoint for it (38-55 microseconds and 4-7 KiB of each
        connection, 40 MB at 10,000 stations); here the class's routes are found once (``RouteMap``)."""
        self.id = id
        self._response_timeout = response_timeout
        self._connection = connection
        self.route_map = RouteMap(self)
        self._call_lock = asyncio.Lock()
        self._response_queue = asyncio.Queue()
        self._unique_id_generator = uuid.uuid4
        self.logger = logger

    @property
    def ocpp_version(self) -> str:
        return self._ocpp_version

    def call_pending(self) -> bool:
        """Whether a CALL of ours is waiting for the station's answer (the library makes one at a time)."""
        return self._call_lock.locked()

    def answer_received(self, message) -> None:
        """Hand a CALLRESULT or CALLERROR (or a sentinel) to the call waiting for it."""
        self._response_queue.put_nowait(message)

    async def next_answer(self):
        return await self._response_queue.get()

    async def receive_frame(self):
        return await self._connection.recv()

    async def write_frame(self, text: str):
        return await self._connection.send(text)

    async def call_payload(self, action: str, payload: dict, answer_within: float) -> CallResult | CallError:
        """One CALL the way the library's ``call()`` makes it, with a payload already in wire format.

        ``call()`` wants a payload dataclass and renames keys snake → camel case; this sends ``payload``
        unchanged, under the same lock (one CALL at a time) and with the same matching of the answer by
        message id. The answer is not validated here.
        """
        call = Call(unique_id=str(self._unique_id_generator()), action=action, payload=payload)
        async with self._call_lock:
            await self._send(call.to_json())
            return await self._get_specific_response(call.unique_id, answer_within)

    # The library's private methods, redirected.

    async def _send(self, message: str):
        return await self.send_message(message)

    async def _get_specific_response(self, unique_id, timeout):  # noqa: ASYNC109 - the library's signature
        return await self.wait_for_answer(unique_id, timeout)

    async def _handle_call(self, msg: Call):
        return await self.handle_call(msg)

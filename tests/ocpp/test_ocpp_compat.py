"""The `ocpp` library's private API that stations/protocol/ocpp_compat.py relies on, checked on the installed library.

A failure here means an `ocpp` release changed something the protocol layer depends on: adapt
ocpp_compat.py (and only it), then move the pin in pyproject.toml. Pure: no database, no Redis, no server.
"""

import asyncio
import inspect
import json

import pytest
from ocpp.charge_point import ChargePoint as LibraryChargePoint
from ocpp.routing import after, create_route_map, on
from ocpp.v16 import ChargePoint as LibraryChargePoint16
from ocpp.v16 import call, call_result
from ocpp.v201 import ChargePoint as LibraryChargePoint201

from stations.models import Station
from stations.protocol import ocpp_compat
from stations.protocol.framing import parse_frame
from stations.protocol.v16 import ChargePoint16
from stations.protocol.v201.charge_point import ChargePoint201
from tests.waiting import until


class Wire:
    """The recv()/send() connection a ChargePoint is given; remembers what was sent."""

    def __init__(self):
        self.sent = []

    async def recv(self):
        await asyncio.Event().wait()

    async def send(self, text):
        self.sent.append(json.loads(text))
        return parse_frame(text)


class HeartbeatOnly(LibraryChargePoint16):
    @on("Heartbeat", skip_schema_validation=True)
    def on_heartbeat(self):
        pass

    @after("Heartbeat")
    def after_heartbeat(self):
        pass


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


@pytest.mark.parametrize(
    ("library_class", "version"), [(LibraryChargePoint16, "1.6"), (LibraryChargePoint201, "2.0.1")]
)
def test_a_library_charge_point_has_the_private_state_we_use(library_class, version):
    wire = Wire()
    charge_point = library_class("CP-1", wire)
    assert charge_point._connection is wire
    assert isinstance(charge_point._call_lock, asyncio.Lock)
    assert isinstance(charge_point._response_queue, asyncio.Queue)
    assert str(charge_point._unique_id_generator())
    assert charge_point._ocpp_version == version
    assert isinstance(charge_point.route_map, dict)


def test_route_map_entries_have_the_keys_we_read():
    charge_point = HeartbeatOnly("CP-1", Wire())
    entry = ocpp_compat.action_handlers(charge_point, "Heartbeat")
    assert entry[ocpp_compat.ON_ACTION] == charge_point.on_heartbeat
    assert entry[ocpp_compat.AFTER_ACTION] == charge_point.after_heartbeat
    assert entry[ocpp_compat.SKIP_SCHEMA_VALIDATION] is True
    assert ocpp_compat.action_handlers(charge_point, "Authorize") == {}

    ocpp_compat.on_action_replace(charge_point, "Heartbeat", print)
    assert charge_point.route_map["Heartbeat"][ocpp_compat.ON_ACTION] is print


def test_the_private_methods_we_override_keep_their_signatures():
    assert parameters(LibraryChargePoint.__init__)[:3] == ["self", "id", "connection"]
    assert "response_timeout" in parameters(LibraryChargePoint.__init__)
    assert parameters(LibraryChargePoint._send) == ["self", "message"]
    assert parameters(LibraryChargePoint._get_specific_response) == ["self", "unique_id", "timeout"]
    assert parameters(LibraryChargePoint._handle_call) == ["self", "msg"]
    assert parameters(LibraryChargePoint.route_message) == ["self", "raw_msg"]
    assert parameters(LibraryChargePoint.start) == ["self"]
    for coroutine in ("_send", "_get_specific_response", "_handle_call", "route_message", "start", "call"):
        assert inspect.iscoroutinefunction(getattr(LibraryChargePoint, coroutine)), coroutine


def test_the_library_call_still_goes_through_the_methods_we_override():
    source = inspect.getsource(LibraryChargePoint.call)
    for used in ("self._call_lock", "self._send(", "self._get_specific_response(", "self._unique_id_generator()"):
        assert used in source, f"ChargePoint.call no longer uses {used}"


def test_the_library_case_conversions_we_use():
    assert ocpp_compat.camel_to_snake_case({"chargePointVendor": {"idTag": 1}}) == {
        "charge_point_vendor": {"id_tag": 1}
    }
    assert ocpp_compat.snake_to_camel_case({"charge_point_vendor": 1}) == {"chargePointVendor": 1}
    assert ocpp_compat.remove_nones({"a": None, "b": 1}) == {"b": 1}
    assert ocpp_compat.serialize_as_dict(call_result.ClearCache(status="Accepted")) == {"status": "Accepted"}


async def test_our_calls_and_the_library_call_both_go_through_our_charge_point():
    wire = Wire()
    charge_point = ChargePoint16(Station(ocpp_id="CP-1"), wire)

    ours = asyncio.create_task(charge_point.call_payload("Reset", {"type": "Soft"}, 2))
    await until(lambda: wire.sent, what="the Reset sent")
    assert wire.sent[0][:3] == [2, wire.sent[0][1], "Reset"]
    await charge_point.route_message(parse_frame(json.dumps([3, wire.sent[0][1], {"status": "Accepted"}])))
    assert (await ours).payload == {"status": "Accepted"}

    library = asyncio.create_task(charge_point.call(call.ClearCache()))
    await until(lambda: len(wire.sent) == 2, what="the ClearCache sent")
    await charge_point.route_message(parse_frame(json.dumps([3, wire.sent[1][1], {"status": "Rejected"}])))
    assert await library == call_result.ClearCache(status="Rejected")

    charge_point.connection_lost([])
    with pytest.raises(asyncio.CancelledError):
        await charge_point.call_payload("Reset", {"type": "Hard"}, 2)


@pytest.mark.parametrize("library_class", [LibraryChargePoint16, LibraryChargePoint201])
def test_our_init_makes_the_state_the_library_s_init_makes(library_class):
    """ChargePointCompat replaces the library's __init__ (for the route map): an upgrade that adds to it shows here."""

    class Ours(ocpp_compat.ChargePointCompat, library_class):
        pass

    theirs, ours = library_class("CP-1", Wire(), response_timeout=7), Ours("CP-1", Wire(), response_timeout=7)
    assert vars(ours).keys() == vars(theirs).keys()
    for name, value in vars(theirs).items():
        assert type(vars(ours)[name]) is type(value) or name == "route_map", name
        if name not in {"_connection", "route_map", "_call_lock", "_response_queue"}:
            assert vars(ours)[name] == value, name


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_our_route_map_reads_as_the_library_s(version):
    charge_point_class = {"1.6": ChargePoint16, "2.0.1": ChargePoint201}[version]
    charge_point, other = (charge_point_class(Station(ocpp_id=ocpp_id), Wire()) for ocpp_id in ("CP-1", "CP-2"))
    library_map = create_route_map(charge_point)
    assert len(library_map) > 10
    for action, entry in library_map.items():
        assert ocpp_compat.action_handlers(charge_point, action) == entry, action
        assert charge_point.route_map[action] == entry, action
    assert ocpp_compat.action_handlers(charge_point, "NoSuchAction") == {}
    with pytest.raises(KeyError):
        charge_point.route_map["NoSuchAction"]

    ocpp_compat.on_action_replace(charge_point, "Heartbeat", print)
    assert ocpp_compat.action_handlers(charge_point, "Heartbeat")[ocpp_compat.ON_ACTION] is print
    assert ocpp_compat.action_handlers(other, "Heartbeat")[ocpp_compat.ON_ACTION] == other.on_heartbeat


def test_a_new_connection_s_charge_point_does_not_walk_its_class_again(monkeypatch):
    walked = []

    def counted(obj):
        walked.append(obj)
        return create_route_map(obj)

    monkeypatch.setattr("ocpp.charge_point.create_route_map", counted)  # the library's __init__ walks with it
    monkeypatch.setattr("stations.protocol.ocpp_compat.create_route_map", counted)
    ocpp_compat.class_routes.cache_clear()
    charge_points = [ChargePoint16(Station(ocpp_id=f"CP-{number}"), Wire()) for number in range(3)]
    for charge_point in charge_points:
        assert (
            ocpp_compat.action_handlers(charge_point, "Heartbeat")[ocpp_compat.ON_ACTION] == charge_point.on_heartbeat
        )
    assert walked == [ChargePoint16]

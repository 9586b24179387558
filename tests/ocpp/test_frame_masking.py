"""``stations.protocol.frame_masking``: a station's small frames are unmasked in Python, to the same bytes as
autobahn's native masker, however the frame arrives in parts; large frames keep the native one."""

import itertools
import json

import pytest
from asgiref.sync import sync_to_async
from autobahn.nvx._xormasker import create_xor_masker as native_masker
from autobahn.websocket import protocol
from hypothesis import example, given
from hypothesis import strategies as st

from stations.models import OcppMessage
from stations.protocol import frame_masking
from stations.protocol.frame_masking import SMALL_FRAME_BYTES, IntegerMasker
from tests.ocpp.test_v16_framing import exchange, raw_station
from tests.waiting import until


@given(
    mask=st.binary(min_size=4, max_size=4),
    payload=st.binary(max_size=3 * SMALL_FRAME_BYTES),
    cuts=st.lists(st.integers(min_value=0, max_value=3 * SMALL_FRAME_BYTES), max_size=6),
)
@example(mask=b"\x01\x02\x03\x04", payload=b"abcdefg", cuts=[1, 2, 5])
def test_unmasks_as_autobahn_does_in_whatever_parts_the_frame_arrives(mask, payload, cuts):
    ours, theirs = IntegerMasker(mask), native_masker(mask, len(payload))
    bounds = [0, *sorted(cut for cut in cuts if cut <= len(payload)), len(payload)]
    for start, end in itertools.pairwise(bounds):
        assert ours.process(payload[start:end]) == theirs.process(payload[start:end])
        assert ours.pointer() == theirs.pointer() == end
    ours.reset()
    assert ours.pointer() == 0
    assert ours.process(payload) == native_masker(mask, len(payload)).process(payload)


def test_small_frames_get_the_python_masker_and_large_ones_keep_autobahn_s(monkeypatch):
    monkeypatch.setattr(protocol, "create_xor_masker", frame_masking.masker_for(protocol.create_xor_masker))
    assert isinstance(protocol.create_xor_masker(b"abcd", SMALL_FRAME_BYTES), IntegerMasker)
    assert not isinstance(protocol.create_xor_masker(b"abcd", SMALL_FRAME_BYTES + 1), IntegerMasker)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("padding", [10, SMALL_FRAME_BYTES, 5 * SMALL_FRAME_BYTES])
async def test_a_station_s_frames_of_every_size_arrive_whole(daphne_server, make_station, padding):
    """Through daphne, where the masker is installed: the frame is parsed, answered and logged as sent."""
    await sync_to_async(make_station)("CP-1")
    vendor_data = {"vendorId": "Voltgrid", "data": "x" * padding}
    async with raw_station(daphne_server) as ws:
        answer = await exchange(ws, json.dumps([2, "padded", "DataTransfer", vendor_data]))
    assert answer[:2] == [3, "padded"]
    logged = OcppMessage.objects.filter(unique_id="padded", direction=OcppMessage.Direction.IN)
    await until(logged.aexists, within=5, every=0.02, quiet=True)  # the log is written a few milliseconds late
    assert (await logged.aget()).payload["data"] == "x" * padding

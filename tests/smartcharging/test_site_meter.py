"""The CSMS's site-meter reader (``smartcharging.site_meter``) against the simulated Modbus TCP meter over real TCP:
the building's power and currents as scripted, and a clear error, soon, from a meter that cannot answer."""

import asyncio
import socket
import struct
import time
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.site_meter import SiteLoad, SiteMeter, steps
from smartcharging.site_meter import SiteMeterUnavailable, read_site_currents_a, read_site_power_kw


def read(function, *args, **kwargs):
    """The reader blocks (as in a Celery task): off the event loop that serves the meter."""
    return asyncio.to_thread(function, *args, **kwargs)


async def test_the_reader_gets_the_buildings_power_and_currents_as_the_meter_is_scripted():
    async with SiteMeter(steps((0, 20.0), (0.5, 41.4))) as meter:
        assert await read(read_site_power_kw, "127.0.0.1", meter.port, 1, 0) == Decimal("20")
        assert await read(read_site_currents_a, "127.0.0.1", meter.port, 1, 2) == (Decimal("28.986"),) * 3
        await asyncio.sleep(0.6)
        assert await read(read_site_power_kw, "127.0.0.1", meter.port, 1, 0) == Decimal("41.4")
        meter.set(SiteLoad(12.5, (30.0, 10.0, 14.25)))
        assert await read(read_site_power_kw, "127.0.0.1", meter.port, 1, 0, input_registers=True) == Decimal("12.5")
        currents = await read(read_site_currents_a, "127.0.0.1", meter.port, 1, 2, input_registers=True)
        assert currents == (Decimal("30"), Decimal("10"), Decimal("14.25"))
        assert meter.reads == 5


@settings(max_examples=25, deadline=None)
@given(power=st.floats(min_value=-500, max_value=5000, allow_nan=False))
def test_any_power_comes_back_as_float32_sends_it_to_the_watt(power):
    sent = struct.unpack(">f", struct.pack(">f", power))[0]  # what the meter's two registers hold

    async def scenario():
        async with SiteMeter(SiteLoad.balanced(power)) as meter:
            return await read(read_site_power_kw, "127.0.0.1", meter.port, 1, 0)

    assert asyncio.run(scenario()) == Decimal(str(round(sent, 3)))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_meter_is_a_clear_error_at_once():
    port = _closed_port()
    with pytest.raises(SiteMeterUnavailable, match=rf"site meter 127\.0\.0\.1:{port} unit 1 register 0: no connection"):
        read_site_power_kw("127.0.0.1", port, 1, 0, timeout=1)


async def test_a_meter_that_accepts_but_never_answers_fails_within_the_timeout():
    async def silent(reader, writer):
        await reader.read(100)
        await asyncio.sleep(30)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        began = time.monotonic()
        with pytest.raises(SiteMeterUnavailable, match=f"127.0.0.1:{port}"):
            await read(read_site_power_kw, "127.0.0.1", port, 1, 0, timeout=0.5)
        assert time.monotonic() - began < 3
    finally:
        server.close()


async def test_a_register_the_meter_does_not_have_is_a_clear_error():
    async with SiteMeter(SiteLoad.balanced(10)) as meter:
        with pytest.raises(SiteMeterUnavailable, match="register 40: the meter answered"):
            await read(read_site_power_kw, "127.0.0.1", meter.port, 1, 40, timeout=1)
        # Still serving the registers it has.
        assert await read(read_site_power_kw, "127.0.0.1", meter.port, 1, 0) == Decimal("10")

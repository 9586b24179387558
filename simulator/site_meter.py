"""A site's grid meter served over Modbus TCP (pymodbus): the building's own consumption, scripted over time, for
load management to read as it reads a real meter (``smartcharging.site_meter``).

Register map (one device, unit id ``unit``; the same registers answer Read Holding Registers, FC 3, and Read
Input Registers, FC 4). Each value is an IEEE 754 float32 in two registers, high word first (big-endian words
and bytes), as most DIN-rail meters send them. Addresses are the protocol's, from 0 (40001 / 30001 in the
one-based convention of meter manuals):

    ======== ============================================= ======
    address  value                                         unit
    ======== ============================================= ======
    0        total active power, import positive           kW
    2, 4, 6  current of L1, L2, L3                         A
    8        voltage L1-N (the same for L2 and L3)         V
    ======== ============================================= ======

``await SiteMeter(load).start()`` listens (port 0: a free one, in ``.port``); ``load`` is a ``SiteLoad`` or a
function of the seconds since the start giving one (``steps`` builds such a script); ``set`` changes it at
once. Every read is answered from the load at that moment. ``python -m simulator.site_meter`` runs one.
"""

import argparse
import asyncio
import bisect
import time
from collections.abc import Callable
from dataclasses import dataclass

from pymodbus.client.mixin import ModbusClientMixin
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

POWER_KW, CURRENTS_A, VOLTAGE_V = 0, (2, 4, 6), 8
REGISTERS = 10


@dataclass(frozen=True)
class SiteLoad:
    power_kw: float
    currents_a: tuple[float, float, float]
    voltage_v: float = 230.0

    @classmethod
    def balanced(cls, power_kw: float, voltage_v: float = 230.0) -> "SiteLoad":
        """The power spread evenly over three phases (unity power factor)."""
        current = power_kw * 1000 / (3 * voltage_v)
        return cls(power_kw, (current, current, current), voltage_v)

    def registers(self) -> list[int]:
        values = [self.power_kw, *self.currents_a, self.voltage_v]
        words = []
        for value in values:
            words += ModbusClientMixin.convert_to_registers(
                float(value), ModbusClientMixin.DATATYPE.FLOAT32, word_order="big"
            )
        return words


Script = Callable[[float], SiteLoad]


def steps(*changes: tuple[float, float]) -> Script:
    """A building whose balanced load is ``kW`` from ``seconds`` on, for each ``(seconds, kW)`` (the first at 0)."""
    times = [at for at, _ in changes]
    loads = [SiteLoad.balanced(kw) for _, kw in changes]
    return lambda elapsed: loads[max(0, bisect.bisect_right(times, elapsed) - 1)]


class SiteMeter:
    """The simulated meter: ``async with SiteMeter(steps((0, 20), (30, 45))) as meter: ... meter.port``."""

    def __init__(self, load: SiteLoad | Script, *, host: str = "127.0.0.1", port: int = 0, unit: int = 1):
        self.host, self.port, self.unit = host, port, unit
        self._script = self._as_script(load)
        self._started = time.monotonic()
        self._server: ModbusTcpServer | None = None
        self.reads = 0

    @staticmethod
    def _as_script(load: SiteLoad | Script) -> Script:
        return (lambda _: load) if isinstance(load, SiteLoad) else load

    def set(self, load: SiteLoad | Script) -> None:
        """Change the building's load now (a script starts again from 0 s)."""
        self._script, self._started = self._as_script(load), time.monotonic()

    def load_now(self) -> SiteLoad:
        return self._script(time.monotonic() - self._started)

    async def _refresh(self, function_code, start_address, address, count, registers, set_values):
        """pymodbus asks before each read: the registers get the load of this moment."""
        if set_values is not None:
            return ExcCodes.ILLEGAL_FUNCTION  # a meter is read, not written
        self.reads += 1
        registers[0:REGISTERS] = self.load_now().registers()
        return None

    async def start(self) -> "SiteMeter":
        device = SimDevice(
            self.unit,
            simdata=[SimData(0, count=REGISTERS, values=0, datatype=DataType.REGISTERS)],
            action=self._refresh,
        )
        self._server = ModbusTcpServer(device, address=(self.host, self.port))
        await self._server.serve_forever(background=True)
        self.port = self._server.transport.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None

    async def __aenter__(self) -> "SiteMeter":
        return await self.start()

    async def __aexit__(self, *_) -> None:
        await self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A site meter over Modbus TCP (register map: simulator/site_meter.py)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5020)
    parser.add_argument("--unit", type=int, default=1)
    parser.add_argument(
        "--steps",
        default="0:20",
        help="seconds:kW pairs, comma-separated, e.g. 0:20,60:45,120:10 (the building's load)",
    )
    args = parser.parse_args(argv)
    changes = [tuple(float(x) for x in pair.split(":")) for pair in args.steps.split(",")]

    async def serve():
        async with SiteMeter(steps(*changes), host=args.host, port=args.port, unit=args.unit) as meter:
            print(f"site meter on {meter.host}:{meter.port}, unit {meter.unit}")
            await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()

"""Reading a site's grid meter over Modbus TCP (pymodbus): the building's own consumption, which load management
takes off the site's limit.

A meter is read at ``host:port``, unit id ``unit``, as IEEE 754 float32 values in two registers, high word first
(most DIN-rail meters; the simulated one, ``simulator.site_meter``, documents the register map the defaults
follow). Holding registers (FC 3) unless ``input_registers`` (FC 4). Every read is bounded by ``timeout``
seconds, connecting included, and is not retried: a meter that does not answer raises ``SiteMeterUnavailable``
at once, so a caller never waits on it for long and keeps its last reading.
"""

import math
from decimal import Decimal

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

FLOAT32_REGISTERS = 2
DEFAULT_TIMEOUT = 2.0  # seconds


class SiteMeterUnavailable(Exception):
    """The meter could not be read; the message says where and why."""


def _read_floats(
    host: str, port: int, unit: int, register: int, count: int, *, input_registers: bool, timeout: float
) -> list[float]:
    where = f"site meter {host}:{port} unit {unit} register {register}"
    client = ModbusTcpClient(host, port=port, timeout=timeout, retries=0)
    try:
        if not client.connect():
            raise SiteMeterUnavailable(f"{where}: no connection within {timeout:g} s")
        read = client.read_input_registers if input_registers else client.read_holding_registers
        response = read(register, count=count * FLOAT32_REGISTERS, device_id=unit)
        if response.isError():
            raise SiteMeterUnavailable(f"{where}: the meter answered {response}")
        words = response.registers
    except ModbusException as error:
        raise SiteMeterUnavailable(f"{where}: {error}") from error
    finally:
        client.close()
    values = [
        client.convert_from_registers(words[i : i + FLOAT32_REGISTERS], client.DATATYPE.FLOAT32, word_order="big")
        for i in range(0, count * FLOAT32_REGISTERS, FLOAT32_REGISTERS)
    ]
    if not all(math.isfinite(value) for value in values):
        raise SiteMeterUnavailable(f"{where}: not a number ({values})")
    return values


def _decimal(value: float) -> Decimal:
    return Decimal(str(round(value, 3)))


def read_site_power_kw(
    host: str,
    port: int = 502,
    unit: int = 1,
    register: int = 0,
    *,
    input_registers: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> Decimal:
    """The site's total active power in kW (import positive), to the watt. Raises SiteMeterUnavailable."""
    (power,) = _read_floats(host, port, unit, register, 1, input_registers=input_registers, timeout=timeout)
    return _decimal(power)


def read_site_currents_a(
    host: str,
    port: int = 502,
    unit: int = 1,
    register: int = 2,
    *,
    phases: int = 3,
    input_registers: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> tuple[Decimal, ...]:
    """The site's current on each phase in A (L1, L2, L3 in consecutive float32s from ``register``). Raises
    SiteMeterUnavailable."""
    currents = _read_floats(host, port, unit, register, phases, input_registers=input_registers, timeout=timeout)
    return tuple(_decimal(current) for current in currents)

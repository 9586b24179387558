"""The charge point simulator: simulated stations, their connectors and cars, and fleets of them.

It talks to a CSMS only as a real station does (OCPP over WebSocket, files over HTTP) and imports nothing of
the server's apps, so it runs without Django settings; ``manage.py simulate``, the tests and the benchmarks
drive it. Version-free: ``station`` (connection, drivers, transfers, counters), ``connector``, ``car``,
``profiles`` (the charging profiles a station holds and the limit they set), ``transfers``, ``fleet``. Per OCPP
version: ``ocpp16`` and ``ocpp201``; a fleet may mix them. Beside the stations, ``site_meter``: a site's grid meter
over Modbus TCP.
"""

from simulator.car import Car
from simulator.fleet import STATION_CLASSES, Simulation, mixed_versions
from simulator.ocpp16 import SimulatedStation
from simulator.ocpp201 import SimulatedStation201
from simulator.station import DEFAULT_PASSWORD, SimulatorConfig, Stats, ocpp_url

__all__ = [
    "DEFAULT_PASSWORD",
    "STATION_CLASSES",
    "Car",
    "SimulatedStation",
    "SimulatedStation201",
    "Simulation",
    "SimulatorConfig",
    "Stats",
    "mixed_versions",
    "ocpp_url",
]

"""The charge point simulator: simulated stations, their connectors and cars, and fleets of them.

It talks to a CSMS only as a real station does (OCPP over WebSocket, files over HTTP) and imports nothing of
the server's apps, so it runs without Django settings; ``manage.py simulate``, the tests and the benchmarks
drive it. Version-free: ``station`` (connection, drivers, transfers, counters), ``connector``, ``car``,
``transfers``, ``fleet``. Per OCPP version: ``ocpp16`` (a 2.0.1 station would be ``ocpp201`` beside it).
"""

from simulator.car import Car
from simulator.fleet import Simulation
from simulator.ocpp16 import SimulatedStation
from simulator.station import DEFAULT_PASSWORD, SimulatorConfig, Stats, ocpp_url

__all__ = ["DEFAULT_PASSWORD", "Car", "SimulatedStation", "Simulation", "SimulatorConfig", "Stats", "ocpp_url"]

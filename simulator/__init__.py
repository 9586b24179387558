"""The charge point simulator: simulated stations, their connectors and cars, and fleets of them.

It speaks to a CSMS only over OCPP and HTTP, like a real station, and imports nothing of the server's apps:
``manage.py simulate``, the tests and the benchmarks drive it.
"""

from simulator.ocpp16 import DEFAULT_PASSWORD, Car, SimulatedStation, Simulation, SimulatorConfig, Stats

__all__ = ["DEFAULT_PASSWORD", "Car", "SimulatedStation", "Simulation", "SimulatorConfig", "Stats"]

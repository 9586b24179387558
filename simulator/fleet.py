"""A fleet of simulated stations run together, with one summary of what the CSMS answered them.

A fleet may mix OCPP versions: ``versions`` names each station's (``"1.6"`` or ``"2.0.1"``), ``mixed_versions``
gives a share of the stations 2.0.1, spread evenly over the fleet.
"""

import asyncio
import contextlib
import logging

from simulator.ocpp16 import SimulatedStation
from simulator.ocpp201 import SimulatedStation201
from simulator.station import SimulatorConfig, StationBase, Stats, seeded_random

logger = logging.getLogger(__name__)

STATION_CLASSES: dict[str, type[StationBase]] = {"1.6": SimulatedStation, "2.0.1": SimulatedStation201}


def mixed_versions(station_ids: list[str], v201_share: float) -> dict[str, str]:
    """Each station's OCPP version, a ``v201_share`` of them (0..1) 2.0.1, spread evenly: with 0.25, every
    fourth station."""
    if not 0 <= v201_share <= 1:
        raise ValueError(f"a share is between 0 and 1, not {v201_share}")
    return {
        ocpp_id: "2.0.1" if int((index + 1) * v201_share) > int(index * v201_share) else "1.6"
        for index, ocpp_id in enumerate(station_ids)
    }


class Simulation:
    """A fleet of simulated stations run together: ``await Simulation(ids, config).run(duration)``."""

    def __init__(
        self,
        station_ids: list[str],
        config: SimulatorConfig | None = None,
        station_class: type[StationBase] = SimulatedStation,
        versions: dict[str, str] | None = None,
    ):
        """``versions``: the OCPP version of each station named there (the others are ``station_class``)."""
        self.config = config or SimulatorConfig()
        rng = seeded_random(self.config.seed)
        tags_in_use: set[str] = set()
        versions = versions or {}
        classes = [STATION_CLASSES[versions[i]] if i in versions else station_class for i in station_ids]
        self.stations = [
            cls(ocpp_id, self.config, seeded_random(rng.random()), tags_in_use)
            for cls, ocpp_id in zip(classes, station_ids, strict=True)
        ]
        self.stop_event = asyncio.Event()

    @staticmethod
    def station_ids(prefix: str, count: int) -> list[str]:
        return [f"{prefix}{n:03d}" for n in range(1, count + 1)]

    async def run(self, duration: float | None = None) -> Stats:
        """Run until ``duration`` seconds have passed (or ``stop()``); sessions in progress end cleanly."""
        # Spread the connections over up to a few seconds, as a real fleet's would be after a restart.
        spread = min(5.0, len(self.stations) * 0.01)
        tasks = [
            asyncio.create_task(self._run_one(station, spread * i / len(self.stations)))
            for i, station in enumerate(self.stations)
        ]
        try:
            if duration is None:
                await self.stop_event.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_event.wait(), duration)
        finally:
            self.stop_event.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        return self.stats()

    async def _run_one(self, station: StationBase, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            await station.run(self.stop_event)
        except Exception:
            logger.exception("simulated station failed", extra={"station_id": station.id})
            raise

    def stop(self) -> None:
        self.stop_event.set()

    async def wait_booted(self, within: float = 30.0) -> None:
        await asyncio.wait_for(asyncio.gather(*(s.booted.wait() for s in self.stations)), within)

    @contextlib.asynccontextmanager
    async def running(self, boot_within: float = 10.0):
        """The stations connected and booted for the duration of the block (for tests and benchmarks)."""
        task = asyncio.create_task(self.run())
        try:
            await self.wait_booted(within=boot_within)
            yield self
        finally:
            self.stop()
            await task

    def stats(self) -> Stats:
        total = Stats()
        for station in self.stations:
            total.add(station.stats)
        return total

"""A connector (a 1.6 connector, a 2.0.1 EVSE) and its meter: what it is doing, the car on it, the energy that flows.

Version-free: the station classes put its state into their version's messages.
"""

import asyncio
import random
from dataclasses import dataclass, field

from simulator.car import Car


@dataclass
class Connector:
    connector_id: int
    energy_wh: float  # the meter's register, never going down
    status: str = "Available"
    error_code: str = "NoError"
    operative: bool = True
    inoperative_after_session: bool = False
    car: Car | None = None
    power_w: float = 0.0
    transaction_id: int | str | None = None
    id_tag: str | None = None
    started_at: float | None = None  # monotonic
    meter_start: int = 0
    reservation: dict | None = None  # {"id", "id_tag", "expires_at"}
    session_task: asyncio.Task | None = None
    stop_reason: str | None = None  # set to end the session
    # While a car is on it: EVConnected (not charging yet), Charging, SuspendedEV (the car takes nothing) or
    # SuspendedEVSE (offered too little).
    charging_state: str = "EVConnected"
    advanced_at: float | None = None  # monotonic: when the energy was last counted and the draw set
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def busy(self) -> bool:
        return self.session_task is not None and not self.session_task.done()

    def advance(self, seconds: float, *, limit_w: float, min_power_w: float, rng: random.Random) -> None:
        """Energy flows at the power of the last interval; then the power for the next one is set: the car's
        draw, at most ``limit_w`` (with a little noise below it), none when ``limit_w`` is under the car's
        minimum (``min_power_w``)."""
        energy = self.power_w * seconds / 3600
        self.energy_wh += energy
        self.car.charge(energy)
        wanted = self.car.power_w()
        if wanted <= 0:
            self.power_w, self.charging_state = 0.0, "SuspendedEV"
        elif limit_w < min_power_w:
            self.power_w, self.charging_state = 0.0, "SuspendedEVSE"
        else:
            self.power_w, self.charging_state = min(wanted, limit_w) * rng.uniform(0.98, 1.0), "Charging"

    def current_a(self, *, voltage: float, phases: int) -> float:
        return self.power_w / (voltage * phases)

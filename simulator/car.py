"""The EV plugged in: a battery with a state of charge, charging along a constant-current/constant-voltage curve."""

import random
from dataclasses import dataclass


@dataclass
class Car:
    """It draws what its battery and charger allow, less as it fills up; offered less than its minimum current
    (IEC 61851: 6 A) it pauses."""

    battery_wh: int
    max_power_w: int
    soc: float  # percent
    target_soc: float
    min_current_a: float = 6.0

    @classmethod
    def arriving(cls, rng: random.Random) -> "Car":
        return cls(
            battery_wh=rng.choice([40_000, 52_000, 64_000, 77_000, 100_000]),
            max_power_w=rng.choice([7_400, 11_000, 11_000, 22_000]),
            soc=round(rng.uniform(10, 60), 1),
            target_soc=rng.choice([80.0, 90.0, 100.0]),
        )

    def power_w(self) -> float:
        """Constant power up to 80 %, then tapering towards full (the constant-voltage phase)."""
        if self.soc >= self.target_soc:
            return 0.0
        if self.soc < 80:
            return float(self.max_power_w)
        return self.max_power_w * max(0.05, (100 - self.soc) / 20)

    def charge(self, energy_wh: float) -> None:
        self.soc = min(100.0, self.soc + energy_wh / self.battery_wh * 100)

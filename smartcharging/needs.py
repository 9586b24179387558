"""The charging needs a session is planned by: what its car said (ISO 15118, NotifyEVChargingNeeds) and what its
driver said (``DriverChargingNeeds``), merged by one rule, ``needs_merge``. Pure: the readers are in ``load``
(the allocation) and ``selectors`` (the pages)."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

CAR, DRIVER = "car", "driver"


class Stated(NamedTuple):
    """A departure and an energy in Wh as one side said them (either may be missing)."""

    departure_at: datetime | None
    energy_wh: float | None


@dataclass(frozen=True)
class Needs:
    """The needs the allocation plans a session by, and whose each part is (``CAR`` or ``DRIVER``)."""

    departure_at: datetime
    departure_from: str
    energy_wh: float | None  # still to deliver; None: nobody said
    energy_from: str | None


def car_stated(charging_needs: dict, departure_at: datetime | None) -> Stated:
    """A NotifyEVChargingNeeds' departure and energyAmount (its AC or DC parameters'), as stored (camelCase)."""
    parameters = charging_needs.get("acChargingParameters") or charging_needs.get("dcChargingParameters") or {}
    energy = parameters.get("energyAmount")
    return Stated(departure_at, None if energy is None else float(energy))


def driver_stated(departure_at: datetime, energy_kwh: Decimal | None) -> Stated:
    return Stated(departure_at, None if energy_kwh is None else float(energy_kwh) * 1000)


def delivered_wh(*, meter_start: int | None, register_wh: int | None) -> int:
    """What the session delivered so far by its connector's register; 0 when either reading is unknown (or the
    register is behind the start: another meter, a reset), so a driver's energy is then planned in full."""
    if meter_start is None or register_wh is None or register_wh < meter_start:
        return 0
    return register_wh - meter_start


def needs_merge(*, car: Stated | None, driver: Stated | None, delivered: int, now: datetime) -> Needs | None:
    """The needs of a session whose car said ``car`` and driver ``driver`` (either None), ``delivered`` Wh so far.

    The earlier departure wins: whoever leaves first, the car must be charged by then. The energy is the car's when
    it said one (ISO 15118: it knows its battery, and says what it still needs); else the driver's, who states the
    energy wanted from the session in all: still needed is that less what was delivered so far, never below 0.
    A departure not after ``now`` plans nothing; without a departure there is nothing to plan by (None).
    """
    departures = [
        (stated.departure_at, source)
        for stated, source in ((car, CAR), (driver, DRIVER))
        if stated is not None and stated.departure_at is not None and stated.departure_at > now
    ]
    if not departures:
        return None
    departure_at, departure_from = min(departures)  # on a tie the car's (its name sorts first)
    if car is not None and car.energy_wh is not None:
        return Needs(departure_at, departure_from, max(0.0, car.energy_wh), CAR)
    if driver is not None and driver.energy_wh is not None:
        return Needs(departure_at, departure_from, max(0.0, driver.energy_wh - delivered), DRIVER)
    return Needs(departure_at, departure_from, None, None)


def session_needs(*, started_at: float, car, driver: tuple | None, now: datetime) -> Needs | None:
    """The needs of a session begun at ``started_at`` (seconds since the epoch): ``car`` its connector's latest
    EVChargingNeeds (ignored when said before the session began: an earlier car's), ``driver`` a pair of what its
    driver said and the Wh delivered so far. A session with neither (most) costs nothing."""
    if car is not None and car.received_at.timestamp() < started_at:
        car = None
    if car is None and driver is None:
        return None
    stated, delivered = driver or (None, 0)
    car_said = None if car is None else car_stated(car.charging_needs, car.departure_time)
    return needs_merge(car=car_said, driver=stated, delivered=delivered, now=now)


def required_amps(needs: Needs | None, *, now: datetime, voltage: int, phases: int) -> float | None:
    """The current per phase that delivers the energy still needed by the departure, when both are known."""
    if needs is None or needs.energy_wh is None:
        return None
    hours = (needs.departure_at - now).total_seconds() / 3600
    if hours <= 0:
        return None
    return needs.energy_wh / (hours * voltage * phases)

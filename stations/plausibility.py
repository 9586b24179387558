"""What the CSMS takes from a station as given: plausible timestamps and connector ids (version-neutral).

A station's clock is not to be trusted: one without clock sync sends 1970 (or 2000) after a reboot and
must still be able to charge, and a wrong year (2099, 9999) must not reach pricing. A timestamp outside
[``EARLIEST_PLAUSIBLE``, receipt + ``CLOCK_AHEAD_TOLERANCE``] is replaced by the receipt time by the
service that stores it, which keeps what was sent in an anomaly. The registration time of the station
is not a bound: a station may charge offline before it is registered, and replay that later.

A value that cannot be taken at all (a connector the station does not have, a negative meter start)
raises ``ValueRejected``; each OCPP version's adapter answers it with its PropertyConstraintViolation.
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

# OCPP-J 1.6 was published in 2015: no station speaking it measured anything before.
EARLIEST_PLAUSIBLE = datetime(2015, 1, 1, tzinfo=UTC)
# Clock drift between a station and the CSMS that is not an error.
CLOCK_AHEAD_TOLERANCE = timedelta(minutes=5)
# The highest connector id of a station whose configuration does not say NumberOfConnectors.
MAX_CONNECTOR_ID = 32
# Connector 0 (the station itself) and 1 are every station's, whatever it reports.
ALWAYS_PRESENT = 1


class ValueRejected(ValueError):
    """A value a station sent that the CSMS refuses; ``path`` locates it in the message (JSON pointer)."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def time_is_plausible(moment: datetime, *, received_at: datetime) -> bool:
    return EARLIEST_PLAUSIBLE <= moment <= received_at + CLOCK_AHEAD_TOLERANCE


def connector_limits(*, stations: list) -> dict[int, int]:
    """The highest connector id of each station: its NumberOfConnectors (1.6) or the highest EVSE id of its
    device model (2.0.1, where the connector of a session is the EVSE) when known, else ``MAX_CONNECTOR_ID``."""
    # Imported here: the pure framing code reads this module.
    from stations.selectors import station_connector_bounds

    limits = dict.fromkeys((station.pk for station in stations), MAX_CONNECTOR_ID)
    for station_id, (highest_evse_id, configured) in station_connector_bounds(station_ids=limits).items():
        if highest_evse_id is not None:
            limits[station_id] = max(1, highest_evse_id)
        try:
            limits[station_id] = max(1, int(configured))
        except (TypeError, ValueError):
            continue  # not reported, or reported badly: the bound above stands
    return limits


def connector_limits_where_needed(*, connectors: Iterable[tuple[Any, int]]) -> dict[int, int]:
    """For (station, connector id) pairs, each station's limit for checking them: read (``connector_limits``) only for
    the stations named with an id above ``ALWAYS_PRESENT``, the others get ``ALWAYS_PRESENT``. The readings and
    statuses of one-connector stations, most of the hot path, read nothing."""
    pairs = list(connectors)
    limits = {station.pk: ALWAYS_PRESENT for station, _ in pairs}
    needed = {station.pk: station for station, connector_id in pairs if connector_id > ALWAYS_PRESENT}
    if needed:
        limits.update(connector_limits(stations=list(needed.values())))
    return limits


def connector_id_check(connector_id: int, *, limit: int, path: str = "/connectorId", allow_station: bool = True):
    """Raise ValueRejected unless ``connector_id`` is one of the station's (0 is the station itself)."""
    lowest = 0 if allow_station else 1
    if not lowest <= connector_id <= limit:
        raise ValueRejected(path, f"connector {connector_id} is not one of this station's ({lowest}..{limit}).")

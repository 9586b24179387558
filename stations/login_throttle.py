"""Failed station handshakes, counted per station id and per remote address in the shared cache (Redis): past
either limit the handshake is refused with 429 before any password is checked, until the window that began
with the first failure ends. Brute force against one station, or a scan of ids from one address, is so held to
a few guesses per window on every daphne process together.

Every failure is logged as a security event; the one that reaches a limit also opens a security alert on the
station, when the id is a registered one (``LoginsThrottled``). While Redis is away nothing is counted nor
refused (``cms/cache.py`` reads as empty; a known outage of the channel layer's Redis skips the cache at once).
"""

import contextlib
import hashlib
import logging
from collections.abc import Sequence

from django.conf import settings

from cms.cache import process_cache
from stations.app_settings import app_settings
from stations.protocol.channel_layer import layer_health

logger = logging.getLogger(__name__)
cache = process_cache()

THROTTLED_EVENT = "LoginsThrottled"


def handshake_address(scope) -> str:
    """The station's address: behind a trusted TLS proxy the last ``X-Forwarded-For`` entry, the one the proxy itself
    added (earlier ones come from the client), so that the stations behind one proxy are not counted as one."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = [value for name, value in scope.get("headers", ()) if name.lower() == b"x-forwarded-for"]
        if forwarded:
            last = forwarded[-1].decode("latin-1").rsplit(",", 1)[-1].strip()
            if last:
                return last
    return (scope.get("client") or ("",))[0]


def _limits(ocpp_id: str, address: str) -> list[tuple[str, int, str]]:
    """(cache key, limit, what is limited) of the limits that apply; ids are hashed (any text may come in a URL)."""
    digest = hashlib.sha256(ocpp_id.encode()).hexdigest()[:32]
    limits = [(f"ocpp:login-failures:id:{digest}", app_settings.LOGIN_FAILURES_PER_STATION, "station id")]
    if address:
        limits.append((f"ocpp:login-failures:address:{address}", app_settings.LOGIN_FAILURES_PER_ADDRESS, "address"))
    return [limit for limit in limits if limit[1] > 0]


def login_throttled(*, ocpp_id: str, address: str) -> bool:
    """Whether a handshake for this id from this address is to be refused without looking at its credentials."""
    return logins_throttled([(ocpp_id, address)])[0]


def logins_throttled(attempts: Sequence[tuple[str, str]]) -> list[bool]:
    """``login_throttled`` of many handshakes, (station id, address) each, with one round trip to the cache."""
    limits = [_limits(ocpp_id, address) for ocpp_id, address in attempts]
    keys = sorted({key for of_attempt in limits for key, _, _ in of_attempt})
    if not keys or layer_health.down:
        return [False] * len(attempts)
    counts = cache.get_many(keys)
    return [any(counts.get(key, 0) >= limit for key, limit, _ in of_attempt) for of_attempt in limits]


def login_failed(*, ocpp_id: str, address: str, reason: str) -> None:
    """Count a refused handshake and log it as a security event; reaching a limit is alerted on the station."""
    logger.warning(
        "security event: station login failed", extra={"station_id": ocpp_id, "client": address, "reason": reason}
    )
    if layer_health.down:
        return
    reached = [what for key, limit, what in _limits(ocpp_id, address) if _count(key) == limit]
    if reached:
        _throttling_started(ocpp_id=ocpp_id, address=address, limited=reached)


def _count(key: str) -> int:
    """The failure count after this one (1 when the cache is unreachable: then no limit is reached)."""
    window = app_settings.LOGIN_FAILURE_WINDOW_SECONDS
    if cache.add(key, 1, timeout=window):
        return 1
    with contextlib.suppress(ValueError):  # expired in between, or the cache just went away
        return cache.incr(key)
    cache.add(key, 1, timeout=window)
    return 1


def _throttling_started(*, ocpp_id: str, address: str, limited: list[str]) -> None:
    from monitoring.alerts import alert_security_event
    from stations.models import Station

    window = app_settings.LOGIN_FAILURE_WINDOW_SECONDS
    logger.warning(
        "security event: station logins throttled",
        extra={"station_id": ocpp_id, "client": address, "limited": ",".join(limited), "window_seconds": window},
    )
    station = Station.objects.filter(ocpp_id=ocpp_id).first()
    if station is not None:
        alert_security_event(
            station=station,
            event_type=THROTTLED_EVENT,
            tech_info=(
                f"Too many failed logins (per {' and per '.join(limited)}; last from {address or 'unknown'}): "
                f"handshakes are refused for up to {window} s. A station with an outdated password, or someone "
                "guessing it."
            )[:255],
        )

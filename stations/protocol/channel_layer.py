"""The channel layer when Redis is away: OCPP goes on from PostgreSQL, only cross-node traffic pauses.

Redis carries what crosses processes: commands to a station's node, live events for the board, the
"replaced by a newer connection" notice. None of it is needed to answer a station, so an outage must
not close a socket or refuse a handshake. ``ResilientRedisChannelLayer.receive`` waits an outage out
(the consumer's receive loop would otherwise die, and its socket with it); ``layer_health`` remembers
the outage so that callers fail fast and clearly (a command is ``unavailable``, a live event dropped)
instead of each waiting for Redis, and so that it is logged once when it starts and once when it ends.
"""

import asyncio
import logging
import time

from channels_redis.core import RedisChannelLayer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# What an unreachable Redis raises (OSError: a socket error redis-py let through).
LAYER_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
# While Redis is known to be away, callers skip it this long between attempts (receivers keep trying).
RETRY_SECONDS = 1.0
# How long a receive loop waits between attempts during an outage, at most.
RECEIVE_BACKOFF_MAX = 2.0


class LayerHealth:
    """Whether this process's channel layer reaches Redis, as its last operations found."""

    def __init__(self):
        self.down_since: float | None = None  # time.time() of the first failure of the current outage
        self.outages = 0  # outages seen by this process: what was joined before one may be lost with it
        self.error = ""
        self._retry_at = 0.0

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def worth_trying(self) -> bool:
        """False while an outage is known and was seen less than RETRY_SECONDS ago: fail fast."""
        return self.down_since is None or time.monotonic() >= self._retry_at

    def failed(self, error: BaseException) -> None:
        self.error = f"{type(error).__name__}: {error}"
        self._retry_at = time.monotonic() + RETRY_SECONDS
        if self.down_since is None:
            self.down_since = time.time()
            self.outages += 1
            logger.error(
                "channel layer unreachable: OCPP goes on from the database; commands to other nodes and "
                "live events pause until Redis returns",
                extra={"error": self.error},
            )

    def succeeded(self) -> None:
        if self.down_since is not None:
            logger.warning(
                "channel layer reachable again", extra={"outage_seconds": round(time.time() - self.down_since, 1)}
            )
            self.down_since = None
            self.error = ""

    def reason(self) -> str:
        return f"The channel layer (Redis) is unreachable ({self.error}); commands to stations pause until it returns."


layer_health = LayerHealth()


class ResilientRedisChannelLayer(RedisChannelLayer):
    """channels_redis whose ``receive`` waits a Redis outage out instead of raising."""

    async def receive(self, channel):
        backoff = 0.1
        while True:
            try:
                message = await super().receive(channel)
            except LAYER_ERRORS as error:
                layer_health.failed(error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RECEIVE_BACKOFF_MAX)
                continue
            layer_health.succeeded()
            return message

"""Live events about stations and connectors, published on the channel layer for browsers to follow.

Every daphne process publishes to one group; every browser socket of the live board (whatever process
holds it) is a member, so the board stays current with several daphne processes behind a balancer.
Events are small dicts; ``kind`` says what changed:

- ``station``: ``station``, ``online``, ``last_seen_at`` (ISO 8601), optionally ``registration_status``
- ``connector``: ``station``, ``connector_id``, ``status``, ``error_code``, ``power_w``, ``soc_percent``,
  ``energy_register_wh``, ``transaction_id`` (only the fields that changed need be present)
- ``transaction``: ``station``, ``connector_id``, ``transaction_id``, ``state`` (started/stopped), ``energy_wh``
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from stations.protocol.channel_layer import LAYER_ERRORS, layer_health

logger = logging.getLogger(__name__)

NETWORK_GROUP = "network.live"
# Events per channel-layer message: a reconnect storm's round of thousands is a few messages, not thousands.
EVENTS_PER_MESSAGE = 200


async def live_publish(event: dict) -> None:
    """Publish one event; a failure to publish never breaks the OCPP exchange that caused it.

    While Redis is away, events are dropped (the outage is logged once, not per event): the board
    shows the state again from the next events, or from the database when it is reloaded.
    """
    await live_publish_many([event])


async def live_publish_many(events: list[dict]) -> None:
    """Publish events in as few channel-layer messages as they fit (each a group send: a Redis round trip and a
    few hundred microseconds of the event loop), as ``live_publish`` does one."""
    for start in range(0, len(events), EVENTS_PER_MESSAGE):
        if not await _group_send({"type": "live.events", "events": events[start : start + EVENTS_PER_MESSAGE]}):
            return


async def _group_send(message: dict) -> bool:
    if not layer_health.worth_trying():
        return False
    try:
        await get_channel_layer().group_send(NETWORK_GROUP, message)
    except LAYER_ERRORS as error:
        layer_health.failed(error)
        return False
    except Exception:
        logger.warning("live events not published", exc_info=True, extra={"events": len(message["events"])})
        return False
    layer_health.succeeded()
    return True


def live_publish_sync(event: dict) -> None:
    async_to_sync(live_publish)(event)

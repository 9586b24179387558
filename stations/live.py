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


async def live_publish(event: dict) -> None:
    """Publish one event; a failure to publish never breaks the OCPP exchange that caused it.

    While Redis is away, events are dropped (the outage is logged once, not per event): the board
    shows the state again from the next events, or from the database when it is reloaded.
    """
    if not layer_health.worth_trying():
        return
    try:
        await get_channel_layer().group_send(NETWORK_GROUP, {"type": "live.event", "event": event})
    except LAYER_ERRORS as error:
        layer_health.failed(error)
        return
    except Exception:
        logger.warning("live event not published", exc_info=True, extra={"station_id": event.get("station")})
        return
    layer_health.succeeded()


def live_publish_sync(event: dict) -> None:
    async_to_sync(live_publish)(event)

"""A new connection's notice to the one it replaces, when that one's process is gone: after a crash every station
reconnects at once, and the dead process's channel fills up with notices nobody reads."""

import logging
import uuid

import pytest
from channels.layers import get_channel_layer

from stations.protocol.node_runtime import NodeRuntime

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def small_layer(settings):
    """The configured Redis layer, with room for two messages per channel (a process's, here a dead one's)."""
    if "Redis" not in settings.CHANNEL_LAYERS["default"]["BACKEND"]:
        pytest.skip("needs the Redis channel layer (REDIS_URL)")
    config = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {"default": {**config, "CONFIG": {**config["CONFIG"], "capacity": 2}}}
    return get_channel_layer()


async def test_notices_to_a_dead_process_past_its_channels_room_are_dropped_not_raised(small_layer, caplog):
    runtime = NodeRuntime()
    # A process's connections share one queue in channels_redis (left to expire: the layer's own expiry).
    dead = f"specific.dead-{uuid.uuid4().hex}!"
    with caplog.at_level(logging.WARNING, logger="stations.protocol.node_runtime"):
        for connection in range(5):
            await runtime.tell(f"{dead}{connection}", {"type": "station.replaced", "by": "new", "at": 0.0})
    assert runtime._unsent == []  # nothing held to send again: nobody will read it
    # The layer refused the third; the fourth and fifth were not tried (a warning and a round trip each, in a storm).
    assert [record.getMessage() for record in caplog.records] == [
        "notices dropped: the channel of the process they are for is full"
    ]


async def test_notices_to_a_process_found_full_are_tried_again_after_a_while(small_layer):
    runtime = NodeRuntime()
    # This test's own process stands for the slow one, so that the test can read its channel.
    slow = f"specific.{small_layer.client_prefix}!"
    for connection in range(3):
        await runtime.tell(f"{slow}{connection}", {"type": "station.replaced", "by": "new", "at": 0.0})
    for connection in range(2):
        assert (await small_layer.receive(f"{slow}{connection}"))["by"] == "new"  # it read its channel after all
    runtime._full_until[slow[:-1]] = 0.0  # the pause has passed
    await runtime.tell(f"{slow}3", {"type": "station.replaced", "by": "again", "at": 0.0})
    assert (await small_layer.receive(f"{slow}3"))["by"] == "again"

"""The browser's live view of the network: a WebSocket (``/ws/live/``) relaying ``stations.live`` events to staff.

Routed in cms/asgi.py behind the session (AuthMiddlewareStack) and the Origin check, so only pages of
this site, opened by a logged-in user, reach it; then only staff with a role that reads stations.
"""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.urls import re_path

from accounts.roles import Role, user_has_role
from stations.live import NETWORK_GROUP

BOARD_ROLES = (Role.OPERATOR_ADMIN, Role.TECHNICIAN, Role.FINANCE, Role.ANALYST)  # as the live board page


class LiveBoardConsumer(AsyncJsonWebsocketConsumer):
    joined = False

    async def connect(self):
        if not await database_sync_to_async(user_has_role)(self.scope.get("user"), *BOARD_ROLES):
            await self.close()  # before accepting: the handshake is refused (403)
            return
        await self.channel_layer.group_add(NETWORK_GROUP, self.channel_name)
        self.joined = True
        await self.accept()

    async def disconnect(self, code):
        if self.joined:
            await self.channel_layer.group_discard(NETWORK_GROUP, self.channel_name)

    async def receive_json(self, content, **kwargs):
        # The page pings every minute; joining again renews the membership, which Redis would expire after a day.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.channel_layer.group_add(NETWORK_GROUP, self.channel_name)
            await self.send_json({"kind": "pong"})

    async def live_event(self, message):
        await self.send_json(message["event"])


# Relative to /ws/ (see cms/asgi.py).
websocket_urlpatterns = [re_path(r"^live/$", LiveBoardConsumer.as_asgi())]

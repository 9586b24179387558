"""WebSocket routes for charging stations."""

from django.urls import re_path

from stations.consumers import OcppConsumer

websocket_urlpatterns = [
    re_path(r"^ocpp/(?P<station_id>[^/]+)/?$", OcppConsumer.as_asgi()),
]

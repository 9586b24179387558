"""WebSocket routes for charging stations."""

from django.urls import re_path

from stations.consumers import OcppConsumer, refusing_when_crowded

websocket_urlpatterns = [
    re_path(r"^ocpp/(?P<station_id>[^/]+)/?$", refusing_when_crowded(OcppConsumer.as_asgi())),
]

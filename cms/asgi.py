"""ASGI entry point: Django over HTTP, OCPP and the browser's live views over WebSocket."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from stations.routing import websocket_urlpatterns as station_routes  # noqa: E402

# Chargers send no Origin header and authenticate per station, so the OCPP routes are not wrapped in
# the browser's session and origin checks; browser routes will be.
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(station_routes),
    }
)

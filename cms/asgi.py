"""ASGI entry point: Django over HTTP, OCPP and the browser's live views over WebSocket."""

import gc
import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from stations.live_consumers import PortalOriginValidator  # noqa: E402
from stations.live_consumers import websocket_urlpatterns as live_routes  # noqa: E402
from stations.protocol import (  # noqa: E402
    accepting,
    access_log,
    autobahn_debug,
    daphne_walks,
    frame_masking,
    handshake_denial,
    long_lived,
    prompt_writes,
)
from stations.routing import websocket_urlpatterns as station_routes  # noqa: E402

# Before daphne builds its server: OCPP 2.0.1 handshakes are refused with the status the spec names.
handshake_denial.install()
# And its periodic walks over every connection cost per event, not per connection and second.
daphne_walks.install()
# And the objects of its thousands of connections are kept out of the collector's full passes.
long_lived.install()
# And a crowded process pauses accepting, instead of refusing handshakes one by one.
accepting.install()
# And autobahn formats its debug lines only when they are written.
autobahn_debug.install()
# And what it writes is sent at the end of the loop's turn, without a round through the selector.
prompt_writes.install()
# And the stations' small frames are unmasked without autobahn's calls into C.
frame_masking.install()
# And its access log leaves the station sockets to ours, which names the station.
access_log.install()

# Chargers send no Origin header and authenticate per station, so the OCPP routes are not wrapped in
# the browser's session and origin checks; the browser routes under /ws/ are.
browser_routes = PortalOriginValidator(AuthMiddlewareStack(URLRouter(live_routes)))

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([*station_routes, re_path(r"^ws/", browser_routes)]),
    }
)

# The hot path's writer thread (stations.protocol.group_commit) gives up the interpreter at each of its database
# round trips (six for a batch of one metered event) and must get it back from the event loop to go on: by default it
# waits up to 5 ms each time. With 10,000 stations held the batches' time, not their CPU, was the latency's tail.
sys.setswitchinterval(0.001)

# What is loaded by now (Django, the apps, the routes) lives as long as the process: keep it out of the
# garbage collector's full passes, which would otherwise rescan it all and pause every connection for
# tens of milliseconds (the OCPP benchmark's p99 at 1,000 stations: 130-220 ms without, 40 ms with).
gc.freeze()

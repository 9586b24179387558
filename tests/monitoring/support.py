"""Helpers of the monitoring tests: a logged-in client, simulated stations over real sockets, polling, a
webhook receiver."""

import contextlib
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from asgiref.sync import sync_to_async
from django.core.management import call_command

# Seconds instead of minutes, so that a test sees whole flows.
FAST = {
    "session_seconds": (0.6, 0.6),
    "idle_seconds": (0.05, 0.1),
    "meter_interval": 0.15,
    "step_delay": 0.05,
    "reconnect_delay": 0.2,
    "seed": 7,
}


def client_for(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


@sync_to_async
def register(ocpp_id: str, **fields):
    from simulator import DEFAULT_PASSWORD
    from stations.models import Station

    if not Station.objects.filter(ocpp_id=ocpp_id).exists():
        call_command("create_station", ocpp_id, password=DEFAULT_PASSWORD, stdout=io.StringIO())
    if fields:
        Station.objects.filter(ocpp_id=ocpp_id).update(**fields)
    return Station.objects.get(ocpp_id=ocpp_id)


def simulator_config(server, **overrides):
    from simulator import SimulatorConfig

    settings = {"connectors": 1, "id_tags": ("SIMTAG01",), "autostart": False, **FAST, **overrides}
    return SimulatorConfig(url=f"{server.ws_url}/ocpp", **settings)


@contextlib.asynccontextmanager
async def simulated(server, station_ids, **overrides):
    """Simulated stations connected and booted for the duration of the block."""
    from simulator import Simulation

    async with Simulation(list(station_ids), simulator_config(server, **overrides)).running() as simulation:
        yield simulation


class WebhookReceiver:
    """A local HTTP server standing for an operator's incident tool; answers ``failures`` 500s first."""

    def __init__(self):
        self.requests: list[dict] = []
        self.failures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"headers": dict(self.headers), "body": body, "json": json.loads(body)})
                status = 500 if receiver.failures > 0 else 204
                receiver.failures -= 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/voltgrid"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

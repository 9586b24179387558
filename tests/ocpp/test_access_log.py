"""``stations.protocol.access_log``: daphne's access log keeps HTTP requests and leaves a station's socket to our own
log, which names the station."""

import pytest
import requests
from asgiref.sync import sync_to_async

from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection
from tests.waiting import until


@pytest.mark.django_db(transaction=True)
async def test_a_station_s_socket_is_logged_by_us_and_an_http_request_by_daphne(node_servers, make_station):
    server = await sync_to_async(node_servers)(PYTHONUNBUFFERED="1")  # the access log is written as it comes
    await sync_to_async(make_station)("CP-1")
    async with ocpp_connection(server, "CP-1", STATION_PASSWORD):
        pass
    assert (await sync_to_async(requests.get)(f"{server.http_url}/healthz", timeout=10)).status_code == 200

    def log() -> str:
        with open(server.log_path) as written:
            return written.read()

    await until(lambda: '"GET /healthz"' in log() and "station disconnected" in log(), within=10, every=0.05)
    assert "station connected" in log()
    assert "/ocpp/CP-1" not in log()  # daphne's WSCONNECTING, WSCONNECT and WSDISCONNECT lines

"""Charge-point clients of the `ocpp` library, connected to our server over real WebSockets."""

import asyncio
import base64
import contextlib

import websockets


def basic_auth_header(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@contextlib.asynccontextmanager
async def ocpp_connection(server, ocpp_id, password=None, subprotocols=("ocpp1.6",), client_class=None):
    """A started charge-point client; ``client.websocket`` is its socket."""
    from ocpp.v16 import ChargePoint as ChargePoint16
    from ocpp.v201 import ChargePoint as ChargePoint201

    headers = basic_auth_header(ocpp_id, password) if password is not None else {}
    async with websockets.connect(
        f"{server.ws_url}/ocpp/{ocpp_id}", subprotocols=list(subprotocols), additional_headers=headers
    ) as ws:
        if client_class is None:
            client_class = ChargePoint201 if ws.subprotocol == "ocpp2.0.1" else ChargePoint16
        client = client_class(ocpp_id, ws)
        client.websocket = ws
        task = asyncio.create_task(client.start())
        try:
            yield client
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await task


async def handshake_status(server, ocpp_id, headers=None, subprotocols=("ocpp1.6",)) -> int:
    """The HTTP status our server answers a WebSocket upgrade with (101 when it accepts)."""
    try:
        async with websockets.connect(
            f"{server.ws_url}/ocpp/{ocpp_id}", subprotocols=list(subprotocols), additional_headers=headers or {}
        ):
            return 101
    except websockets.InvalidStatus as refused:
        return refused.response.status_code
    except websockets.InvalidMessage:
        # daphne's 403 carries no Content-Length, which some websockets versions do not parse.
        return 403

"""Commands to a station (CSMS-initiated OCPP calls) from any process, over the channel layer."""


async def serve_call(charge_point, event, channel_layer) -> None:
    """Run on the daphne process that holds the station's socket: make the call, send back the outcome."""
    raise NotImplementedError

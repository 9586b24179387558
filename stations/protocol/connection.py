"""Gives the `ocpp` library the recv()/send() connection it expects, on top of a Channels consumer."""

import asyncio


class ConsumerConnection:
    def __init__(self, consumer):
        self._consumer = consumer
        self._incoming: asyncio.Queue[str] = asyncio.Queue()

    def feed(self, frame: str) -> None:
        self._incoming.put_nowait(frame)

    async def recv(self) -> str:
        return await self._incoming.get()

    async def send(self, frame: str) -> None:
        await self._consumer.send_frame(frame)

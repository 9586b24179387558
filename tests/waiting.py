"""Waiting in async tests for something another process does (the server, a simulated station, a worker)."""

import asyncio
import inspect


async def until(condition, within=8.0, what="condition"):
    """Poll a condition (sync or async) until it holds; its last value."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not met in time")
        await asyncio.sleep(0.05)

"""Waiting in tests for something another process does (the server, a simulated station, a worker).

The one way the tests poll: ``until`` in async code, ``until_sync`` in synchronous code (fixtures, tests
driving child processes), with the same rules.
"""

import asyncio
import inspect
import time


async def until(condition, within=8.0, what="condition", *, every=0.05, quiet=False):
    """Poll a condition (sync or async) every ``every`` seconds until it holds; its last value.

    After ``within`` seconds: AssertionError, or with ``quiet`` the last (false) value, for a wait that is
    only a courtesy (the caller checks what it needs itself).
    """
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            if quiet:
                return result
            raise AssertionError(f"{what} not met in time")
        await asyncio.sleep(every)


def until_sync(condition, within=8.0, what="condition", *, every=0.05, quiet=False):
    """``until`` for synchronous code: the condition is a plain callable, the wait blocks."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            if quiet:
                return result
            raise AssertionError(f"{what} not met in time")
        time.sleep(every)

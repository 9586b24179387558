"""Calls gathered into batches: what is submitted while a batch runs in a thread goes together in the next one.

A call is ``submit(fn, item)``, with a batch function ``fn(items) -> results`` (one result per item, in order);
each caller gets its own result, or the error that failed its function's part of the batch. Idle, a call runs
at once, alone; under load one batch carries the calls of hundreds of stations and nobody waits more than about
two batches. The handshakes' logins read this way; the hot path's writer (``group_commit``) batches the same way
but takes its next batch itself, without the event loop.
"""

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any

BatchFunction = Callable[[list], Sequence]
Job = tuple[BatchFunction, Any]


class Batches:
    def __init__(self, *, executor: Executor, max_batch: int, linger: float = 0.0):
        """``linger``: seconds each batch waits for more calls before it runs, for work whose callers can wait (a
        charger's running cost): fewer, larger batches."""
        self.max_batch = max_batch
        self.linger = linger
        self._executor = executor
        self._waiting: list[tuple[BatchFunction, Any, asyncio.Future]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: asyncio.Task | None = None

    async def submit(self, fn: BatchFunction, item):
        """``fn``'s result for ``item``, from the next batch (or its error).

        A caller cancelled meanwhile (its station disconnected) does not withdraw the item: it is run all the same.
        """
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # First use, or a new event loop (tests): the old one's task and callers will never run again.
            self._loop, self._running, self._waiting = loop, None, []
        future = loop.create_future()
        self._waiting.append((fn, item, future))
        if self._running is None:
            self._running = loop.create_task(self._run())
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                if self.linger:
                    await asyncio.sleep(self.linger)
                batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
                try:
                    outcomes = await loop.run_in_executor(self._executor, self.run_batch, [job[:2] for job in batch])
                except Exception as error:  # the batch itself failed: no item has its result
                    outcomes = [error] * len(batch)
                settle([(future, outcome) for (_, _, future), outcome in zip(batch, outcomes, strict=True)])
        finally:
            self._running = None

    def run_batch(self, jobs: list[Job]) -> list:
        """In the executor's thread: each function once with its items; a function that raises fails its items."""
        return results_by_function(jobs, _results_or_the_error)


def settle(answers: list[tuple[asyncio.Future, Any]]) -> None:
    """On the callers' event loop: each caller's result, or its error (a caller gone meanwhile is skipped)."""
    for future, outcome in answers:
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


def results_by_function(jobs: list[Job], call: Callable[[BatchFunction, list], Sequence]) -> list:
    """The jobs' results in their order, ``call(fn, items)`` made once per function with the items of its jobs."""
    indexes: dict[BatchFunction, list[int]] = {}
    for index, (fn, _) in enumerate(jobs):
        indexes.setdefault(fn, []).append(index)
    outcomes: list = [None] * len(jobs)
    for fn, of_fn in indexes.items():
        for index, result in zip(of_fn, call(fn, [jobs[index][1] for index in of_fn]), strict=True):
            outcomes[index] = result
    return outcomes


def _results_or_the_error(fn: BatchFunction, items: list) -> Sequence:
    try:
        return fn(items)
    except Exception as error:
        return [error] * len(items)

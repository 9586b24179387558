"""``stations.protocol.batching``: what is submitted while a batch runs goes together in the next one, each caller
gets its own result, and a function that fails fails only its own items. (The group commit's transaction and
retry are ``test_v16_group_commit.py``'s.)"""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from stations.protocol.batching import Batches


@pytest.fixture
def executor():
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


async def test_calls_that_come_while_a_batch_runs_go_together_in_the_next(executor):
    release, batches = threading.Event(), []

    def doubled(items):
        batches.append(list(items))
        release.wait(5)
        return [item * 2 for item in items]

    batching = Batches(executor=executor, max_batch=3)
    first = asyncio.ensure_future(batching.submit(doubled, 1))
    await asyncio.sleep(0.05)  # the first batch is running, holding its thread
    later = [asyncio.ensure_future(batching.submit(doubled, item)) for item in (2, 3, 4, 5)]
    await asyncio.sleep(0.05)
    release.set()
    assert await first == 2
    assert await asyncio.gather(*later) == [4, 6, 8, 10]
    assert batches == [[1], [2, 3, 4], [5]]  # at most max_batch at once


async def test_a_function_that_raises_fails_its_own_items_only(executor):
    def broken(items):
        raise ValueError("refused")

    def lengths(items):
        return [len(item) for item in items]

    batching = Batches(executor=executor, max_batch=10)
    outcomes = await asyncio.gather(
        batching.submit(broken, 1), batching.submit(lengths, "ab"), batching.submit(broken, 2), return_exceptions=True
    )
    assert [type(outcome) for outcome in outcomes] == [ValueError, int, ValueError]
    assert outcomes[1] == 2


async def test_a_lingering_batch_waits_for_the_calls_of_its_linger(executor):
    batches = []

    def recorded(items):
        batches.append(list(items))
        return items

    batching = Batches(executor=executor, max_batch=10, linger=0.2)
    first = asyncio.ensure_future(batching.submit(recorded, 1))
    await asyncio.sleep(0.05)
    assert batches == []  # not run at once, idle as the thread is
    second = asyncio.ensure_future(batching.submit(recorded, 2))
    assert await asyncio.gather(first, second) == [1, 2]
    assert batches == [[1, 2]]

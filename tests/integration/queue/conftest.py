"""Factories for queues and workers that remember what they built and close it at teardown (as in arq)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from framework.queue import Queue, Worker
from framework.queue.scripts import script


async def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> None:
    """Poll a condition (sync or async) until true, failing the test after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def take_job(q: Queue, *, worker: str = "dead-worker", lock_ms: int = 50) -> tuple[str, str]:
    """Take the next job as a worker that never runs it (it dies, or freezes): returns (job id, token)."""
    jobs, _due, _limited = await script("moveToActive")(
        q.client, q.keys.fetch_keys(), [q.base, worker, lock_ms, int(time.time() * 1000), 1, 1000, 0, 0]
    )
    assert len(jobs) == 1
    return jobs[0][0].decode(), jobs[0][1].decode()


@pytest.fixture
async def make_queue(redis_url: str, prefix: str) -> AsyncIterator[Callable[..., Queue]]:
    built: list[Queue] = []

    def factory(name: str = "q", **kwargs: Any) -> Queue:
        q = Queue(name, connection=redis_url, prefix=prefix, **kwargs)
        built.append(q)
        return q

    yield factory
    for q in built:
        await q.close()


@pytest.fixture
async def make_worker(redis_url: str, prefix: str) -> AsyncIterator[Callable[..., Worker]]:
    """`make_worker(handler, name="q", start=True, **opts)`: a Worker, running in a task when start=True."""
    built: list[tuple[Worker, asyncio.Task[None] | None]] = []

    def factory(handler: Any, name: str = "q", start: bool = True, **kwargs: Any) -> Worker:
        w = Worker(name, handler, connection=redis_url, prefix=prefix, **kwargs)
        task = asyncio.create_task(w.run()) if start else None
        built.append((w, task))
        return w

    yield factory
    for w, task in built:
        await w.close(timeout=5)
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)

"""Many processors in one process on one shared client (issue 13): none is starved of connections."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from framework.connection import create_redis
from framework.queue import Queue, Worker
from framework.testing import capture_logs

PROCESSORS = 150


@pytest.mark.single_node(
    reason="one plain client's pool shared by 150 workers; on a cluster each queue has a client of its own"
)
async def test_150_workers_on_one_shared_client_all_finish(redis_url, prefix) -> None:
    """150 workers sharing the app's client (as an Application's processors do) all finish their jobs,
    and nothing is logged as Redis being unreachable."""
    client, _ = create_redis(redis_url)
    done: dict[str, int] = {}
    all_done = asyncio.Event()

    def handler(job) -> None:
        done[job.queue.name] = done.get(job.queue.name, 0) + 1
        if sum(done.values()) == 2 * PROCESSORS:
            all_done.set()

    workers = [
        Worker(f"q{i}", handler, connection=client, prefix=prefix, concurrency=2) for i in range(PROCESSORS)
    ]
    with capture_logs() as logs:
        tasks = [asyncio.create_task(w.run()) for w in workers]
        try:
            for i in range(PROCESSORS):
                q = Queue(f"q{i}", connection=client, prefix=prefix)
                await q.add_bulk([{"name": "n"}, {"name": "n"}])
                await q.close()
            await asyncio.wait_for(all_done.wait(), 90)
        finally:
            await asyncio.gather(*(w.close(timeout=5) for w in workers))
            for task in tasks:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 10)
            await client.aclose()
    unreachable = [e for e in logs if "unreachable" in e["event"] or "Too many connections" in str(e)]
    assert unreachable == []
    assert all(done.get(f"q{i}") == 2 for i in range(PROCESSORS))

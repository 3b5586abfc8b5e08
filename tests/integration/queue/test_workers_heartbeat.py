"""Live workers: a running worker is listed by get_workers; a closed or killed one disappears."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

from .conftest import wait_for

CHILD = """
import asyncio, sys
from framework.queue import Worker

async def main():
    w = Worker("q", lambda job: None, connection=sys.argv[1], prefix=sys.argv[2], concurrency=3,
               heartbeat_interval=float(sys.argv[3]))
    await w.run()

asyncio.run(main())
"""


async def test_running_worker_is_listed_and_removed_on_close(make_queue, make_worker) -> None:
    """get_workers shows a started worker's details; after close() it is gone at once."""
    q = make_queue()
    w = make_worker(lambda job: None, concurrency=2)
    await wait_for(lambda: _ids(q), timeout=5)
    (info,) = await q.get_workers()
    assert info.id == w.id and info.pid == os.getpid() and info.queue == "q"
    assert info.concurrency == 2 and info.active == 0
    assert info.started_at <= info.last_seen
    await w.close()
    assert await q.get_workers() == []


async def test_killed_worker_disappears_within_two_heartbeats(redis_url, prefix, make_queue) -> None:
    """A worker process killed with SIGKILL is no longer listed two heartbeat intervals later."""
    q = make_queue()
    interval = 1.0
    args = ["-c", CHILD, redis_url, prefix, str(interval)]
    child = await asyncio.create_subprocess_exec(sys.executable, *args)
    try:

        async def listed() -> bool:
            return any(w.pid == child.pid for w in await q.get_workers())

        await wait_for(listed, timeout=30)
        # Kill just after a beat is seen, the worst case: its entry must still lapse within two intervals.
        seen = (await q.get_workers())[0].last_seen
        await wait_for(lambda: _last_seen_after(q, seen), timeout=5)
        child.send_signal(signal.SIGKILL)
        await asyncio.wait_for(child.wait(), 5)
        killed = time.monotonic()
        await wait_for(lambda: _none(q), timeout=2 * interval)
        assert time.monotonic() - killed <= 2 * interval
    finally:
        if child.returncode is None:
            child.kill()
            await asyncio.wait_for(child.wait(), 5)


async def _ids(q) -> list[str]:
    return [w.id for w in await q.get_workers()]


async def _none(q) -> bool:
    return not await q.get_workers()


async def _last_seen_after(q, seen: int) -> bool:
    workers = await q.get_workers()
    return bool(workers) and workers[0].last_seen > seen

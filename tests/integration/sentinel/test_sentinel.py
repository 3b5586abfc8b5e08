"""Sentinel: `redis+sentinel://` URLs and `Sentinel.master_for()` clients, and a failover under load.

The failover tests run a producer and a worker against a setup of their own, fail its master over (kill -9,
or `SENTINEL FAILOVER`), and check that work resumes by itself; they print what was lost, run twice and
how long the work stopped (run with -s to see it).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from redis.asyncio.sentinel import Sentinel

from framework.connection import clone_redis, create_redis
from framework.errors import CommandTimeoutError, RedisUnavailableError
from framework.queue import Job, Queue, Worker
from framework.queue.events import QueueEvents
from tests.integration.queue.conftest import wait_for
from tests.integration.sentinel.conftest import needs_redis_server
from tests.support.sentinel_setup import SentinelSetup

pytestmark = needs_redis_server


def _prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


async def test_url_queue_worker_and_events(sentinel_setup: SentinelSetup) -> None:
    prefix = _prefix()
    async with Queue("q", connection=sentinel_setup.url, prefix=prefix) as queue:
        events = QueueEvents("q", connection=sentinel_setup.url, prefix=prefix)
        await events.start()
        job = await queue.add("double", {"n": 21})
        worker = Worker("q", lambda j: j.data["n"] * 2, connection=sentinel_setup.url, prefix=prefix)
        await worker.run_until_drained()
        assert await job.wait_until_finished(timeout=10) == 42
        seen = [e.event for e in await events.read()]
        assert "completed" in seen
        await events.close()
        await worker.close()
        await queue.obliterate(force=True)


async def test_master_for_client_as_connection(sentinel_setup: SentinelSetup) -> None:
    """A client from `Sentinel.master_for()` (the user's own) works for Queue, Worker and QueueEvents,
    whose blocking connections are clones of it (they used to fail in `clone_redis`)."""
    prefix = _prefix()
    manager = Sentinel([("127.0.0.1", p) for p in sentinel_setup.sentinel_ports])
    client = manager.master_for(sentinel_setup.service)
    clone = clone_redis(client, name="nestq-test")
    assert await clone.ping()
    assert (await clone.client_getname()) in (b"nestq-test", "nestq-test")
    await clone.aclose()
    async with Queue("q", connection=client, prefix=prefix) as queue:
        events = QueueEvents("q", connection=client, prefix=prefix)
        await events.start()
        await queue.add_bulk([{"name": "n", "data": {"n": i}} for i in range(5)])
        worker = Worker("q", lambda j: j.data["n"], connection=client, prefix=prefix, concurrency=2)
        await worker.run_until_drained()
        assert (await queue.get_job_counts("completed"))["completed"] == 5
        assert [e.event for e in await events.read()].count("completed") == 5
        await events.close()
        await worker.close()
        await queue.obliterate(force=True)
    await client.aclose()
    await manager.aclose()


async def test_owned_client_closes_its_sentinel_clients(sentinel_setup: SentinelSetup) -> None:
    client, owned = create_redis(sentinel_setup.url)
    assert owned
    assert await client.ping()
    manager: Any = client.connection_pool.sentinel_manager  # type: ignore[attr-defined]
    await client.aclose()
    for sentinel in manager.sentinels:
        assert not sentinel.connection_pool._in_use_connections
        assert all(not c.is_connected for c in sentinel.connection_pool._available_connections)


class _Load:
    """A producer adding numbered jobs (job_id j<n>, re-sent after an error: an add is idempotent by id)
    and a worker recording each run: what the failover tests measure."""

    def __init__(self, url: str, prefix: str) -> None:
        self.queue = Queue("load", connection=url, prefix=prefix)
        self.acked: dict[int, float] = {}  # n -> when the add was acknowledged
        self.runs: Counter[int] = Counter()
        self.done_at: dict[int, float] = {}
        self.add_errors = 0
        self.stop = asyncio.Event()

        async def handle(job: Job[Any]) -> int:
            n = int(job.data["n"])
            self.runs[n] += 1
            self.done_at.setdefault(n, time.monotonic())
            await asyncio.sleep(0.002)
            return n

        self.worker = Worker(
            "load", handle, connection=url, prefix=prefix, concurrency=4, lock_duration=2, stalled_interval=1
        )

    async def produce(self) -> None:
        n = 0
        while not self.stop.is_set():
            try:
                await self.queue.add("n", {"n": n}, job_id=f"j{n}")
            except (RedisUnavailableError, CommandTimeoutError, ConnectionError):
                self.add_errors += 1  # unknown whether it was written: send it again (same id)
                await asyncio.sleep(0.05)
                continue
            self.acked[n] = time.monotonic()
            n += 1
            await asyncio.sleep(0.004)

    def done_after(self, moment: float) -> int:
        return sum(1 for n, at in self.acked.items() if at > moment and n in self.done_at)


@pytest.mark.parametrize("how", ["kill", "sentinel-failover"])
async def test_failover_under_load(failover_setup: SentinelSetup, how: str) -> None:
    """A producer and a worker ride through a failover without a restart; jobs acknowledged after the new
    master took over are all processed; what the failover lost is reported."""
    setup = failover_setup
    load = _Load(setup.url, _prefix())
    tasks = [asyncio.create_task(load.produce()), asyncio.create_task(load.worker.run())]
    try:
        await wait_for(lambda: len(load.done_at) >= 200, 60)
        old = setup.master_port()
        failed_at = time.monotonic()
        if how == "kill":
            setup.kill_master()
        else:
            assert setup._client(setup.sentinel_ports[0]).execute_command(
                "SENTINEL", "FAILOVER", setup.service
            )
        new = await asyncio.to_thread(setup.wait_for_new_master, old)
        promoted_at = time.monotonic()
        assert new != old
        # Work resumes by itself: jobs added after the failover get processed.
        await wait_for(lambda: load.done_after(promoted_at) >= 200, 120)
        # How long the work stopped: the longest pause between two job runs around the failover.
        times = sorted(t for t in load.done_at.values() if t >= failed_at - 1)
        stopped = max(b - a for a, b in itertools.pairwise(times))
        load.stop.set()
        await tasks[0]
        # Everything still in the queue (jobs that were active on the old master come back through the
        # stall check) gets done.
        counts = ("waiting", "active", "delayed", "prioritized")

        async def settled() -> bool:
            return sum((await load.queue.get_job_counts(*counts)).values()) == 0

        await wait_for(settled, 60, interval=0.2)
        lost = [n for n in load.acked if n not in load.done_at]
        duplicates = sum(1 for c in load.runs.values() if c > 1)
        for n in lost:
            assert load.acked[n] <= promoted_at, f"job j{n} acknowledged by the new master was lost"
            assert await load.queue.get_job(f"j{n}") is None  # gone with the old master, not stuck
        print(
            f"\nsentinel {how}: {len(load.acked)} jobs acknowledged, lost {len(lost)}, "
            f"run twice {duplicates}, "
            f"add errors retried {load.add_errors}, new master after {promoted_at - failed_at:.1f} s, "
            f"work stopped for {stopped:.1f} s"
        )
        assert len(lost) <= 50  # at most what the replica had not received yet (asynchronous replication)
    finally:
        load.stop.set()
        await load.worker.close(timeout=5)
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)
        await load.queue.close()

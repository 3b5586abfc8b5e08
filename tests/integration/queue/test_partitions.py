"""Partitioned queues (`Queue(name, partitions=K)`): routing, dedupe, fair take, one queue to read."""

from __future__ import annotations

import asyncio
import zlib

import pytest

from framework import Deduplication, PartitionMismatchError
from framework.queue import Queue, QueueEvents, Repeat, Worker
from framework.queue.declared_schedulers import (
    DeclaredScheduler,
    declared_scheduler_ids,
    sync_declared_schedulers,
)
from framework.queue.partitioned import PartitionedQueue
from framework.queue.routing import job_partition, partition_of
from framework.testing import capture_logs

from .conftest import wait_for

K = 3


class TestRouting:
    def test_partition_is_crc32_of_the_id(self) -> None:
        """The same id lands in the same partition in every process: CRC-32, not Python's salted hash()."""
        for job_id in ["order-1", "order-2", "x", "é-unicode"]:
            assert partition_of(job_id, 6) == zlib.crc32(job_id.encode()) % 6
        assert job_partition("repeat:tick:1700000000000", 6) == partition_of("tick", 6)

    async def test_keys_are_hash_tagged_per_partition(self, make_queue, redis, prefix) -> None:
        q = make_queue("hot", partitions=K)
        assert isinstance(q, PartitionedQueue)
        job = await q.add("n", {"a": 1}, job_id="order-7")
        index = partition_of("order-7", K)
        assert job.queue is q.parts[index]
        assert await redis.exists(f"{{{prefix}:hot#{index}}}:order-7")
        assert not await redis.exists(f"{{{prefix}:hot}}:order-7")
        assert await redis.hget(f"{{{prefix}:hot}}:meta", "partitions") == b"3"

    async def test_plain_queue_keys_unchanged(self, make_queue, redis, prefix) -> None:
        """partitions=1 (the default) is a plain Queue with today's keys and no recorded count."""
        q = make_queue("plain", partitions=1)
        assert type(q) is Queue
        job = await q.add("n", 1)
        assert job.id == "1"
        assert await redis.exists(f"{{{prefix}:plain}}:1")
        assert await redis.hget(f"{{{prefix}:plain}}:meta", "partitions") is None

    async def test_generated_ids_spread_and_route_back(self, make_queue) -> None:
        q = make_queue("hot", partitions=K)
        jobs = await q.add_bulk([{"name": "n", "data": i} for i in range(60)])
        assert len({j.id for j in jobs}) == 60
        assert {j.queue.name for j in jobs} == {f"hot#{i}" for i in range(K)}
        for job in jobs[:10]:
            fetched = await q.get_job(job.id)
            assert fetched is not None and fetched.data == job.data
        assert [j.data for j in jobs] == list(range(60))

    async def test_custom_id_added_twice_is_one_job(self, make_queue) -> None:
        q = make_queue("hot", partitions=K)
        first = await q.add("n", "first", job_id="order-1")
        second = await q.add("n", "second", job_id="order-1")
        assert second.id == first.id and second.data == "first"
        assert (await q.get_job_counts("waiting"))["waiting"] == 1

    async def test_dedupe_holds_across_partitions(self, make_queue) -> None:
        q = make_queue("hot", partitions=6)
        jobs = [await q.add("n", i, deduplication=Deduplication("tenant-9")) for i in range(5)]
        assert {j.id for j in jobs} == {jobs[0].id}
        assert await q.get_deduplication_job_id("tenant-9") == jobs[0].id
        assert await q.count() == 1
        other = await q.add("n", "x", deduplication=Deduplication("tenant-10"))
        assert other.id != jobs[0].id

    async def test_refused_options_say_why(self, make_queue) -> None:
        q = make_queue("hot", partitions=K)
        with pytest.raises(ValueError, match="group_id"):
            await q.add("n", 1, group_id="tenant-1")
        with pytest.raises(ValueError, match="not both"):
            await q.add("n", 1, job_id="a-1", deduplication=Deduplication("d"))
        with pytest.raises(ValueError, match="queue-wide concurrency"):
            await q.set_global_concurrency(2)
        with pytest.raises(ValueError, match="partitions must be"):
            Queue("hot", partitions=0)
        with pytest.raises(ValueError, match="cannot contain '#'"):
            Queue("hot#1", partitions=2)
        assert await q.count() == 0


class TestSchedulers:
    async def test_schedulers_live_in_their_partition_and_declared_ones_sync(self, make_queue) -> None:
        q = make_queue("hot", partitions=K)
        declared = [DeclaredScheduler(id=f"s{i}", repeat=Repeat(every=3600), name="tick") for i in range(6)]
        assert await sync_declared_schedulers(q, declared) == []
        ids = {f"s{i}" for i in range(6)}
        assert {s.id for s in await q.get_job_schedulers()} == ids
        assert await declared_scheduler_ids(q) == ids
        assert await q.count() == 6  # each scheduler's next run is waiting
        for sid in ids:
            part = q.parts[partition_of(sid, K)]
            assert await part.get_job_scheduler(sid) is not None
        removed = await sync_declared_schedulers(q, declared[:2])
        assert removed == ["s2", "s3", "s4", "s5"]
        assert {s.id for s in await q.get_job_schedulers()} == {"s0", "s1"}
        assert await q.count() == 2


class TestMismatch:
    async def test_producer_with_other_count_is_refused(self, make_queue) -> None:
        await make_queue("hot", partitions=3).add("n", 1)
        with pytest.raises(PartitionMismatchError, match="stored as 3 partition"):
            await make_queue("hot", partitions=6).add("n", 2)

    async def test_worker_with_other_count_is_refused(self, make_queue, make_worker) -> None:
        await make_queue("hot", partitions=3).add("n", 1)
        with pytest.raises(PartitionMismatchError, match="partitions=3"):
            await make_worker(lambda job: None, name="hot", start=False, partitions=6).run()
        with pytest.raises(PartitionMismatchError, match="partitions=3"):
            await make_worker(lambda job: None, name="hot", start=False).run()
        assert await make_queue("hot", partitions=3).count() == 1  # nothing taken, nothing lost

    async def test_jobs_of_a_plain_producer_are_reported(self, make_queue, make_worker) -> None:
        """A plain Queue is not checked when it adds (that would cost every add); the partitioned worker
        says at start that its jobs wait where it does not look."""
        await make_queue("hot", partitions=3).add("n", 1)
        await make_queue("hot").add("n", "stray")
        with capture_logs() as logs:
            await make_worker(lambda job: None, name="hot", start=False, partitions=3).run_until_drained()
        [entry] = [e for e in logs if "unpartitioned keys" in e["event"]]
        assert entry["jobs"] == 1 and entry["log_level"] == "error"
        assert await make_queue("hot").count() == 1


class TestOneQueue:
    async def test_counts_lists_and_admin_span_partitions(self, make_queue) -> None:
        q = make_queue("hot", partitions=K)
        await q.add_bulk([{"name": "n", "data": i} for i in range(9)])
        await q.add("n", "later", delay=60)
        await q.add("n", "urgent", priority=1)
        counts = await q.get_job_counts()
        assert (counts["waiting"], counts["delayed"], counts["prioritized"]) == (9, 1, 1)
        waiting = await q.get_jobs("waiting")
        assert sorted(j.data for j in waiting) == list(range(9))
        assert len(await q.get_job_ids("waiting", 0, 3)) == 4
        await q.pause()
        assert await q.is_paused()
        assert (await q.get_job_counts("paused"))["paused"] == 9
        await q.resume()
        assert await q.promote_jobs() == 1
        assert await q.drain() == 11
        assert await q.count() == 0
        assert await q.obliterate() > 0

    async def test_job_operations_go_to_the_partition(self, make_queue, make_worker) -> None:
        q = make_queue("hot", partitions=K)
        job = await q.add("n", 1, job_id="job-a")
        await job.update_data(2)
        await job.log("hello")
        assert await q.get_job_logs("job-a") == ["hello"]
        assert (await q.get_job("job-a")).data == 2
        assert await q.cancel("job-a")
        assert (await q.get_job_state("job-a")) == "failed"
        assert await q.retry_jobs() == 1
        assert await q.remove("job-a")
        assert await q.get_job("job-a") is None


class TestWorker:
    async def test_worker_runs_every_partition_fifo_within_each(self, make_queue, make_worker) -> None:
        q = make_queue("hot", partitions=K)
        jobs = await q.add_bulk([{"name": "n", "data": i} for i in range(60)])
        seen: list[tuple[str, int]] = []

        async def handler(job):
            seen.append((job.queue.name, job.data))
            return job.data * 2

        await make_worker(handler, name="hot", start=False, partitions=K, concurrency=1).run_until_drained()
        assert sorted(d for _, d in seen) == list(range(60))
        for part in {j.queue.name for j in jobs}:
            mine = [d for name, d in seen if name == part]
            assert mine == sorted(mine), f"FIFO broken within {part}"
        counts = await q.get_job_counts("completed", "waiting", "active")
        assert counts == {"completed": 60, "waiting": 0, "active": 0}
        done = await q.get_job(jobs[5].id)
        assert done is not None and done.return_value == 10

    async def test_deep_partition_does_not_starve_a_shallow_one(self, make_queue, make_worker) -> None:
        """3000 jobs in one partition, then one in another: the lone job runs long before the deep one
        is done."""
        q = make_queue("hot", partitions=2)
        deep = [f"d-{n}" for n in range(400) if partition_of(f"d-{n}", 2) == 0][:150]
        lone = next(f"s-{n}" for n in range(100) if partition_of(f"s-{n}", 2) == 1)
        await q.add_bulk([{"name": "n", "opts": {"job_id": jid}} for jid in deep])
        order: list[str] = []
        started = asyncio.Event()

        async def handler(job):
            order.append(job.id)
            started.set()
            await asyncio.sleep(0.002)

        make_worker(handler, name="hot", partitions=2, concurrency=2)
        await asyncio.wait_for(started.wait(), 10)
        await q.add("n", None, job_id=lone)
        await wait_for(lambda: lone in order, timeout=20)
        remaining = await q.count()
        assert remaining > 50, f"the lone job waited for the deep partition ({remaining} left)"

    async def test_idle_worker_wakes_on_any_partition(self, make_queue, make_worker) -> None:
        q = make_queue("hot", partitions=4)
        done: list[str] = []
        w = make_worker(lambda job: done.append(job.id), name="hot", partitions=4, drain_delay=30)
        await wait_for(lambda: w._blocking, timeout=10)
        ids = [f"w-{n}" for n in range(40)]
        by_part = {partition_of(i, 4): i for i in ids}
        assert len(by_part) == 4
        for job_id in by_part.values():
            await q.add("n", None, job_id=job_id)
            await wait_for(lambda job_id=job_id: job_id in done, timeout=10)  # far below drain_delay

    async def test_worker_close_hands_back_and_events_span_partitions(
        self, make_queue, make_worker, redis_url, prefix
    ) -> None:
        q = make_queue("hot", partitions=K)
        seen: list[str] = []
        async with QueueEvents("hot", connection=redis_url, prefix=prefix, partitions=K) as events:

            async def listen() -> None:
                async for ev in events:
                    if ev.event == "completed" and ev.job_id:
                        seen.append(ev.job_id)

            listener = asyncio.create_task(listen())
            jobs = await q.add_bulk([{"name": "n", "data": i} for i in range(12)])
            await make_worker(lambda job: None, name="hot", start=False, partitions=K).run_until_drained()
            await wait_for(lambda: len(seen) == 12, timeout=10)
            listener.cancel()
        assert sorted(seen) == sorted(j.id for j in jobs)

    async def test_workers_and_metrics_show_one_queue(self, make_queue, make_worker) -> None:
        q = make_queue("hot", partitions=K)
        await q.add_bulk([{"name": "n", "data": i} for i in range(9)])
        w = make_worker(lambda job: None, name="hot", partitions=K)
        await wait_for(lambda: _done(q, 9), timeout=10)
        workers = await q.get_workers()
        assert [x.id for x in workers] == [w.id]
        metrics = await q.get_metrics("completed")
        assert metrics.meta.count == 9 and sum(metrics.data) == 9

    async def test_locks_renewed_and_cancel_heard_in_every_partition(self, make_queue, make_worker) -> None:
        """Jobs of every partition outlive their lock duration without being taken for stalled (their locks
        are renewed on their partition), and a cancel reaches a job of any partition."""
        q = make_queue("hot", partitions=K)
        ids = {partition_of(f"long-{n}", K): f"long-{n}" for n in range(30)}
        runs: list[str] = []
        cancelled = asyncio.Event()

        async def handler(job):
            runs.append(job.id)
            try:
                await asyncio.sleep(60 if job.id == "victim-1" else 2.5)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        make_worker(handler, name="hot", partitions=K, concurrency=5, lock_duration=1, stalled_interval=0.3)
        for job_id in [*ids.values(), "victim-1"]:
            await q.add("n", None, job_id=job_id)
        await wait_for(lambda: "victim-1" in runs, timeout=10)
        assert await q.cancel("victim-1")
        await asyncio.wait_for(cancelled.wait(), 10)
        await wait_for(lambda: _done(q, len(ids)), timeout=20)
        assert sorted(runs) == sorted([*ids.values(), "victim-1"])  # none ran twice
        assert (await q.get_job_state("victim-1")) == "failed"

    def test_worker_refuses_limits(self) -> None:
        from framework import RateLimit

        with pytest.raises(ValueError, match="partitioned"):
            Worker("hot", lambda job: None, partitions=3, limiter=RateLimit(max=1, duration=1))


async def _done(q: Queue, n: int) -> bool:
    return (await q.get_job_counts("completed"))["completed"] == n

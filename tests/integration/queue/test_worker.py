"""Worker behaviour: ordering, concurrency, retries and backoff, timeouts, retention, hooks."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time

import pytest

from framework import Backoff, JobTimeoutError, KeepJobs, RateLimit, UnrecoverableError
from framework.queue import Worker
from framework.queue.backoff import register_backoff_strategy
from framework.testing import capture_logs
from tests.support.clients import raw_client

from .conftest import wait_for


class TestOrdering:
    async def test_fifo(self, make_queue, make_worker) -> None:
        """Jobs without priority run in the order they were added."""
        q = make_queue()
        await q.add_bulk([{"name": "n", "data": i} for i in range(20)])
        seen: list[int] = []
        w = make_worker(lambda job: seen.append(job.data), start=False)
        await w.run_until_drained()
        assert seen == list(range(20))

    async def test_priority_lower_first_fifo_within(self, make_queue, make_worker) -> None:
        """Lower priority numbers run first; FIFO within one priority; no-priority jobs before all."""
        q = make_queue()
        await q.add("n", "p5-a", priority=5)
        await q.add("n", "p1-a", priority=1)
        await q.add("n", "p5-b", priority=5)
        await q.add("n", "none")
        await q.add("n", "p1-b", priority=1)
        seen: list[str] = []

        async def handler(job):
            seen.append(job.data)

        await make_worker(handler, start=False).run_until_drained()
        assert seen == ["none", "p1-a", "p1-b", "p5-a", "p5-b"]

    async def test_lifo(self, make_queue, make_worker) -> None:
        """A lifo job runs before the jobs already waiting."""
        q = make_queue()
        await q.add("n", "first")
        await q.add("n", "second")
        await q.add("n", "urgent", lifo=True)
        seen: list[str] = []
        await make_worker(lambda job: seen.append(job.data), start=False).run_until_drained()
        assert seen == ["urgent", "first", "second"]


class TestResults:
    async def test_completed_job_has_result_and_timestamps(self, make_queue, make_worker) -> None:
        """The handler's return value is stored; processed_on/finished_on are set."""
        q = make_queue()
        job = await q.add("double", {"x": 21})

        async def handler(job):
            await job.update_progress(50)
            await job.log("working")
            return {"y": job.data["x"] * 2}

        make_worker(handler)
        assert await job.wait_until_finished(timeout=5) == {"y": 42}
        done = await q.get_job(job.id)
        assert done is not None
        assert done.return_value == {"y": 42}
        assert done.progress == 50
        assert done.attempts_made == 1
        assert done.processed_on and done.finished_on and done.finished_on >= done.processed_on
        assert await done.get_logs() == ["working"]
        assert await q.get_job_counts("completed", "active") == {"completed": 1, "active": 0}

    async def test_sync_handler_runs_in_a_thread(self, make_queue, make_worker) -> None:
        """A plain def handler runs off the event loop thread."""
        q = make_queue()
        job = await q.add("n", 1)
        threads: list[str] = []

        def handler(job):
            threads.append(threading.current_thread().name)
            time.sleep(0.05)  # blocking on purpose: must not block the loop
            return "ok"

        make_worker(handler)
        assert await job.wait_until_finished(timeout=5) == "ok"
        assert threads and threads[0] != threading.main_thread().name

    async def test_result_json_cannot_carry_fails_job_without_retry(self, make_queue, make_worker) -> None:
        """A non-JSON return value fails the job, naming the path, with no retry."""
        q = make_queue()
        job = await q.add("n", 1, attempts=3)
        make_worker(lambda job: {"s": {1, 2}})
        with pytest.raises(Exception, match=r"return value\['s'\]"):
            await job.wait_until_finished(timeout=5)
        failed = await q.get_job(job.id)
        assert failed is not None and failed.attempts_made == 1

    async def test_concurrency_limit_respected(self, make_queue, make_worker) -> None:
        """Never more than `concurrency` handlers at once, and it is reached."""
        q = make_queue()
        await q.add_bulk([{"name": "n", "data": i} for i in range(30)])
        running = 0
        peak = 0

        async def handler(job):
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

        await make_worker(handler, start=False, concurrency=5).run_until_drained()
        assert peak == 5
        assert (await q.get_job_counts("completed"))["completed"] == 30

    async def test_overlapping_reports_keep_the_limit_and_run_each_job_once(
        self, make_queue, make_worker
    ) -> None:
        """Two finished-job reports may be on the wire at once, each refilling its own slots: with handlers
        of mixed lengths the limit still holds, and every job runs exactly once."""
        q = make_queue()
        await q.add_bulk([{"name": "n", "data": i} for i in range(600)])
        running = 0
        peak = 0
        runs: dict[int, int] = {}

        async def handler(job):
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            runs[job.data] = runs.get(job.data, 0) + 1
            for _ in range(job.data % 4):  # 0-3 loop turns: reports interleave with running jobs
                await asyncio.sleep(0)
            running -= 1

        await make_worker(handler, start=False, concurrency=7).run_until_drained()
        assert peak <= 7
        assert runs == {i: 1 for i in range(600)}
        counts = await q.get_job_counts("completed", "active", "waiting")
        assert counts == {"completed": 600, "active": 0, "waiting": 0}


class TestRetries:
    async def test_retries_until_attempts_then_fails(self, make_queue, make_worker) -> None:
        """A failing job runs `attempts` times, then ends failed with reason and stack traces."""
        q = make_queue()
        job = await q.add("n", 1, attempts=3)
        calls = 0

        async def handler(job):
            nonlocal calls
            calls += 1
            raise RuntimeError(f"boom {calls}")

        await make_worker(handler, start=False).run_until_drained(include_delayed=True)
        assert calls == 3
        failed = await q.get_job(job.id)
        assert failed is not None
        assert failed.failed_reason == "RuntimeError: boom 3"
        assert failed.attempts_made == 3
        assert len(failed.stacktrace) == 3 and "boom 1" in failed.stacktrace[0]
        assert await failed.get_state() == "failed"

    async def test_succeeds_on_a_later_attempt(self, make_queue, make_worker) -> None:
        """A job that fails once then succeeds ends completed after 2 attempts."""
        q = make_queue()
        job = await q.add("n", 1, attempts=3)

        async def handler(job):
            if job.attempts_made == 0:
                raise ValueError("flaky")
            return "ok"

        make_worker(handler)
        assert await job.wait_until_finished(timeout=5) == "ok"
        done = await q.get_job(job.id)
        assert done is not None and done.attempts_made == 2

    async def test_unrecoverable_error_is_not_retried(self, make_queue, make_worker) -> None:
        """UnrecoverableError fails the job on the first attempt."""
        q = make_queue()
        job = await q.add("n", 1, attempts=5)
        calls = 0

        async def handler(job):
            nonlocal calls
            calls += 1
            raise UnrecoverableError("bad input")

        await make_worker(handler, start=False).run_until_drained(include_delayed=True)
        assert calls == 1
        failed = await q.get_job(job.id)
        assert failed is not None and failed.failed_reason == "UnrecoverableError: bad input"

    async def test_fixed_backoff_spacing(self, make_queue, make_worker) -> None:
        """Retries with fixed backoff are spaced by the delay (and not much more)."""
        q = make_queue()
        job = await q.add("n", 1, attempts=3, backoff=Backoff.fixed(0.3))
        starts: list[float] = []

        async def handler(job):
            starts.append(time.monotonic())
            raise RuntimeError("again")

        await make_worker(handler, start=False).run_until_drained(include_delayed=True)
        assert len(starts) == 3
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert all(0.29 <= g <= 0.45 for g in gaps), gaps
        assert (await q.get_job(job.id)).attempts_made == 3  # type: ignore[union-attr]

    async def test_exponential_backoff_spacing(self, make_queue, make_worker) -> None:
        """Exponential backoff doubles: 0.2 s, then 0.4 s."""
        q = make_queue()
        await q.add("n", 1, attempts=3, backoff=Backoff.exponential(0.2))
        starts: list[float] = []

        async def handler(job):
            starts.append(time.monotonic())
            raise RuntimeError("again")

        await make_worker(handler, start=False).run_until_drained(include_delayed=True)
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert 0.19 <= gaps[0] <= 0.35, gaps
        assert 0.39 <= gaps[1] <= 0.55, gaps

    async def test_jitter_shortens_within_bounds(self) -> None:
        """Jitter picks a delay between (1 - jitter) * base and base."""
        b = Backoff.exponential(1.0, jitter=0.5)
        values = [b.compute(3, RuntimeError(), None) for _ in range(200)]
        assert all(2.0 <= v <= 4.0 for v in values)
        assert max(values) - min(values) > 0.5

    async def test_named_custom_strategy(self, make_queue, make_worker) -> None:
        """A custom strategy registered by name decides the delay from the attempt and error."""
        seen: list[tuple[int, str]] = []

        def linear(attempts_made, error, job):
            seen.append((attempts_made, str(error)))
            return 0.05 * attempts_made

        register_backoff_strategy("linear-test", linear)
        q = make_queue()
        await q.add("n", 1, attempts=3, backoff=Backoff.custom("linear-test"))

        async def handler(job):
            raise RuntimeError(f"e{job.attempts_made}")

        await make_worker(handler, start=False).run_until_drained(include_delayed=True)
        assert seen == [(1, "e0"), (2, "e1")]


class TestDelay:
    async def test_delayed_job_runs_within_100ms_of_due(self, make_queue, make_worker) -> None:
        """A delayed job starts close to its due time (the idle worker wakes exactly then)."""
        q = make_queue()
        started: dict[str, float] = {}
        done = asyncio.Event()

        async def handler(job):
            started[job.data] = time.time()
            if len(started) == 3:
                done.set()

        make_worker(handler, drain_delay=5)
        await asyncio.sleep(0.05)  # let the worker block on the empty queue first (what we test)
        t0 = time.time()
        await q.add("n", "late", delay=0.9)
        await q.add("n", "early", delay=0.3)
        await q.add("n", "now")
        await asyncio.wait_for(done.wait(), 5)
        assert started["now"] - t0 < 0.1
        # Within 100 ms of due: the worker wakes itself when the job falls due (a worker that polled every
        # drain_delay=5 s would start them seconds late). Not tighter: a loaded machine adds tens of ms.
        assert 0.3 <= started["early"] - t0 < 0.4, started["early"] - t0
        assert 0.9 <= started["late"] - t0 < 1.0, started["late"] - t0

    async def test_promote_runs_delayed_job_now(self, make_queue, make_worker) -> None:
        """promote() moves a delayed job to waiting at once."""
        q = make_queue()
        job = await q.add("n", 1, delay=3600)
        assert await job.promote() is True
        make_worker(lambda job: "done")
        assert await job.wait_until_finished(timeout=5) == "done"


class TestTimeout:
    async def test_timeout_cancels_async_handler(self, make_queue, make_worker) -> None:
        """A handler past its timeout is cancelled and the job fails with JobTimeoutError."""
        q = make_queue()
        job = await q.add("n", 1, timeout=0.2)
        cancelled = asyncio.Event()

        async def handler(job):
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        make_worker(handler)
        with pytest.raises(Exception, match=JobTimeoutError.__name__):
            await job.wait_until_finished(timeout=5)
        assert cancelled.is_set()


class TestRetention:
    async def test_remove_on_complete_true_deletes_job(self, make_queue, make_worker, redis) -> None:
        """remove_on_complete=True leaves no trace of the job."""
        q = make_queue()
        job = await q.add("n", 1, remove_on_complete=True)
        await make_worker(lambda job: 1, start=False).run_until_drained()
        assert await q.get_job(job.id) is None
        assert await redis.zcard(q.keys.completed) == 0

    async def test_keep_count(self, make_queue, make_worker) -> None:
        """remove_on_complete=N keeps the newest N completed jobs."""
        q = make_queue()
        await q.add_bulk([{"name": "n", "data": i, "opts": {"remove_on_complete": 3}} for i in range(10)])
        await make_worker(lambda job: 1, start=False).run_until_drained()
        done = await q.get_jobs("completed")
        assert sorted(j.data for j in done) == [7, 8, 9]

    async def test_keep_age(self, make_queue, make_worker, redis) -> None:
        """KeepJobs(age=...) removes finished jobs older than the age at the next completion."""
        q = make_queue()
        old = await q.add("n", "old", remove_on_fail=KeepJobs(age=1))

        async def handler(job):
            raise UnrecoverableError("x")

        await make_worker(handler, start=False).run_until_drained()
        # Pretend it finished long ago: its place in the set and the time its own age limit is reached.
        await redis.zadd(q.keys.failed, {old.id: 1})
        await redis.zadd(q.keys.retention_keys(q.keys.failed)[2], {old.id: 1001})
        await q.add("n", "new", remove_on_fail=KeepJobs(age=1))
        await make_worker(handler, start=False).run_until_drained()
        assert await q.get_job(old.id) is None
        assert [j.data for j in await q.get_jobs("failed")] == ["new"]

    async def test_finished_jobs_bounded_by_default(self, make_queue, make_worker) -> None:
        """With no option, completed jobs are trimmed to the default (1000)."""
        from framework.queue.options import DEFAULT_KEEP_COMPLETED

        q = make_queue()
        n = DEFAULT_KEEP_COMPLETED.count + 5  # type: ignore[operator]
        await q.add_bulk([{"name": "n", "data": i} for i in range(n)])
        await make_worker(lambda job: None, start=False, concurrency=50).run_until_drained()
        assert (await q.get_job_counts("completed"))["completed"] == DEFAULT_KEEP_COMPLETED.count


class TestRateLimit:
    async def test_limiter_caps_starts_per_window(self, make_queue, make_worker) -> None:
        """With RateLimit(max=5, duration=0.5), 12 jobs take at least two full windows."""
        q = make_queue()
        await q.add_bulk([{"name": "n", "data": i} for i in range(12)])
        starts: list[float] = []

        async def handler(job):
            starts.append(time.monotonic())

        await make_worker(
            handler, start=False, concurrency=10, limiter=RateLimit(max=5, duration=0.5)
        ).run_until_drained()
        assert len(starts) == 12
        first = starts[0]
        assert sum(1 for s in starts if s - first < 0.45) <= 5
        assert starts[-1] - first >= 0.9


class TestHooks:
    async def test_hooks_fire_with_arguments(self, make_queue, make_worker) -> None:
        """active/progress/completed/failed/drained hooks get the documented arguments."""
        q = make_queue()
        events: list[tuple] = []
        drained = asyncio.Event()

        async def handler(job):
            await job.update_progress(10)
            if job.data == "bad":
                raise RuntimeError("nope")
            return job.data.upper()

        w = make_worker(handler, start=False)
        w.on("active", lambda job: events.append(("active", job.data)))
        w.on("progress", lambda job, p: events.append(("progress", job.data, p)))
        w.on("completed", lambda job, r: events.append(("completed", job.data, r)))
        w.on("failed", lambda job, e: events.append(("failed", job.data, str(e))))
        w.on("drained", drained.set)
        await q.add("n", "ok")
        await q.add("n", "bad")
        task = asyncio.create_task(w.run())
        await asyncio.wait_for(drained.wait(), 5)
        await wait_for(lambda: len(events) >= 6)
        await w.close()
        await task
        assert ("completed", "ok", "OK") in events
        assert ("failed", "bad", "nope") in events
        assert ("progress", "ok", 10) in events and ("active", "bad") in events

    async def test_raising_hook_changes_nothing(self, make_queue, make_worker) -> None:
        """A hook that raises is logged; the job still completes and the worker keeps going."""
        q = make_queue()

        async def bad_hook(job, result):
            raise RuntimeError("hook bug")

        w = make_worker(lambda job: job.data, start=False)
        w.on("completed", bad_hook)
        w.on("active", lambda job: 1 / 0)
        jobs = [await q.add("n", i) for i in range(3)]
        await w.run_until_drained()
        for j in jobs:
            assert await j.get_state() == "completed"


class TestClose:
    @pytest.mark.parametrize("delay", [0, 0.001, 0.003, 0.01])
    async def test_close_right_after_start_does_not_wait_for_the_grace_period(
        self, make_worker, delay
    ) -> None:
        """close() while the first fetch is on the wire returns once it lands, not after the timeout."""
        w = make_worker(lambda job: None, drain_delay=5)
        await asyncio.sleep(delay)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await w.close(timeout=5)
        assert loop.time() - started < 1.0


@pytest.mark.single_node(reason="a plain client's connection pool")
async def test_a_client_with_a_tiny_pool_is_warned_about(redis_url, prefix) -> None:
    """A caller's client whose pool cannot serve a worker's concurrent calls gets a warning naming the fix."""
    client = raw_client(redis_url, max_connections=2)
    w = Worker("q", lambda job: None, connection=client, prefix=prefix)
    with capture_logs() as logs:
        task = asyncio.create_task(w.run())
        await wait_for(lambda: w.is_running)
        await w.close(timeout=5)
        await asyncio.wait_for(task, 5)
    [warning] = [e for e in logs if e["event"].startswith("the Redis client's pool allows too few")]
    assert warning["max_connections"] == 2 and "BlockingConnectionPool" in warning["event"]
    await client.aclose()

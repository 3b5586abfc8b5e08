"""Job control through the public API: deduplication, step jobs, manual rate limits, queue-wide limits and
job mutation (fair groups: test_groups.py; limits across processes: test_limits_processes.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from framework import (
    Deduplication,
    DelayedError,
    JobNotFoundError,
    JobState,
    QueueEvents,
    RateLimit,
    RateLimitError,
)

from .conftest import wait_for


async def _next_event(events: QueueEvents, name: str, timeout: float = 5.0) -> dict[str, str]:
    async with asyncio.timeout(timeout):
        async for event in events:
            if event.event == name:
                return {"jobId": event.job_id or "", **event.data}
    raise AssertionError("unreachable")


class TestDeduplication:
    async def test_simple_mode_ignores_adds_until_the_first_job_finishes(
        self, make_queue, make_worker
    ) -> None:
        """Without ttl, a second add with the same id returns the first job; once it finishes, a new job."""
        q = make_queue()
        first = await q.add("n", {"v": 1}, deduplication=Deduplication("order-7"))
        second = await q.add("n", {"v": 2}, deduplication=Deduplication("order-7"))
        assert second.id == first.id and second.data == {"v": 1}
        assert await q.count() == 1
        assert await q.get_deduplication_job_id("order-7") == first.id
        assert (await q.get_job(first.id)).deduplication_id == "order-7"  # type: ignore[union-attr]

        await make_worker(lambda job: job.data["v"], start=False).run_until_drained()
        assert await q.get_deduplication_job_id("order-7") is None
        third = await q.add("n", {"v": 3}, deduplication=Deduplication("order-7"))
        assert third.id != first.id

    async def test_an_ignored_add_emits_deduplicated(self, make_queue, redis_url, prefix) -> None:
        """The ignored add emits `deduplicated` naming the kept job and the deduplication id."""
        q = make_queue()
        async with QueueEvents("q", connection=redis_url, prefix=prefix) as events:
            await events.start()
            first = await q.add("n", 1, deduplication=Deduplication("d"))
            await q.add("n", 2, deduplication=Deduplication("d"))
            event = await _next_event(events, "deduplicated")
        assert event["jobId"] == first.id and event["deduplicationId"] == "d"

    async def test_throttle_mode_holds_the_id_for_the_ttl_even_after_the_job_finished(
        self, make_queue, make_worker
    ) -> None:
        """With a ttl, adds are ignored for that long, whether or not the first job finished."""
        q = make_queue()
        first = await q.add("n", 1, deduplication=Deduplication("t", ttl=0.4))
        await make_worker(lambda job: None, start=False).run_until_drained()
        assert await first.get_state() == JobState.COMPLETED
        assert (await q.add("n", 2, deduplication=Deduplication("t", ttl=0.4))).id == first.id
        assert await q.get_deduplication_job_id("t") == first.id  # still held
        await wait_for(lambda: _is_none(q.get_deduplication_job_id("t")), timeout=3)
        assert (await q.add("n", 3, deduplication=Deduplication("t", ttl=0.4))).id != first.id

    async def test_debounce_replaces_the_data_and_restarts_the_delay(self, make_queue) -> None:
        """extend+replace with a delay: the pending job gets the new data and a fresh delay."""
        q = make_queue()
        dedup = Deduplication("search", ttl=10, extend=True, replace=True)
        first = await q.add("n", {"q": "a"}, delay=5, deduplication=dedup)
        due1 = await q.client.zscore(q.keys.delayed, first.id)
        await asyncio.sleep(0.01)  # a later add must give a later due time
        again = await q.add("n", {"q": "ab"}, delay=5, deduplication=dedup)
        due2 = await q.client.zscore(q.keys.delayed, first.id)
        assert again.id == first.id and again.data == {"q": "ab"}
        assert due2 > due1
        assert await q.count() == 1
        assert await q.client.pttl(q.keys.deduplication("search")) > 9000

    async def test_replace_leaves_a_job_that_already_runs(self, make_queue) -> None:
        """replace only applies while the job is still delayed; a waiting job keeps its data."""
        q = make_queue()
        dedup = Deduplication("x", replace=True)
        first = await q.add("n", "a", deduplication=dedup)
        assert (await q.add("n", "b", deduplication=dedup)).data == "a"
        assert (await q.get_job(first.id)).data == "a"  # type: ignore[union-attr]

    async def test_remove_deduplication_key_lets_the_next_add_through(self, make_queue) -> None:
        """remove_deduplication_key frees the id at once."""
        q = make_queue()
        first = await q.add("n", 1, deduplication=Deduplication("k"))
        assert await q.remove_deduplication_key("k") is True
        assert await q.remove_deduplication_key("k") is False
        assert (await q.add("n", 2, deduplication=Deduplication("k"))).id != first.id

    async def test_a_cancelled_job_no_longer_holds_its_id(self, make_queue) -> None:
        """An id whose job was cancelled (failed without moveToFinished) is free again."""
        q = make_queue()
        first = await q.add("n", 1, deduplication=Deduplication("c"))
        await first.cancel()
        assert await q.get_deduplication_job_id("c") is None
        assert (await q.add("n", 2, deduplication=Deduplication("c"))).id != first.id

    async def test_add_bulk_deduplicates_within_and_across_calls(self, make_queue) -> None:
        """add_bulk items with the same deduplication id make one job; plain items are untouched."""
        q = make_queue()
        jobs = await q.add_bulk(
            [
                {"name": "a", "data": 1, "opts": {"deduplication": {"id": "b"}}},
                {"name": "plain", "data": 2},
                {"name": "a", "data": 3, "opts": {"deduplication": Deduplication("b")}},
            ]
        )
        assert jobs[0].id == jobs[2].id and jobs[2].data == 1
        assert jobs[1].id not in (jobs[0].id,)
        assert await q.count() == 2

    async def test_bad_deduplication_is_refused_before_anything_is_written(self, make_queue) -> None:
        """An invalid deduplication id or ttl raises ValueError naming it; nothing is written."""
        q = make_queue()
        with pytest.raises(ValueError, match="':'"):
            await q.add("n", 1, deduplication=Deduplication("a:b"))
        with pytest.raises(ValueError, match="ttl"):
            await q.add("n", 1, deduplication={"id": "a", "ttl": 0})
        assert await q.count() == 0


async def _is_none(awaitable) -> bool:  # type: ignore[no-untyped-def]
    return (await awaitable) is None


class TestStepJobs:
    async def test_delayed_error_puts_the_job_back_without_using_an_attempt(
        self, make_queue, make_worker
    ) -> None:
        """A handler that raises DelayedError(delay=) after update_data runs again with the new data, and
        its attempts are not used up (attempts=1 still completes after three steps)."""
        q = make_queue()
        job = await q.add("steps", {"step": 0}, attempts=1)
        seen: list[int] = []

        async def handler(job):
            step = job.data["step"]
            seen.append(step)
            if step < 2:
                await job.update_data({"step": step + 1})
                raise DelayedError(delay=0.05)
            return "done"

        await make_worker(handler, start=False).run_until_drained(include_delayed=True)
        done = await q.get_job(job.id)
        assert seen == [0, 1, 2]
        assert done is not None and done.return_value == "done" and done.attempts_made == 1
        assert done.data == {"step": 2}

    async def test_move_to_delayed_then_bare_delayed_error(self, make_queue, make_worker) -> None:
        """job.move_to_delayed(ts) then `raise DelayedError()` leaves the job delayed until ts."""
        q = make_queue()
        job = await q.add("n", 1)
        due = int(time.time() * 1000) + 60_000

        async def handler(job):
            await job.move_to_delayed(due)
            raise DelayedError()

        await make_worker(handler, start=False).run_until_drained()
        assert await job.get_state() == JobState.DELAYED
        assert await q.client.zscore(q.keys.delayed, job.id) == due
        fresh = await q.get_job(job.id)
        assert fresh is not None and fresh.attempts_made == 0 and fresh.failed_reason is None

    async def test_delayed_error_refuses_a_negative_delay(self) -> None:
        """DelayedError(delay=-1) is a ValueError at once."""
        with pytest.raises(ValueError, match="delay"):
            DelayedError(delay=-1)


class TestManualRateLimit:
    async def test_rate_limit_error_sends_the_job_back_and_stops_every_worker(
        self, make_queue, make_worker
    ) -> None:
        """After queue.rate_limit(s) + RateLimitError, the job goes back to waiting without using an
        attempt and no job starts until the time is over."""
        q = make_queue()
        await q.add("call-api", 1, attempts=1)
        await q.add("call-api", 2, attempts=1)
        starts: list[tuple[int, float]] = []
        limited_at = 0.0

        async def handler(job):
            nonlocal limited_at
            starts.append((job.data, time.monotonic()))
            if job.data == 1 and job.attempts_started == 1:
                limited_at = time.monotonic()
                await job.queue.rate_limit(0.5)
                raise RateLimitError()
            return job.data

        w = make_worker(handler, concurrency=1)
        await wait_for(lambda: len(starts) >= 3, timeout=10)
        await w.close()
        later = [t for _, t in starts[1:]]
        assert all(t - limited_at >= 0.45 for t in later), starts
        job1 = await q.get_job("1")
        assert job1 is not None and job1.return_value == 1 and job1.attempts_made == 1


class TestQueueWideLimits:
    async def test_global_concurrency_is_stored_and_caps_every_worker(self, make_queue, make_worker) -> None:
        """set_global_concurrency(2): two workers of concurrency 5 never run more than 2 jobs at once."""
        q = make_queue()
        await q.set_global_concurrency(2)
        assert await q.get_global_concurrency() == 2
        await q.add_bulk([{"name": "n", "data": i} for i in range(12)])
        running = peak = done = 0

        async def handler(job):
            nonlocal running, peak, done
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.03)
            running -= 1
            done += 1

        make_worker(handler, concurrency=5)
        make_worker(handler, concurrency=5)
        await wait_for(lambda: done == 12, timeout=15)
        assert peak == 2
        await q.remove_global_concurrency()
        assert await q.get_global_concurrency() is None

    async def test_global_rate_limit_overrides_the_workers_limiter(self, make_queue, make_worker) -> None:
        """set_global_rate_limit(3, 0.5 s): 7 jobs need at least two full windows (> 1 s)."""
        q = make_queue()
        await q.set_global_rate_limit(3, 0.5)
        assert await q.get_global_rate_limit() == (3, 0.5)
        await q.add_bulk([{"name": "n", "data": i} for i in range(7)])
        starts: list[float] = []
        make_worker(
            lambda job: starts.append(time.monotonic()), concurrency=5, limiter=RateLimit(max=100, duration=1)
        )
        await wait_for(lambda: len(starts) == 7, timeout=10)
        assert starts[-1] - starts[0] >= 0.9
        await q.remove_global_rate_limit()
        assert await q.get_global_rate_limit() is None

    async def test_invalid_limits_are_refused(self, make_queue) -> None:
        """Zero or negative limits raise ValueError naming the limit."""
        q = make_queue()
        with pytest.raises(ValueError, match="concurrency"):
            await q.set_global_concurrency(0)
        with pytest.raises(ValueError, match="max"):
            await q.set_global_rate_limit(0, 1)
        with pytest.raises(ValueError, match="duration"):
            await q.rate_limit(0)


class TestMutation:
    async def test_update_data_persists_and_fails_when_gone(self, make_queue) -> None:
        """update_data stores new data; on a removed job it raises JobNotFoundError."""
        q = make_queue()
        job = await q.add("n", {"a": 1})
        await job.update_data({"a": 2})
        assert (await q.get_job(job.id)).data == {"a": 2}  # type: ignore[union-attr]
        await job.remove()
        with pytest.raises(JobNotFoundError):
            await job.update_data({"a": 3})

    async def test_change_priority_reorders_ready_jobs(self, make_queue, make_worker) -> None:
        """A waiting job given priority 1 runs after the plain ones but before priority 5."""
        q = make_queue()
        a = await q.add("n", "a")
        await q.add("n", "b", priority=5)
        await q.add("n", "c", priority=3)
        await a.change_priority(1)
        assert a.priority == 1 and await a.get_state() == JobState.PRIORITIZED
        seen: list[str] = []
        await make_worker(lambda job: seen.append(job.data), start=False).run_until_drained()
        assert seen == ["a", "c", "b"]

    async def test_change_delay_moves_the_due_time(self, make_queue) -> None:
        """change_delay sets a delayed job's due time from now; a job that is not delayed is refused."""
        q = make_queue()
        job = await q.add("n", 1, delay=3600)
        before = int(time.time() * 1000)
        await job.change_delay(1)
        due = await q.client.zscore(q.keys.delayed, job.id)
        assert before + 900 <= due <= int(time.time() * 1000) + 1100
        waiting = await q.add("n", 2)
        with pytest.raises(ValueError, match="not delayed"):
            await waiting.change_delay(5)

    async def test_clear_logs(self, make_queue) -> None:
        """clear_logs deletes the lines (or keeps the newest `keep`); a gone job raises JobNotFoundError."""
        q = make_queue()
        job = await q.add("n", 1)
        for i in range(5):
            await job.log(f"line {i}")
        await job.clear_logs(keep=2)
        assert await job.get_logs() == ["line 3", "line 4"]
        await job.clear_logs()
        assert await job.get_logs() == []
        await job.remove()
        with pytest.raises(JobNotFoundError):
            await job.clear_logs()

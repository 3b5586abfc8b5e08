"""Job fields and events as a BullMQ user expects them (issue 14)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from framework import Backoff, JobNotFoundError, UnrecoverableError
from framework.queue import Job, Queue

from .conftest import take_job, wait_for


async def _events(q: Queue) -> list[dict[str, str]]:
    entries = await q.client.xrange(q.keys.events)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in entries]


class TestFinishedOn:
    async def test_finished_on_is_set_on_the_job_given_to_completed_and_failed_listeners(
        self, make_queue, make_worker
    ) -> None:
        """The job handed to `completed` / `failed` listeners carries finished_on, equal to Redis's."""
        q = make_queue()
        seen: dict[str, Job[Any]] = {}
        ok = await q.add("ok", 1)
        bad = await q.add("bad", 2)

        def handler(job: Job[Any]) -> int:
            if job.name == "bad":
                raise UnrecoverableError("no")
            return 1

        w = make_worker(handler, start=False)
        w.on("completed", lambda job, _result: seen.__setitem__(job.id, job))
        w.on("failed", lambda job, _error: seen.__setitem__(job.id, job))
        await w.run_until_drained()

        for job_id in (ok.id, bad.id):
            stored = await q.get_job(job_id)
            assert stored is not None and stored.finished_on is not None
            assert seen[job_id].finished_on == stored.finished_on


class TestDelay:
    async def test_auto_promoted_delayed_job_has_its_delay_reset_like_a_manual_promote(
        self, make_queue, make_worker
    ) -> None:
        """A delayed job promoted when due runs with delay 0 (as after promote()), in handler and Redis."""
        q = make_queue()
        auto = await q.add("n", "auto", delay=0.2)
        manual = await q.add("n", "manual", delay=60)
        assert await manual.promote()
        delays: dict[str, int] = {}

        async def handler(job: Job[Any]) -> None:
            delays[job.data] = job.delay

        await make_worker(handler, start=False).run_until_drained(include_delayed=True)

        assert delays == {"auto": 0, "manual": 0}
        for job_id in (auto.id, manual.id):
            stored = await q.get_job(job_id)
            assert stored is not None and stored.delay == 0 and stored.due_on is None

    async def test_retry_with_backoff_records_the_applied_delay_and_due_time(
        self, make_queue, make_worker
    ) -> None:
        """A retry in backoff shows the delay applied (job.delay, ms) and when it falls due (due_on)."""
        q = make_queue()
        job = await q.add("n", None, attempts=2, backoff=Backoff.fixed(30))
        hooked: list[Job[Any]] = []

        def handler(_job: Job[Any]) -> None:
            raise RuntimeError("try again")

        w = make_worker(handler)
        w.on("failed", lambda j, _e: hooked.append(j))
        before = int(time.time() * 1000)
        await wait_for(lambda: hooked)
        stored = await q.get_job(job.id)

        assert stored is not None and await stored.get_state() == "delayed"
        assert hooked[0].delay == stored.delay == 30_000
        assert hooked[0].due_on == stored.due_on
        assert stored.due_on is not None and before + 30_000 <= stored.due_on <= before + 35_000
        assert stored.to_dict()["due_on"] == stored.due_on  # what the dashboard and `nestq job` show
        score = await q.client.zscore(q.keys.delayed, job.id)
        assert score == stored.due_on

        assert await stored.promote()
        promoted = await q.get_job(job.id)
        assert promoted is not None and promoted.delay == 0 and promoted.due_on is None


class TestRemovedJob:
    async def test_update_progress_on_a_removed_job_raises_job_not_found(self, make_queue) -> None:
        """update_progress on a job that no longer exists raises JobNotFoundError and fires no event."""
        q = make_queue()
        job = await q.add("n", None)
        assert await job.remove()
        fired: list[Any] = []
        q._progress_listener = lambda j, p: fired.append(p)

        with pytest.raises(JobNotFoundError, match=f"job {job.id} no longer exists"):
            await job.update_progress(50)

        assert fired == [] and job.progress is None
        assert not [e for e in await _events(q) if e["event"] == "progress"]

    async def test_log_on_a_removed_job_raises_job_not_found(self, make_queue) -> None:
        """job.log on a job that no longer exists raises JobNotFoundError and writes nothing."""
        q = make_queue()
        job = await q.add("n", None)
        assert await job.log("kept") == 1
        assert await job.remove()

        with pytest.raises(JobNotFoundError, match="cannot add a log line"):
            await job.log("lost")

        assert not await q.client.exists(q.keys.logs(job.id))


class TestStalledFailure:
    async def test_stall_check_failure_fires_the_checking_workers_failed_listener(
        self, make_queue, make_worker
    ) -> None:
        """A job failed by the stall check (past max_stalled_count) reaches the worker's `failed` hook."""
        q = make_queue()
        job = await q.add("n", None)
        await take_job(q, lock_ms=50)  # its worker dies holding it
        failed: list[tuple[Job[Any], BaseException]] = []
        stalled: list[str] = []
        w = make_worker(lambda j: None, stalled_interval=0.1, max_stalled_count=0)
        w.on("failed", lambda j, e: failed.append((j, e)))
        w.on("stalled", lambda j: stalled.append(j.id))

        await wait_for(lambda: failed, timeout=10)

        [(hooked, error)] = failed
        assert hooked.id == job.id and stalled == [job.id]
        assert isinstance(error, UnrecoverableError) and "stalled more than the allowed 0" in str(error)
        assert hooked.finished_on is not None and await hooked.get_state() == "failed"


class TestEvents:
    async def test_clean_emits_one_cleaned_event_with_the_count(self, make_queue) -> None:
        """clean() emits a single `cleaned` event carrying the number of jobs removed (BullMQ)."""
        q = make_queue()
        for i in range(3):
            await q.add("n", i)
        await q.client.delete(q.keys.events)

        assert len(await q.clean(0, state="waiting")) == 3

        assert await _events(q) == [{"event": "cleaned", "count": "3"}]

    async def test_active_event_carries_the_previous_state(self, make_queue, make_worker) -> None:
        """The `active` event says where the job came from: `waiting` or `prioritized`."""
        q = make_queue()
        plain = await q.add("n", None)
        urgent = await q.add("n", None, priority=1)
        await make_worker(lambda j: None, start=False).run_until_drained()

        active = {e["jobId"]: e["prev"] for e in await _events(q) if e["event"] == "active"}
        assert active == {plain.id: "waiting", urgent.id: "prioritized"}

    async def test_drain_emits_emptied_and_leaves_drained_to_mean_no_jobs_left(self, make_queue) -> None:
        """drain() announces itself as `emptied` (with the count); `drained` keeps BullMQ's meaning."""
        q = make_queue()
        for i in range(2):
            await q.add("n", i)
        await q.client.delete(q.keys.events)

        assert await q.drain() == 2

        assert await _events(q) == [{"event": "emptied", "removed": "2"}]


class TestLiveConcurrency:
    @pytest.mark.parametrize("kind", ["async", "sync"])
    async def test_raising_concurrency_on_a_running_worker_fills_the_new_slots(
        self, make_queue, make_worker, kind: str
    ) -> None:
        """`worker.concurrency = 8` while running: 8 jobs run at once (sync handlers: 8 threads)."""
        q = make_queue()
        await q.add_bulk([{"name": "n", "data": i} for i in range(10)])
        running: set[int] = set()
        lock = threading.Lock()
        release = threading.Event()

        def sync_handler(job: Job[Any]) -> None:
            with lock:
                running.add(job.data)
            release.wait(10)

        async def async_handler(job: Job[Any]) -> None:
            running.add(job.data)
            await asyncio.to_thread(release.wait, 10)

        w = make_worker(sync_handler if kind == "sync" else async_handler, concurrency=1)
        try:
            await wait_for(lambda: len(running) == 1)
            w.concurrency = 8
            await wait_for(lambda: len(running) == 8)
        finally:
            release.set()
        await wait_for(lambda: len(running) == 10)

    async def test_lowering_concurrency_on_a_running_worker_takes_fewer_jobs(
        self, make_queue, make_worker
    ) -> None:
        """After `worker.concurrency = 1` the running jobs finish and then only one runs at a time."""
        q = make_queue()
        await q.add_bulk([{"name": "n", "data": i} for i in range(8)])
        gates = {i: asyncio.Event() for i in range(8)}
        now_running: set[int] = set()
        peak_after: list[int] = []
        lowered = False

        async def handler(job: Job[Any]) -> None:
            now_running.add(job.data)
            if lowered:
                peak_after.append(len(now_running))
            await gates[job.data].wait()
            now_running.discard(job.data)

        w = make_worker(handler, concurrency=3)
        await wait_for(lambda: len(now_running) == 3)
        w.concurrency = 1
        lowered = True
        for i in range(8):
            gates[i].set()
        await wait_for(lambda: len(peak_after) == 5)
        assert max(peak_after) == 1

    async def test_concurrency_refuses_a_value_below_one(self, make_queue, make_worker) -> None:
        """Setting concurrency to 0 is refused with a clear error; the old value stays."""
        w = make_worker(lambda j: None, start=False, concurrency=2)
        with pytest.raises(ValueError, match="concurrency must be an int >= 1"):
            w.concurrency = 0
        assert w.concurrency == 2

"""Cancellation: a job that is not running at once; an active one through its worker, from anywhere."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from typing import Any

import pytest

from framework import JobCancelledError, JobFailedError, JobState, Queue
from framework.queue.scripts import script

from .conftest import take_job, wait_for


async def _failed_event(q: Queue, job_id: str) -> dict[str, Any]:
    """The `failed` event of a job, read from the start of the queue's stream."""
    entries = await q.client.xrange(q.keys.events)
    for _id, fields in entries:
        f = {k.decode(): v.decode() for k, v in fields.items()}
        if f.get("event") == "failed" and f.get("jobId") == job_id:
            return f
    raise AssertionError(f"no failed event for job {job_id}")


async def _assert_cancelled(q: Queue, job_id: str) -> None:
    job = await q.get_job(job_id)
    assert job is not None
    assert await job.get_state() == JobState.FAILED
    assert job.failed_reason == "cancelled"
    assert (await _failed_event(q, job_id))["failedReason"] == "cancelled"


class TestCancelNotRunning:
    @pytest.mark.parametrize(
        "opts", [{}, {"priority": 3}, {"delay": 60}], ids=["waiting", "prioritized", "delayed"]
    )
    async def test_cancelled_at_once_without_retry(self, make_queue, opts: dict[str, Any]) -> None:
        """A job that is not running moves to failed ("cancelled") at once, despite attempts left."""
        q = make_queue()
        job = await q.add("n", 1, attempts=5, **opts)
        assert await job.cancel() is True
        await _assert_cancelled(q, job.id)
        assert await q.get_job_counts("waiting", "prioritized", "delayed", "failed") == {
            "waiting": 0,
            "prioritized": 0,
            "delayed": 0,
            "failed": 1,
        }
        with pytest.raises(JobFailedError, match="cancelled"):
            await job.wait_until_finished(timeout=2)

    async def test_paused_job_is_cancelled(self, make_queue) -> None:
        """A job waiting in a paused queue is cancelled like any waiting job."""
        q = make_queue()
        await q.pause()
        job = await q.add("n", 1)
        assert await q.cancel(job.id) is True
        await _assert_cancelled(q, job.id)

    async def test_cancelled_job_is_never_run(self, make_queue, make_worker) -> None:
        """A worker started after the cancel never sees the job."""
        q = make_queue()
        doomed = await q.add("n", "doomed")
        await q.add("n", "kept")
        await q.cancel(doomed.id)
        seen: list[str] = []
        await make_worker(lambda job: seen.append(job.data), start=False).run_until_drained()
        assert seen == ["kept"]

    async def test_remove_on_fail_is_honoured(self, make_queue) -> None:
        """A cancelled job with remove_on_fail=True is deleted, and its failed event still emitted."""
        q = make_queue()
        job = await q.add("n", 1, remove_on_fail=True)
        assert await q.cancel(job.id) is True
        assert await q.get_job(job.id) is None
        assert (await _failed_event(q, job.id))["failedReason"] == "cancelled"

    async def test_finished_or_unknown_job_returns_false(self, make_queue, make_worker) -> None:
        """cancel() is False for a completed job, a failed job and an id that never existed."""
        q = make_queue()
        done = await q.add("n", 1)
        await make_worker(lambda job: None, start=False).run_until_drained()
        assert await q.cancel(done.id) is False
        assert await q.cancel("no-such-job") is False
        gone = await q.add("n", 2)
        assert await q.cancel(gone.id) is True
        assert await q.cancel(gone.id) is False  # already failed
        assert await q.get_job_state(done.id) == JobState.COMPLETED


class TestCancelActive:
    async def test_async_handler_sees_cancelled_error(self, make_queue, make_worker) -> None:
        """An active async job is cancelled through its worker: the handler gets CancelledError, no retry."""
        q = make_queue()
        started = asyncio.Event()
        saw_cancel = asyncio.Event()
        failed: list[BaseException] = []

        async def handler(job):
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                saw_cancel.set()
                raise

        w = make_worker(handler)
        w.on("failed", lambda job, err: failed.append(err))
        job = await q.add("n", 1, attempts=3)
        await asyncio.wait_for(started.wait(), 5)
        t0 = time.monotonic()
        assert await q.cancel(job.id) is True
        with pytest.raises(JobFailedError, match="cancelled"):
            await job.wait_until_finished(timeout=5)
        assert time.monotonic() - t0 < 1.0  # pub/sub, not the next lock renewal
        assert saw_cancel.is_set()
        await _assert_cancelled(q, job.id)
        done = await q.get_job(job.id)
        assert done is not None and done.attempts_made == 1
        await wait_for(lambda: failed)
        assert isinstance(failed[0], JobCancelledError)

    async def test_worker_goes_on_after_a_cancel(self, make_queue, make_worker) -> None:
        """The cancelled job's slot is freed; the next job runs and completes."""
        q = make_queue()
        started = asyncio.Event()

        async def handler(job):
            if job.data == "slow":
                started.set()
                await asyncio.sleep(60)
            return job.data

        make_worker(handler, concurrency=1)
        slow = await q.add("n", "slow")
        nxt = await q.add("n", "next")
        await asyncio.wait_for(started.wait(), 5)
        await q.cancel(slow.id)
        assert await nxt.wait_until_finished(timeout=5) == "next"

    async def test_sync_handler_result_is_discarded(self, make_queue, make_worker) -> None:
        """A plain def handler cannot be interrupted: the job fails "cancelled" now, its thread runs on,
        its result is discarded, and its slot stays taken until the thread returns."""
        q = make_queue()
        started = threading.Event()
        release = threading.Event()
        returned = threading.Event()

        def handler(job):
            if job.data == "blocking":
                started.set()
                release.wait(30)
                returned.set()
                return "result of a cancelled job"
            return job.data

        make_worker(handler, concurrency=1)
        job = await q.add("n", "blocking")
        await asyncio.to_thread(started.wait, 5)
        assert await q.cancel(job.id) is True
        with pytest.raises(JobFailedError, match="cancelled"):
            await job.wait_until_finished(timeout=5)
        assert not returned.is_set()  # the thread is still running
        nxt = await q.add("n", "next")
        await asyncio.sleep(0.3)
        assert await q.get_job_state(nxt.id) == JobState.WAITING  # concurrency=1: the thread holds the slot
        release.set()
        assert await nxt.wait_until_finished(timeout=5) == "next"
        done = await q.get_job(job.id)
        assert done is not None
        assert done.failed_reason == "cancelled" and done.return_value is None

    async def test_cancel_from_another_queue_instance(
        self, make_queue, make_worker, redis_url, prefix
    ) -> None:
        """Any Queue object on the same queue (its own connection) can cancel a running job."""
        q = make_queue()
        started = asyncio.Event()

        async def handler(job):
            started.set()
            await asyncio.sleep(60)

        make_worker(handler)
        job = await q.add("n", 1)
        await asyncio.wait_for(started.wait(), 5)
        async with Queue("q", connection=redis_url, prefix=prefix) as other:
            assert await other.cancel(job.id) is True
        with pytest.raises(JobFailedError, match="cancelled"):
            await job.wait_until_finished(timeout=5)

    async def test_cancel_from_another_process(self, make_queue, make_worker, redis_url, prefix) -> None:
        """A separate process (the CLI, a web app) cancels a running job; cancel() returns True there."""
        q = make_queue()
        started = asyncio.Event()

        async def handler(job):
            started.set()
            await asyncio.sleep(60)

        make_worker(handler)
        job = await q.add("n", 1)
        await asyncio.wait_for(started.wait(), 5)
        code = (
            "import asyncio, sys\n"
            "from framework import Queue\n"
            "async def main():\n"
            f"    async with Queue('q', connection={redis_url!r}, prefix={prefix!r}) as q:\n"
            f"        print(await q.cancel({job.id!r}))\n"
            "asyncio.run(main())\n"
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE, env=dict(os.environ)
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0
        assert out.decode().strip() == "True"
        with pytest.raises(JobFailedError, match="cancelled"):
            await job.wait_until_finished(timeout=5)

    async def test_missed_message_is_seen_at_lock_renewal(self, make_queue, make_worker) -> None:
        """A worker that missed the pub/sub message learns of the cancel from the flag at its next renewal."""
        q = make_queue()
        started = asyncio.Event()

        async def handler(job):
            started.set()
            await asyncio.sleep(60)

        make_worker(handler, lock_duration=1.5)  # renewed every 0.5 s
        job = await q.add("n", 1)
        await asyncio.wait_for(started.wait(), 5)
        k = q.keys
        # The request as cancel() makes it, but published on a channel nobody listens to.
        res = await script("cancelJob")(
            q.client,
            [k.wait, k.prioritized, k.delayed, k.active, k.completed, k.failed, k.events],
            [q.base, job.id, 0, 1000, -1, 0, k.base + ":nobody-listens"],
        )
        assert res == 2
        with pytest.raises(JobFailedError, match="cancelled"):
            await job.wait_until_finished(timeout=3)

    async def test_active_job_of_a_dead_worker_fails_cancelled_at_stall_check(
        self, make_queue, make_worker
    ) -> None:
        """A cancel for a job whose worker died is settled by the stall check: failed, not re-run."""
        q = make_queue()
        job = await q.add("n", 1, attempts=3)
        # A worker takes the job and dies at once (its lock lasts 50 ms).
        await take_job(q, lock_ms=50)
        assert await q.cancel(job.id) is True  # requested: the job is active
        ran: list[str] = []
        make_worker(lambda j: ran.append(j.id), stalled_interval=0.2)
        with pytest.raises(JobFailedError, match="cancelled"):
            await job.wait_until_finished(timeout=5)
        assert ran == []

    async def test_cancel_wins_over_a_retry(self, make_queue, make_worker) -> None:
        """A job whose handler fails after the cancel request is not retried."""
        q = make_queue()
        started = asyncio.Event()

        async def handler(job):
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                raise RuntimeError("cleanup failed") from None

        make_worker(handler)
        job = await q.add("n", 1, attempts=3)
        await asyncio.wait_for(started.wait(), 5)
        await q.cancel(job.id)
        with pytest.raises(JobFailedError, match="cancelled"):
            await job.wait_until_finished(timeout=5)
        assert await q.get_job_counts("waiting", "delayed") == {"waiting": 0, "delayed": 0}

"""Queue administration: pause/resume, drain, clean, obliterate, retry, promote, remove, listing."""

from __future__ import annotations

import asyncio

import pytest

from framework import CorruptJobError, UnrecoverableError

from .conftest import wait_for


async def _fail(job):
    raise UnrecoverableError("no")


class TestPause:
    async def test_paused_queue_takes_no_jobs_until_resumed(self, make_queue, make_worker) -> None:
        """While paused, jobs wait (state 'paused'); resume wakes the worker at once."""
        q = make_queue()
        await q.pause()
        assert await q.is_paused()
        seen: list[int] = []
        make_worker(lambda job: seen.append(job.data))
        job = await q.add("n", 1)
        assert await job.get_state() == "paused"
        counts = await q.get_job_counts("waiting", "paused")
        assert counts == {"waiting": 0, "paused": 1}
        await asyncio.sleep(0.2)  # give a (wrongly) running worker the chance to take it
        assert seen == []
        await q.resume()
        assert await job.wait_until_finished(timeout=5) is None
        assert seen == [1]


class TestListing:
    async def test_get_jobs_paginates_newest_first(self, make_queue, make_worker) -> None:
        """Finished states list newest first; waiting lists next-to-run first; pages slice."""
        q = make_queue()
        await q.add_bulk([{"name": "n", "data": i} for i in range(6)])
        waiting = await q.get_jobs("waiting", 0, 2)
        assert [j.data for j in waiting] == [0, 1, 2]
        await make_worker(lambda job: None, start=False).run_until_drained()
        page1 = await q.get_jobs("completed", 0, 2)
        page2 = await q.get_jobs("completed", 3, 5)
        assert [j.data for j in page1] == [5, 4, 3]
        assert [j.data for j in page2] == [2, 1, 0]

    async def test_get_jobs_across_states(self, make_queue) -> None:
        """Several states are concatenated in the order given."""
        q = make_queue()
        await q.add("n", "w")
        await q.add("n", "d", delay=60)
        await q.add("n", "p", priority=2)
        jobs = await q.get_jobs(["delayed", "prioritized", "waiting"])
        assert [j.data for j in jobs] == ["d", "p", "w"]

    async def test_unknown_state_is_a_clear_error(self, make_queue) -> None:
        """A typo in a state name raises ValueError listing the states."""
        q = make_queue()
        with pytest.raises(ValueError, match="completed"):
            await q.get_job_counts("complete")


class TestRetryPromoteRemove:
    async def test_retry_jobs_moves_failed_back(self, make_queue, make_worker) -> None:
        """retry_jobs() gives every failed job a fresh set of attempts."""
        q = make_queue()
        await q.add_bulk([{"name": "n", "data": i} for i in range(3)])
        await make_worker(_fail, start=False).run_until_drained()
        assert (await q.get_job_counts("failed"))["failed"] == 3
        assert await q.retry_jobs() == 3
        await make_worker(lambda job: "ok", start=False).run_until_drained()
        counts = await q.get_job_counts("failed", "completed")
        assert counts == {"failed": 0, "completed": 3}
        job = (await q.get_jobs("completed"))[0]
        assert job.attempts_made == 1 and job.failed_reason is None

    async def test_job_retry_single(self, make_queue, make_worker) -> None:
        """job.retry() on a failed job runs it again."""
        q = make_queue()
        job = await q.add("n", 1)
        await make_worker(_fail, start=False).run_until_drained()
        assert await job.retry() is True
        assert await job.get_state() == "waiting"
        assert await job.retry() is False  # not failed any more

    async def test_promote_jobs(self, make_queue) -> None:
        """promote_jobs() makes every delayed job ready."""
        q = make_queue()
        for i in range(3):
            await q.add("n", i, delay=600)
        assert await q.promote_jobs() == 3
        assert await q.get_job_counts("delayed", "waiting") == {"delayed": 0, "waiting": 3}

    async def test_remove_waiting_job(self, make_queue, redis) -> None:
        """remove() deletes the job and its id from every structure."""
        q = make_queue()
        job = await q.add("n", 1)
        await job.log("x")
        assert await q.remove(job.id) is True
        assert await q.get_job(job.id) is None
        assert await redis.llen(q.keys.wait) == 0
        assert await redis.exists(q.keys.logs(job.id)) == 0
        assert await q.remove(job.id) is False

    async def test_remove_active_job_is_refused(self, make_queue, make_worker) -> None:
        """An active job cannot be removed (it would be recreated by its worker): clear error."""
        q = make_queue()
        release = asyncio.Event()

        async def handler(job):
            await release.wait()

        job = await q.add("n", 1)
        make_worker(handler)
        await wait_for(lambda: job.get_state(), timeout=5)
        await wait_for(lambda: _is(job, "active"))
        with pytest.raises(RuntimeError, match="cancel"):
            await q.remove(job.id)
        release.set()


async def _is(job, state: str) -> bool:
    return await job.get_state() == state


class TestDrainCleanObliterate:
    async def test_drain_removes_waiting_not_delayed(self, make_queue) -> None:
        """drain() empties waiting/prioritized; delayed stay unless asked."""
        q = make_queue()
        await q.add_bulk([{"name": "n", "data": i} for i in range(2500)])
        await q.add("n", "p", priority=1)
        await q.add("n", "d", delay=60)
        assert await q.drain() == 2501
        assert await q.get_job_counts("waiting", "prioritized", "delayed") == {
            "waiting": 0,
            "prioritized": 0,
            "delayed": 1,
        }
        assert await q.drain(delayed=True) == 1

    async def test_clean_by_grace_and_limit(self, make_queue, make_worker, redis) -> None:
        """clean() removes finished jobs older than the grace period, at most `limit`."""
        q = make_queue()
        await q.add_bulk([{"name": "n", "data": i} for i in range(5)])
        await make_worker(lambda job: None, start=False).run_until_drained()
        assert await q.clean(grace=60, state="completed") == []  # all younger than a minute
        removed = await q.clean(grace=0, limit=2, state="completed")
        assert len(removed) == 2
        assert (await q.get_job_counts("completed"))["completed"] == 3
        with pytest.raises(ValueError, match="active"):
            await q.clean(state="active")

    async def test_obliterate_deletes_every_key(self, make_queue, make_worker, redis) -> None:
        """obliterate() leaves no key of the queue behind."""
        q = make_queue()
        await q.add_bulk([{"name": "n", "data": i} for i in range(5)])
        await make_worker(lambda job: None, start=False).run_until_drained()
        await q.add("n", "left", delay=60)
        assert await q.obliterate() > 0
        assert await redis.keys(f"{{{q.prefix}:q}}*") == []


class TestCorruptData:
    async def test_corrupt_job_hash_fails_that_job_worker_keeps_running(
        self, make_queue, make_worker, redis
    ) -> None:
        """A job hash edited by hand fails with a clear reason; the next job still runs."""
        q = make_queue()
        bad = await q.add("n", {"ok": False})
        good = await q.add("n", {"ok": True})
        await redis.hset(q.keys.job(bad.id), "data", "{not json")
        make_worker(lambda job: "fine")
        assert await good.wait_until_finished(timeout=5) == "fine"
        await wait_for(lambda: _is(bad, "failed"))
        with pytest.raises(CorruptJobError, match="'data' is not valid"):
            await q.get_job(bad.id)  # reading it says what is wrong, too
        reason = await redis.hget(q.keys.job(bad.id), "failedReason")
        assert b"'data' is not valid" in reason


class TestEvents:
    async def test_event_stream_records_lifecycle(self, make_queue, make_worker) -> None:
        """QueueEvents yields added, waiting, active, progress, completed for a job, in order."""
        from framework import QueueEvents

        q = make_queue()
        events = QueueEvents("q", connection=q.client, prefix=q.prefix)
        await events.start()
        got: list[tuple[str, object]] = []

        async def listen():
            async for ev in events:
                got.append((ev.event, ev.data.get("returnvalue", ev.data.get("data"))))
                if ev.event == "completed":
                    return

        listener = asyncio.create_task(listen())

        async def handler(job):
            await job.update_progress({"pct": 50})
            return [1, 2]

        job = await q.add("n", 1)
        make_worker(handler)
        await asyncio.wait_for(listener, 5)
        await events.close()
        names = [g[0] for g in got]
        assert names[:3] == ["added", "waiting", "active"]
        assert ("progress", {"pct": 50}) in got
        assert got[-1] == ("completed", [1, 2])
        assert job.id

    async def test_stream_is_capped(self, make_queue, redis) -> None:
        """The event stream is trimmed near max_events."""
        q = make_queue(max_events=100)
        await q.add_bulk([{"name": "n", "data": i} for i in range(500)])
        assert await redis.xlen(q.keys.events) < 300

"""Locks and stalls: a result is only kept from the lock's owner; lost locks are noticed; the stall check
recovers the jobs of dead or frozen workers, but gives a live worker the time to take its locks back."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from framework import LockLostError, Queue, RedisUnavailableError, Worker
from framework.queue.options import DEFAULT_KEEP_FAILED, keep_for
from framework.queue.scripts import script

from .conftest import take_job, wait_for


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """Every structlog event of the test (from any thread)."""
    with capture_logs() as captured:
        yield captured


def events_named(logs: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    return [e for e in list(logs) if text in e["event"]]


async def take_as_dead_worker(q: Queue, lock_ms: int = 50) -> str:
    """Fetch the next job for a worker that dies at once; returns its job id."""
    job_id, _token = await take_job(q, lock_ms=lock_ms)
    return job_id


async def lock_gone(q: Queue, job_id: str) -> bool:
    return not await q.client.exists(q.keys.lock(job_id))


async def stall_check(q: Queue, interval_ms: int = 1, max_stalled: int = 1) -> Any:
    k = q.keys
    keep_count, keep_age = keep_for(None, DEFAULT_KEEP_FAILED)
    return await script("moveStalledJobsToWait")(
        q.client,
        k.stall_keys(),
        [q.base, int(time.time() * 1000), max_stalled, interval_ms, 1000, keep_count, keep_age],
    )


async def next_stall_check(q: Queue, **kwargs: Any) -> Any:
    """Run a stall check as soon as the once-per-interval guard lets one through."""
    while True:
        res = await stall_check(q, **kwargs)
        if res is not None:
            return res
        await asyncio.sleep(0.005)


class ThreadWorker:
    """A Worker on an event loop of its own thread, so a handler can block that loop and not the test's."""

    def __init__(self, name: str, handler: Any, **kwargs: Any) -> None:
        self._args = (name, handler, kwargs)
        self.worker: Worker | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        name, handler, kwargs = self._args
        self.loop = asyncio.get_running_loop()
        self.worker = Worker(name, handler, **kwargs)
        self._ready.set()
        await self.worker.run()

    def start(self) -> ThreadWorker:
        self.thread.start()
        assert self._ready.wait(5)
        return self

    def stop(self) -> None:
        if self.thread.is_alive() and self.loop is not None and self.worker is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.worker.close(timeout=5), self.loop).result(20)
        self.thread.join(20)


@pytest.fixture
def thread_worker(redis_url: str, prefix: str) -> Iterator[Any]:
    built: list[ThreadWorker] = []

    def factory(handler: Any, name: str = "q", **kwargs: Any) -> ThreadWorker:
        tw = ThreadWorker(name, handler, connection=redis_url, prefix=prefix, **kwargs)
        built.append(tw.start())
        return tw

    yield factory
    for tw in built:
        tw.stop()


class TestTokens:
    async def test_completion_refused_when_the_lock_is_not_ours(self, make_queue, make_worker, logs) -> None:
        """A worker whose lock now holds another token cannot complete the job: logged, not crashed."""
        q = make_queue()
        started, go = asyncio.Event(), asyncio.Event()
        completed: list[str] = []

        async def handler(job):
            if job.data == "contested":
                started.set()
                await go.wait()
            return job.data

        w = make_worker(handler, lock_duration=30)
        w.on("completed", lambda job, result: completed.append(job.id))
        job = await q.add("n", "contested")
        await asyncio.wait_for(started.wait(), 5)
        await q.client.set(q.keys.lock(job.id), "another-worker:9", px=60_000)
        go.set()
        await wait_for(lambda: events_named(logs, "job result discarded: the lock was lost"))
        assert await q.get_job_state(job.id) == "active"  # still the other worker's
        assert (await q.get_job(job.id)).return_value is None  # type: ignore[union-attr]
        assert await q.client.get(q.keys.lock(job.id)) == b"another-worker:9"
        assert completed == []
        later = await q.add("n", "later")
        assert await later.wait_until_finished(timeout=5) == "later"
        assert w.is_running

    async def test_renewal_reports_a_lost_lock_and_stops_the_handler(
        self, make_queue, make_worker, logs
    ) -> None:
        """extendLocks reports a lock another worker holds: the handler is stopped, `error` gets
        LockLostError, the job is left to its new owner, and the worker goes on."""
        q = make_queue()
        started = asyncio.Event()
        stopped = asyncio.Event()
        errors: list[BaseException] = []

        async def handler(job):
            if job.data != "contested":
                return job.data
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                stopped.set()
                raise

        w = make_worker(handler, lock_duration=1.5)  # renewed every 0.5 s
        w.on("error", errors.append)
        job = await q.add("n", "contested")
        await asyncio.wait_for(started.wait(), 5)
        await q.client.set(q.keys.lock(job.id), "another-worker:9", px=60_000)
        await asyncio.wait_for(stopped.wait(), 3)
        assert events_named(logs, "lost the lock of a running job")
        assert any(isinstance(e, LockLostError) for e in errors)
        assert await q.get_job_state(job.id) == "active"
        assert await q.client.get(q.keys.lock(job.id)) == b"another-worker:9"
        later = await q.add("n", "later")
        assert await later.wait_until_finished(timeout=5) == "later"


class TestStallCheck:
    async def test_runs_once_per_interval_for_the_whole_queue(self, make_queue) -> None:
        """Two checks within the interval (from any worker, any machine): only the first runs."""
        q = make_queue()
        assert await stall_check(q, interval_ms=60_000) == [[], []]
        assert await stall_check(q, interval_ms=60_000) is None

    async def test_dead_workers_job_is_run_again_with_stalled_event_and_hook(
        self, make_queue, make_worker
    ) -> None:
        """A job whose worker died goes back to waiting; the `stalled` event and hook fire; it completes."""
        q = make_queue()
        job = await q.add("n", "x")
        await take_as_dead_worker(q)
        stalled: list[str] = []
        w = make_worker(lambda j: j.data, stalled_interval=0.2)
        w.on("stalled", lambda j: stalled.append(j.id))
        assert await job.wait_until_finished(timeout=5) == "x"
        assert stalled == [job.id]
        events = [
            {k.decode(): v.decode() for k, v in f.items()} for _id, f in await q.client.xrange(q.keys.events)
        ]
        assert {"event": "stalled", "jobId": job.id} in events
        done = await q.get_job(job.id)
        assert done is not None and done.stalled_count == 1 and done.attempts_made == 1

    async def test_fails_after_max_stalled_count(self, make_queue) -> None:
        """A job that stalls more than max_stalled_count times ends failed, saying why."""
        q = make_queue()
        job = await q.add("n", 1, attempts=5)
        for round_ in (1, 2):
            await take_as_dead_worker(q, lock_ms=1)
            await wait_for(lambda: lock_gone(q, job.id))
            assert await next_stall_check(q) == [[], []]  # phase 1: marked
            stalled, failed = await next_stall_check(q)  # phase 2: moved
            if round_ == 1:
                assert [s.decode() for s in stalled] == [job.id]
            else:
                assert [f.decode() for f in failed] == [job.id]
        done = await q.get_job(job.id)
        assert done is not None and await done.get_state() == "failed"
        assert done.failed_reason is not None and "stalled more than the allowed 1 time" in done.failed_reason

    async def test_live_worker_takes_its_lapsed_lock_back_in_time(self, make_queue) -> None:
        """A job whose lock lapsed is only a candidate at the first check; extendLocks with the job's token
        takes the lock back, and the next check leaves the job alone."""
        q = make_queue()
        job = await q.add("n", 1)
        k = q.keys
        _job_id, token = await take_job(q, worker="frozen-worker", lock_ms=1)
        await wait_for(lambda: lock_gone(q, job.id))
        assert await next_stall_check(q) == [[], []]
        assert await q.client.smembers(k.stalled) == {job.id.encode()}
        lost, cancelled = await script("extendLocks")(q.client, [k.active], [q.base, 30_000, job.id, token])
        assert lost == [] and cancelled == []
        assert await next_stall_check(q) == [[], []]
        assert await q.get_job_state(job.id) == "active"
        assert await q.client.get(k.lock(job.id)) == token.encode()


class TestBlockedEventLoop:
    async def test_short_block_keeps_every_lock_and_is_reported(
        self, make_queue, thread_worker, logs
    ) -> None:
        """A handler that blocks the loop for longer than the lock duration (but less than lock + stall
        interval) costs nobody their job: locks are taken back at once, the stall check moves nothing, and
        a warning names the jobs that were running."""
        q = make_queue()

        async def handler(job):
            if job.data == "blocker":
                time.sleep(1.8)  # noqa: ASYNC251 - blocking the loop is the fault under test
            else:
                await asyncio.sleep(2.5)
            return job.data

        thread_worker(handler, concurrency=2, lock_duration=1.5, stalled_interval=1)
        healthy = await q.add("n", "healthy")
        blocker = await q.add("n", "blocker")
        moved: list[Any] = []

        async def checker() -> None:
            while True:
                res = await stall_check(q, interval_ms=1000)
                if res is not None:
                    moved.extend(res[0] + res[1])
                await asyncio.sleep(0.05)

        task = asyncio.create_task(checker())
        try:
            assert await blocker.wait_until_finished(timeout=10) == "blocker"
            assert await healthy.wait_until_finished(timeout=10) == "healthy"
        finally:
            task.cancel()
        assert moved == []
        for j in (healthy, blocker):
            done = await q.get_job(j.id)
            assert done is not None and done.attempts_made == 1 and done.stalled_count == 0
        lag = events_named(logs, "event loop blocked")
        assert lag, "the blocked loop was not reported"
        assert lag[0]["blocked_seconds"] >= 1.0
        assert {j["job_id"] for j in lag[0]["jobs"]} == {healthy.id, blocker.id}

    async def test_stall_check_takes_the_job_of_a_frozen_worker(
        self, make_queue, make_worker, thread_worker, logs
    ) -> None:
        """A worker frozen longer than lock + stall interval loses its job to a live worker; when it wakes,
        its result is refused (logged), and the job keeps the live worker's result."""
        q = make_queue()
        frozen_started = threading.Event()

        async def frozen(job):
            frozen_started.set()
            time.sleep(3.5)  # noqa: ASYNC251 - the whole worker is frozen (no renewals)
            return "frozen"

        thread_worker(frozen, lock_duration=1, stalled_interval=0.3)
        job = await q.add("n", "x")
        await asyncio.to_thread(frozen_started.wait, 5)
        stalled: list[str] = []
        live = make_worker(lambda j: "live", stalled_interval=0.3)
        live.on("stalled", lambda j: stalled.append(j.id))
        assert await job.wait_until_finished(timeout=10) == "live"
        assert stalled == [job.id]
        await wait_for(lambda: events_named(logs, "job result discarded"), timeout=10)
        done = await q.get_job(job.id)
        assert done is not None and done.return_value == "live" and done.attempts_made == 1
        assert events_named(logs, "event loop blocked")


class TestNeverStuck:
    async def test_job_that_cannot_start_is_handed_back(
        self, make_queue, make_worker, monkeypatch, logs
    ) -> None:
        """An error outside the handler (Redis gone just as a job starts) hands the job back at once instead
        of leaving it active under a lock that is renewed but that nobody works under."""
        q = make_queue()
        calls: list[str] = []
        execute = Worker._execute

        async def flaky(self: Worker, job: Any) -> Any:
            calls.append(job.id)
            if len(calls) == 1:
                raise RedisUnavailableError("redis://127.0.0.1:1/0", 5.0)
            return await execute(self, job)

        monkeypatch.setattr(Worker, "_execute", flaky)
        job = await q.add("n", "x")
        make_worker(lambda j: j.data)
        assert await job.wait_until_finished(timeout=5) == "x"
        assert calls == [job.id, job.id]
        assert events_named(logs, "could not start the job; handing it back")
        done = await q.get_job(job.id)
        assert done is not None and done.attempts_made == 1 and done.stalled_count == 0

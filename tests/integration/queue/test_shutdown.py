"""Graceful shutdown: close(timeout) lets active jobs finish, then hands the rest back at once; signals."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from framework import Queue, Worker
from framework.queue.shutdown import ShutdownSignals, close_workers, serve_workers

from .conftest import wait_for


async def _started(q: Queue, n: int) -> None:
    async def enough() -> bool:
        return int(await q.client.zcard(q.keys.active)) >= n

    await wait_for(enough)


class TestClose:
    async def test_active_jobs_finish_within_grace(self, make_queue, make_worker) -> None:
        """close(timeout) waits for running jobs; nothing new is taken; results land."""
        q = make_queue()
        jobs = await q.add_bulk([{"name": "n", "data": i} for i in range(4)])

        async def handler(job):
            await asyncio.sleep(0.3)
            return job.data

        w = make_worker(handler, concurrency=2)
        await _started(q, 2)
        await w.close(timeout=5)
        counts = await q.get_job_counts("completed", "waiting", "active")
        assert counts == {"completed": 2, "waiting": 2, "active": 0}
        assert [await j.get_state() for j in jobs].count("completed") == 2

    async def test_past_grace_jobs_go_back_at_once(self, make_queue, make_worker) -> None:
        """Jobs still running when the grace period ends are cancelled and back in waiting right away,
        long before their lock (30 s) would expire; the attempt is not counted."""
        q = make_queue()
        job = await q.add("n", 1)
        cancelled = asyncio.Event()

        async def handler(job):
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        w = make_worker(handler, lock_duration=30)
        await _started(q, 1)
        t0 = time.monotonic()
        await w.close(timeout=0.2)
        assert time.monotonic() - t0 < 2
        assert cancelled.is_set()
        assert await job.get_state() == "waiting"
        fresh = await q.get_job(job.id)
        assert fresh is not None and fresh.attempts_made == 0
        assert not await q.client.exists(q.keys.lock(job.id))

    async def test_second_close_with_zero_timeout_forces(self, make_queue, make_worker) -> None:
        """A graceful close in progress is cut short by close(timeout=0)."""
        q = make_queue()
        job = await q.add("n", 1)

        async def handler(job):
            await asyncio.sleep(60)

        w = make_worker(handler)
        await _started(q, 1)
        graceful = asyncio.create_task(w.close(timeout=60))
        await asyncio.sleep(0.05)
        assert not graceful.done()
        await asyncio.wait_for(w.close(timeout=0), 5)
        await asyncio.wait_for(graceful, 5)
        assert await job.get_state() == "waiting"

    async def test_jobs_taken_by_a_report_on_the_wire_at_close_go_back(self, make_queue, make_worker) -> None:
        """A finished-job report also takes the next jobs; if close() comes while it is on the wire, the
        jobs it took are handed back to waiting instead of started."""
        q = make_queue()
        await q.add_bulk([{"name": "n", "data": i} for i in range(5)])
        ran: list[int] = []
        w = make_worker(lambda job: ran.append(job.data), start=False, concurrency=2)
        gate, reporting = asyncio.Event(), asyncio.Event()
        real_flush = w._flush

        async def held_flush(batch, want):
            if want:
                reporting.set()
                await gate.wait()
            return await real_flush(batch, want)

        w._flush = held_flush
        task = asyncio.create_task(w.run())
        await asyncio.wait_for(reporting.wait(), 5)
        closing = asyncio.create_task(w.close(timeout=5))
        await wait_for(lambda: w._closing)
        gate.set()
        await asyncio.wait_for(closing, 10)
        await asyncio.wait_for(task, 10)

        assert sorted(ran) == [0, 1]
        assert await q.get_job_counts("completed", "waiting", "active") == {
            "completed": 2,
            "waiting": 3,
            "active": 0,
        }


class TestSignals:
    async def test_first_signal_graceful_second_forced(self) -> None:
        """The first SIGTERM sets `graceful`, the second `forced`; callbacks run; handlers are removed."""
        calls: list[str] = []
        async with ShutdownSignals() as signals:
            assert signal.SIGTERM in signals.installed
            signals.on_first(lambda: calls.append("first"))
            signals.on_second(lambda: calls.append("second"))
            os.kill(os.getpid(), signal.SIGTERM)
            assert await asyncio.wait_for(signals.wait(), 2) == "SIGTERM"
            assert not signals.forced.is_set()
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.wait_for(signals.forced.wait(), 2)
        assert calls == ["first", "second"]
        assert signals.installed == []

    async def test_serve_workers_stops_gracefully_on_sigterm(self, make_queue, redis_url, prefix) -> None:
        """serve_workers runs until SIGTERM, lets the running job finish, and returns normally."""
        q = make_queue()
        job = await q.add("n", 1)

        async def handler(job):
            await asyncio.sleep(0.3)
            return "done"

        w = Worker("q", handler, connection=redis_url, prefix=prefix)
        serving = asyncio.create_task(serve_workers(w, grace=10))
        await _started(q, 1)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(serving, 10)
        assert await job.get_state() == "completed"

    async def test_close_workers_forced_by_a_second_signal(self, make_queue, make_worker) -> None:
        """During a long grace period, a second signal closes the workers at once."""
        q = make_queue()
        job = await q.add("n", 1)

        async def handler(job):
            await asyncio.sleep(60)

        w = make_worker(handler)
        await _started(q, 1)
        signals = ShutdownSignals()
        signals.trigger("SIGTERM")
        closing = asyncio.create_task(close_workers([w], grace=60, signals=signals))
        await asyncio.sleep(0.05)
        assert not closing.done()
        signals.trigger("SIGTERM")
        await asyncio.wait_for(closing, 5)
        assert await job.get_state() == "waiting"

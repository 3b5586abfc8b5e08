"""Fair groups: round-robin between groups, per-group limits, pausing a group, counts."""

from __future__ import annotations

import asyncio
import time

import pytest

from framework import RateLimit

from .conftest import wait_for


class TestFairness:
    async def test_a_small_tenant_is_not_starved_by_a_big_one(self, make_queue, make_worker) -> None:
        """Tenant A adds 10,000 jobs, then B adds 10: with concurrency 10, all of B's jobs start within
        the first 50 jobs started after B's add (first in first out would run B last)."""
        q = make_queue()
        for s in range(0, 10_000, 1000):
            await q.add_bulk(
                [{"name": "n", "data": "A", "opts": {"group_id": "A"}} for _ in range(s, s + 1000)]
            )
        started: list[str] = []

        async def handler(job):
            started.append(job.data)
            await asyncio.sleep(0.001)

        make_worker(handler, concurrency=10)
        await wait_for(lambda: len(started) >= 30, timeout=10)
        mark = len(started)
        await q.add_bulk([{"name": "n", "data": "B", "opts": {"group_id": "B"}} for _ in range(10)])
        await wait_for(lambda: started.count("B") == 10, timeout=20)
        after = started[mark:]
        last_b = max(i for i, who in enumerate(after) if who == "B")
        assert last_b < 50, f"B's last job was the {last_b + 1}th started after its add"

    async def test_groups_take_turns_and_plain_jobs_are_not_starved(self, make_queue, make_worker) -> None:
        """Jobs of three groups and plain jobs interleave instead of running group by group."""
        q = make_queue()
        for g in ("a", "b", "c"):
            await q.add_bulk([{"name": "n", "data": g, "opts": {"group_id": g}} for _ in range(3)])
        await q.add_bulk([{"name": "n", "data": "-"} for _ in range(3)])
        seen: list[str] = []
        await make_worker(lambda job: seen.append(job.data), start=False).run_until_drained()
        assert sorted(seen) == sorted("aaabbbccc---")
        assert seen[:6].count("-") == 3 and {"a", "b", "c"} <= set(seen[:6])

    async def test_a_retried_job_stays_in_its_group(self, make_queue, make_worker) -> None:
        """A grouped job that fails and is retried runs again, still with its group_id."""
        q = make_queue()
        job = await q.add("n", 1, group_id="g", attempts=2)
        groups: list[str | None] = []

        def handler(job):
            groups.append(job.group_id)
            if job.attempts_made == 0:
                raise RuntimeError("first try fails")

        await make_worker(handler, start=False).run_until_drained()
        assert groups == ["g", "g"]
        assert (await q.get_job(job.id)).attempts_made == 2  # type: ignore[union-attr]


class TestGroupLimits:
    async def test_group_concurrency_in_one_worker(self, make_queue, make_worker) -> None:
        """group_concurrency=1: a worker of concurrency 4 runs one job per group at a time."""
        q = make_queue()
        await q.add_bulk([{"name": "n", "data": g, "opts": {"group_id": g}} for g in "aabb" * 3])
        running: dict[str, int] = {"a": 0, "b": 0}
        peak = {"a": 0, "b": 0}
        total_peak = 0

        async def handler(job):
            nonlocal total_peak
            running[job.data] += 1
            peak[job.data] = max(peak[job.data], running[job.data])
            total_peak = max(total_peak, sum(running.values()))
            await asyncio.sleep(0.02)
            running[job.data] -= 1

        await make_worker(handler, start=False, concurrency=4, group_concurrency=1).run_until_drained()
        assert peak == {"a": 1, "b": 1} and total_peak == 2

    async def test_group_rate_limit(self, make_queue, make_worker) -> None:
        """group_rate_limit=RateLimit(2, 0.5 s): a group's third job waits for the next window, while
        another group's jobs are not held back."""
        q = make_queue()
        await q.add_bulk([{"name": "n", "data": "a", "opts": {"group_id": "a"}} for _ in range(3)])
        await q.add_bulk([{"name": "n", "data": "b", "opts": {"group_id": "b"}} for _ in range(2)])
        starts: dict[str, list[float]] = {"a": [], "b": []}
        w = make_worker(
            lambda job: starts[job.data].append(time.monotonic()),
            start=False,
            concurrency=5,
            group_rate_limit=RateLimit(max=2, duration=0.5),
        )
        await w.run_until_drained()
        assert len(starts["a"]) == 3 and len(starts["b"]) == 2
        assert starts["a"][2] - starts["a"][0] >= 0.4
        assert starts["b"][1] - starts["a"][0] < 0.3

    async def test_invalid_group_options_are_refused(self, make_queue, make_worker) -> None:
        """A ':' in group_id, priority with group_id, or group_concurrency=0 raise ValueError."""
        q = make_queue()
        with pytest.raises(ValueError, match="':'"):
            await q.add("n", 1, group_id="a:b")
        with pytest.raises(ValueError, match="priority"):
            await q.add("n", 1, group_id="a", priority=2)
        with pytest.raises(ValueError, match="group_concurrency"):
            make_worker(lambda job: None, start=False, group_concurrency=0)
        assert await q.count() == 0


class TestPauseAndCounts:
    async def test_pause_group_holds_its_jobs_and_resume_releases_them(self, make_queue, make_worker) -> None:
        """A paused group's jobs wait (counted as paused) while other groups run; resume_group runs them."""
        q = make_queue()
        assert await q.pause_group("a") is True
        assert await q.pause_group("a") is False
        await q.add_bulk([{"name": "n", "data": g, "opts": {"group_id": g}} for g in "aab"])
        assert await q.get_group_counts("a") == {"waiting": 0, "paused": 2, "active": 0}
        assert await q.is_group_paused("a")
        seen: list[str] = []
        await make_worker(lambda job: seen.append(job.data), start=False).run_until_drained()
        assert seen == ["b"]
        assert await q.resume_group("a") is True
        assert await q.get_group_counts("a") == {"waiting": 2, "paused": 0, "active": 0}
        await make_worker(lambda job: seen.append(job.data), start=False).run_until_drained()
        assert seen == ["b", "a", "a"]
        assert await q.get_groups() == []

    async def test_group_counts_show_active_jobs(self, make_queue, make_worker) -> None:
        """get_group_counts counts the group's running jobs as active."""
        q = make_queue()
        await q.add_bulk([{"name": "n", "data": 1, "opts": {"group_id": "a"}} for _ in range(3)])
        release = asyncio.Event()

        async def handler(job):
            await release.wait()

        make_worker(handler, concurrency=2)
        await wait_for(lambda: _counts_are(q, "a", {"waiting": 1, "paused": 0, "active": 2}), timeout=5)
        assert await q.get_groups() == ["a"]
        release.set()
        await wait_for(lambda: _counts_are(q, "a", {"waiting": 0, "paused": 0, "active": 0}), timeout=5)


async def _counts_are(q, group_id, expected) -> bool:  # type: ignore[no-untyped-def]
    return bool(await q.get_group_counts(group_id) == expected)


class TestAdminOfGroupedJobs:
    async def test_state_counts_cancel_remove_and_drain_see_grouped_jobs(self, make_queue) -> None:
        """A grouped waiting job is `waiting` (or `paused` with its group), counted, cancellable,
        removable, and drained."""
        q = make_queue()
        jobs = [await q.add("n", i, group_id="g") for i in range(4)]
        other = await q.add("n", 9, group_id="h")
        await q.pause_group("h")
        assert await jobs[0].get_state() == "waiting"
        assert await other.get_state() == "paused"
        counts = await q.get_job_counts("waiting", "paused")
        assert counts == {"waiting": 4, "paused": 1}
        assert await jobs[0].cancel() is True
        assert await jobs[0].get_state() == "failed"
        assert await jobs[1].remove() is True
        assert await q.get_group_counts("g") == {"waiting": 2, "paused": 0, "active": 0}
        assert await q.drain() == 3
        assert await q.count() == 0
        assert await q.get_groups() == ["h"]  # paused, now empty: only its paused flag remains

    async def test_wait_until_finished_on_a_grouped_job(self, make_queue, make_worker) -> None:
        """wait_until_finished works for a job still waiting in its group."""
        q = make_queue()
        job = await q.add("n", 2, group_id="g")
        waiter = asyncio.create_task(job.wait_until_finished(10))
        await asyncio.sleep(0)
        make_worker(lambda job: job.data * 2)
        assert await waiter == 4

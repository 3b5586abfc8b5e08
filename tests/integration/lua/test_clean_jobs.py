"""cleanJobs: remove up to `limit` jobs of one state that are older than a cutoff."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.lua._support import T0, LuaQueue


@pytest.mark.parametrize("state", ["completed", "failed"])
async def test_finished_jobs_are_cleaned_by_finished_on(q: LuaQueue, state: str) -> None:
    key = q.k.completed if state == "completed" else q.k.failed
    # timestamp (creation) is the reverse of finishedOn order: only finishedOn must count.
    await q.finished_job(state, now=T0 + 300, job_id="a", timestamp=T0 + 30)
    await q.finished_job(state, now=T0 + 100, job_id="b", timestamp=T0 + 20)
    await q.finished_job(state, now=T0 + 200, job_id="c", timestamp=T0 + 10)
    await q.add_log("b", "line")
    await q.clear_events()

    assert await q.clean(key, "zset-finished", cutoff=T0 + 200) == ["b", "c"]

    assert await q.zset(key) == [("a", T0 + 300)]
    assert not await q.r.exists(q.k.job("b"), q.k.logs("b"), q.k.job("c"))
    assert await q.events() == [{"event": "cleaned", "count": "2"}]


@pytest.mark.parametrize("state", ["completed", "failed"])
async def test_finished_jobs_clean_honours_the_limit_oldest_first(q: LuaQueue, state: str) -> None:
    key = q.k.completed if state == "completed" else q.k.failed
    for i in (3, 1, 2):
        await q.finished_job(state, now=T0 + i, job_id=f"j{i}")

    assert await q.clean(key, "zset-finished", cutoff=T0 + 10, limit=2) == ["j1", "j2"]
    assert await q.members(key) == ["j3"]


async def test_nothing_older_than_the_cutoff_changes_nothing(q: LuaQueue) -> None:
    await q.finished_job(now=T0 + 10)
    await q.add(job_id="w", timestamp=T0 + 10)
    await q.add(job_id="d", timestamp=T0 + 10, delay=5)
    await q.add(job_id="p", timestamp=T0 + 10, priority=5)
    before = await q.snapshot()

    assert await q.clean(q.k.completed, "zset-finished", cutoff=T0 + 9) == []
    assert await q.clean(q.k.wait, "list", cutoff=T0 + 9) == []
    assert await q.clean(q.k.delayed, "zset", cutoff=T0 + 9) == []
    assert await q.clean(q.k.prioritized, "zset", cutoff=T0 + 9) == []
    assert await q.snapshot() == before  # nothing removed: no `cleaned` event either


async def test_waiting_jobs_are_cleaned_by_timestamp(q: LuaQueue) -> None:
    for i in range(1, 5):
        await q.add(job_id=f"w{i}", timestamp=T0 + i)
    await q.add_log("w1", "line")
    await q.clear_events()

    assert await q.clean(q.k.wait, "list", cutoff=T0 + 2) == ["w1", "w2"]

    assert await q.wait_list() == ["w3", "w4"]
    assert not await q.r.exists(q.k.job("w1"), q.k.logs("w1"), q.k.job("w2"))
    assert await q.events() == [{"event": "cleaned", "count": "2"}]


async def test_waiting_jobs_clean_honours_the_limit_next_to_run_first(q: LuaQueue) -> None:
    for i in range(1, 5):
        await q.add(job_id=f"w{i}", timestamp=T0 + i)

    assert await q.clean(q.k.wait, "list", cutoff=T0 + 10, limit=3) == ["w1", "w2", "w3"]
    assert await q.wait_list() == ["w4"]


@pytest.mark.parametrize("kind", ["delayed", "prioritized"])
async def test_delayed_and_prioritized_jobs_are_cleaned_by_timestamp(q: LuaQueue, kind: str) -> None:
    key = q.k.delayed if kind == "delayed" else q.k.prioritized
    extra: dict[str, Any] = {"delay": 1000} if kind == "delayed" else {"priority": 1}
    for i in range(1, 5):
        await q.add(job_id=f"j{i}", timestamp=T0 + i, **extra)
    await q.clear_events()

    assert await q.clean(key, "zset", cutoff=T0 + 2) == ["j1", "j2"]

    assert await q.members(key) == ["j3", "j4"]
    assert not await q.r.exists(q.k.job("j1"), q.k.job("j2"))
    assert await q.events() == [{"event": "cleaned", "count": "2"}]
    assert await q.clean(key, "zset", cutoff=T0 + 10, limit=1) == ["j3"]
    assert await q.members(key) == ["j4"]


async def test_id_whose_hash_is_gone_is_cleaned(q: LuaQueue) -> None:
    await q.add(job_id="orphan", timestamp=T0 + 50)
    await q.r.delete(q.k.job("orphan"))

    assert await q.clean(q.k.wait, "list", cutoff=T0) == ["orphan"]
    assert not await q.r.exists(q.k.wait)


async def test_active_jobs_are_never_among_the_cleaned_structures(q: LuaQueue) -> None:
    job = await q.active_job(timestamp=T0 - 1000)
    await q.add(job_id="w", timestamp=T0 - 1000)

    assert await q.clean(q.k.wait, "list", cutoff=T0) == ["w"]
    assert await q.members(q.k.active) == [job.id]
    assert await q.lock(job.id) == job.token


@pytest.mark.parametrize("kind", ["delayed", "waiting"])
async def test_clean_finds_old_jobs_beyond_the_first_limit_entries(q: LuaQueue, kind: str) -> None:
    if kind == "delayed":
        await q.add(job_id="old", timestamp=T0, delay=60_000)  # due late
        await q.add(job_id="young", timestamp=T0 + 1000, delay=1)  # due first
        key, script_kind = q.k.delayed, "zset"
    else:
        await q.finished_job("failed", job_id="old", timestamp=T0)
        await q.add(job_id="young", timestamp=T0 + 1000)
        await q.retry_jobs("failed", "old")  # back of the line with its old timestamp
        assert await q.wait_list() == ["young", "old"]
        key, script_kind = q.k.wait, "list"

    assert await q.clean(key, script_kind, cutoff=T0 + 500, limit=1) == ["old"]

"""retryJobs: move failed (or completed) jobs back to wait for a fresh set of attempts."""

from __future__ import annotations

from tests.integration.lua._support import PRIORITY_SHIFT, T0, LuaQueue


async def test_retry_one_failed_job_by_id(q: LuaQueue) -> None:
    job_id = await q.finished_job("failed", value="boom")
    await q.finished_job("failed", now=T0 + 1, job_id="other")
    await q.clear_events()
    await q.clear_marker()

    assert await q.retry_jobs("failed", job_id) == 1

    assert await q.members(q.k.failed) == ["other"]
    assert await q.wait_list() == [job_id]
    h = await q.job(job_id)
    assert h["attemptsMade"] == "0"
    for gone in ("finishedOn", "processedOn", "returnvalue", "failedReason", "stc"):
        assert gone not in h
    assert (h["name"], h["data"], h["ats"]) == ("job", "{}", "1")
    assert await q.marker() == [("0", 0.0)]
    assert await q.events() == [{"event": "waiting", "jobId": job_id, "prev": "failed"}]


async def test_retry_by_id_of_a_job_not_in_that_state_changes_nothing(q: LuaQueue) -> None:
    done = await q.finished_job("completed", job_id="done")
    await q.add(job_id="w")
    await q.clear_marker()
    before = await q.snapshot()

    assert await q.retry_jobs("failed", done) == 0
    assert await q.retry_jobs("failed", "w") == 0
    assert await q.retry_jobs("failed", "nope") == 0
    assert await q.snapshot() == before


async def test_retry_all_takes_the_oldest_count_first(q: LuaQueue) -> None:
    for i in (3, 1, 2):
        await q.finished_job("failed", now=T0 + i, job_id=f"f{i}")

    assert await q.retry_jobs("failed", count=2) == 2

    assert await q.wait_list() == ["f1", "f2"]
    assert await q.members(q.k.failed) == ["f3"]
    assert await q.retry_jobs("failed", count=2) == 1
    assert await q.retry_jobs("failed", count=2) == 0
    assert not await q.r.exists(q.k.failed)


async def test_retry_completed_jobs_clears_the_return_value(q: LuaQueue) -> None:
    job_id = await q.finished_job("completed", value='"r"')
    await q.clear_events()

    assert await q.retry_jobs("completed") == 1

    assert not await q.r.exists(q.k.completed)
    assert await q.wait_list() == [job_id]
    assert "returnvalue" not in await q.job(job_id)
    assert await q.events() == [{"event": "waiting", "jobId": job_id, "prev": "completed"}]


async def test_retried_prioritized_job_goes_back_to_its_priority(q: LuaQueue) -> None:
    job_id = await q.finished_job("failed", priority=4)

    await q.retry_jobs("failed", job_id)

    assert await q.zset(q.k.prioritized) == [(job_id, 4 * PRIORITY_SHIFT + 2)]
    assert not await q.r.exists(q.k.wait)


async def test_retry_on_a_paused_queue_does_not_wake_workers(q: LuaQueue) -> None:
    job_id = await q.finished_job("failed")
    await q.pause()
    await q.clear_marker()

    assert await q.retry_jobs("failed") == 1

    assert await q.wait_list() == [job_id]
    assert not await q.r.exists(q.k.marker)
    assert await q.get_state(job_id) == "paused"


async def test_stall_counter_is_reset_by_a_retry(q: LuaQueue) -> None:
    job = await q.active_job()
    assert await q.stall(job.id, max_stalled=0) == [[], [job.id]]
    assert (await q.job(job.id))["stc"] == "1"

    assert await q.retry_jobs("failed", job.id) == 1
    assert "stc" not in await q.job(job.id)

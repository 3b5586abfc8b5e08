"""releaseJobs: a worker shutting down hands its unfinished jobs back to the front of the wait list
(or fails those whose cancellation was requested)."""

from __future__ import annotations

from tests.integration.lua._support import T0, LuaQueue

NOW = T0 + 500


async def test_own_jobs_go_back_to_the_front_of_wait_unlocked(q: LuaQueue) -> None:
    a = await q.active_job(job_id="a")
    b = await q.active_job(job_id="b", priority=2)
    await q.add(job_id="queued")
    await q.clear_events()
    await q.clear_marker()

    n = await q.release([(a.id, a.token), (b.id, b.token)], now=NOW)

    assert n == 2
    assert await q.wait_list() == ["b", "a", "queued"]
    assert not await q.r.exists(q.k.active)
    assert not await q.r.exists(q.k.lock("a"), q.k.lock("b"))
    assert not await q.r.exists(q.k.failed)
    assert await q.marker() == [("0", 0.0)]
    assert await q.events() == [
        {"event": "waiting", "jobId": "a", "prev": "active"},
        {"event": "waiting", "jobId": "b", "prev": "active"},
    ]
    h = await q.job("a")
    assert (h["attemptsMade"], h["ats"]) == ("0", "1")  # the attempt is not counted


async def test_job_locked_by_another_token_is_left_alone(q: LuaQueue) -> None:
    job = await q.active_job("w2")
    before = await q.snapshot()

    assert await q.release([(job.id, "w1:1")]) == 0
    assert await q.snapshot() == before


async def test_expired_lock_of_a_still_active_job_is_released(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.expire_lock(job.id)
    await q.clear_marker()

    assert await q.release([(job.id, job.token)]) == 1
    assert await q.wait_list() == [job.id]
    assert not await q.r.exists(q.k.active)
    assert await q.marker() == [("0", 0.0)]


async def test_job_no_longer_active_is_not_counted_or_moved(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.stall(job.id, now=T0 + 1)
    await q.clear_marker()
    before = await q.snapshot()

    assert await q.release([(job.id, job.token)]) == 0
    assert await q.snapshot() == before  # not pushed a second time, no marker, no event


async def test_nothing_to_release_changes_nothing(q: LuaQueue) -> None:
    await q.add()
    before = await q.snapshot()
    assert await q.release([]) == 0
    assert await q.snapshot() == before


async def test_stale_token_does_not_release_a_job_another_worker_now_runs(q: LuaQueue) -> None:
    old = await q.active_job("w1")
    await q.stall(old.id, now=T0 + 1)
    await q.move_to_active("w2")  # attempt 2 belongs to w2
    await q.expire_lock(old.id)  # w2's lock lapses, no stall check yet
    before = await q.snapshot()

    assert await q.release([(old.id, old.token)]) == 0
    assert await q.snapshot() == before


async def test_job_whose_cancellation_was_requested_fails_instead(q: LuaQueue) -> None:
    await q.finished_job("failed", now=T0 - 1, job_id="older")
    job = await q.active_job(job_id="c")
    assert await q.cancel("c") == 2
    await q.clear_events()
    await q.clear_marker()

    assert await q.release([(job.id, job.token)], now=NOW, keep_count=1) == 0  # failed, not handed back

    assert await q.zset(q.k.failed) == [("c", NOW)]
    assert not await q.r.exists(q.k.job("older"))  # failed retention applied
    assert not await q.r.exists(q.k.wait)
    assert not await q.r.exists(q.k.active)
    assert not await q.r.exists(q.k.lock("c"))
    assert not await q.r.exists(q.k.marker)
    h = await q.job("c")
    assert (h["failedReason"], h["finishedOn"], h["attemptsMade"]) == ("cancelled", str(NOW), "1")
    assert "cancel" not in h
    assert await q.events() == [
        {"event": "failed", "jobId": "c", "failedReason": "cancelled", "attemptsMade": "1"},
    ]

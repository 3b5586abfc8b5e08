"""moveStalledJobsToWait: once per interval, move active jobs that have had no lock for a whole interval
back to wait (or to failed). Two phases: a lockless active job first becomes a candidate (the `stalled`
set); only if it still has no lock at the next check has it stalled."""

from __future__ import annotations

from tests.integration.lua._support import T0, Finish, LuaQueue, wait_until_gone

REASON = (
    "job stalled more than the allowed 1 time(s): its worker died or blocked its event loop longer than the "
    "lock duration"
)


async def test_first_call_takes_the_guard_and_reports_nothing_when_every_job_is_locked(q: LuaQueue) -> None:
    job = await q.active_job()
    before = await q.snapshot()

    res = await q.stall_check(now=T0 + 5, interval_ms=30_000)

    assert res == [[], []]
    after = await q.snapshot()
    assert after.pop("stalled-check") == ("string", str(T0 + 5), True)
    assert after == before  # no candidates: no `stalled` set
    assert 0 < await q.r.pttl(q.k.stalled_check) <= 30_000
    assert await q.lock(job.id) == job.token


async def test_a_lockless_active_job_first_only_becomes_a_candidate(q: LuaQueue) -> None:
    lockless = await q.active_job(job_id="lockless")
    await q.active_job(job_id="locked")
    await q.expire_lock(lockless.id)
    before = await q.snapshot()

    assert await q.stall_check() == [[], []]

    assert await q.r.smembers(q.k.stalled) == {b"lockless"}
    after = await q.snapshot()
    after.pop("stalled")
    after.pop("stalled-check")
    assert after == before  # nothing moved, no event, no marker


async def test_second_call_within_the_interval_does_nothing(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.expire_lock(job.id)
    await q.stall_check(now=T0 + 5)
    before = await q.snapshot()

    assert await q.stall_check(now=T0 + 10) is None  # Lua false: another worker ran the check
    assert await q.snapshot() == before


async def test_candidate_still_without_lock_at_the_next_check_has_stalled(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.expire_lock(job.id)
    assert await q.stall_check(interval_ms=50) == [[], []]

    await wait_until_gone(q.r, q.k.stalled_check)  # the 50 ms interval really passes
    assert await q.stall_check(interval_ms=50) == [[job.id], []]
    assert not await q.r.exists(q.k.stalled)


async def test_candidate_whose_lock_was_taken_back_is_not_moved(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.expire_lock(job.id)
    await q.stall_check()
    assert await q.extend_locks([(job.id, job.token)]) == ([], [])

    assert await q.next_stall_check() == [[], []]
    assert await q.members(q.k.active) == [job.id]
    assert not await q.r.exists(q.k.stalled)
    assert not await q.r.exists(q.k.wait)


async def test_candidate_finished_meanwhile_is_not_moved(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.expire_lock(job.id)
    await q.stall_check()

    assert (await q.move_to_finished([Finish(job.id, job.token)])).results == [1]

    assert await q.next_stall_check() == [[], []]
    assert await q.members(q.k.completed) == [job.id]
    assert not await q.r.exists(q.k.wait)
    assert not await q.r.exists(q.k.stalled)


async def test_job_that_lost_its_lock_after_the_last_check_is_only_a_candidate(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.stall_check()  # locked then
    await q.expire_lock(job.id)

    assert await q.next_stall_check() == [[], []]
    assert await q.members(q.k.active) == [job.id]
    assert await q.r.smembers(q.k.stalled) == {job.id.encode()}


async def test_stalled_job_goes_back_to_the_front_of_wait(q: LuaQueue) -> None:
    stalled = await q.active_job(job_id="s1", priority=3)
    alive = await q.active_job(job_id="alive")
    await q.add(job_id="queued")
    await q.expire_lock(stalled.id)
    await q.stall_check(now=T0 + 50)
    await q.clear_events()
    await q.clear_marker()

    res = await q.next_stall_check(now=T0 + 100)

    assert res == [["s1"], []]
    assert await q.wait_list() == ["s1", "queued"]  # next to run: it was already due once
    assert await q.members(q.k.active) == ["alive"]
    assert await q.lock("alive") == alive.token
    assert not await q.r.exists(q.k.prioritized)
    assert not await q.r.exists(q.k.stalled)
    h = await q.job("s1")
    assert (h["stc"], h["attemptsMade"]) == ("1", "0")
    assert "failedReason" not in h
    assert await q.marker() == [("0", 0.0)]
    assert await q.events() == [
        {"event": "stalled", "jobId": "s1"},
        {"event": "waiting", "jobId": "s1", "prev": "active"},
    ]


async def test_job_that_stalls_more_than_max_stalled_count_fails(q: LuaQueue) -> None:
    job = await q.active_job()
    assert await q.stall(job.id, now=T0 + 1) == [[job.id], []]
    again = (await q.move_to_active(now=T0 + 2)).jobs[0]
    await q.expire_lock(again.id)
    await q.next_stall_check(now=T0 + 3)
    await q.clear_events()
    await q.clear_marker()

    res = await q.next_stall_check(now=T0 + 4, max_stalled=1)

    assert res == [[], [job.id]]
    assert await q.zset(q.k.failed) == [(job.id, T0 + 4)]
    assert not await q.r.exists(q.k.active)
    assert not await q.r.exists(q.k.wait)
    assert not await q.r.exists(q.k.marker)  # nothing to run: nobody is woken
    h = await q.job(job.id)
    assert (h["stc"], h["attemptsMade"], h["failedReason"], h["finishedOn"]) == (
        "2",
        "1",
        REASON,
        str(T0 + 4),
    )
    assert await q.events() == [
        {"event": "failed", "jobId": job.id, "failedReason": REASON, "attemptsMade": "1"},
    ]


async def test_max_stalled_count_zero_fails_on_the_first_stall(q: LuaQueue) -> None:
    job = await q.active_job()

    assert await q.stall(job.id, max_stalled=0) == [[], [job.id]]
    assert (await q.job(job.id))["failedReason"].startswith("job stalled more than the allowed 0 time(s)")


async def test_stalled_job_whose_cancellation_was_requested_fails_as_cancelled(q: LuaQueue) -> None:
    job = await q.active_job()
    assert await q.cancel(job.id) == 2
    await q.clear_events()

    assert await q.stall(job.id, now=T0 + 9, max_stalled=5) == [[], [job.id]]

    h = await q.job(job.id)
    assert (h["failedReason"], h["attemptsMade"], h["finishedOn"]) == ("cancelled", "1", str(T0 + 9))
    assert "cancel" not in h
    assert await q.events() == [
        {"event": "failed", "jobId": job.id, "failedReason": "cancelled", "attemptsMade": "1"},
    ]


async def test_failing_by_stall_applies_failed_retention(q: LuaQueue) -> None:
    await q.finished_job("failed", now=T0 - 2, job_id="f1")
    await q.finished_job("failed", now=T0 - 1, job_id="f2")
    job = await q.active_job(job_id="s")

    assert await q.stall(job.id, max_stalled=0, keep_count=2) == [[], ["s"]]
    assert await q.members(q.k.failed) == ["f2", "s"]
    assert not await q.r.exists(q.k.job("f1"))


async def test_active_id_whose_hash_is_gone_is_dropped_silently(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.r.delete(q.k.job(job.id))
    await q.clear_events()

    assert await q.stall(job.id) == [[], []]
    assert await q.key_names() == {"id", "stalled-check"}

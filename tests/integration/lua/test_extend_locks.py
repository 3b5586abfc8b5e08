"""extendLocks: renew a worker's locks in one call; report the jobs that are no longer its own, and the
ones whose cancellation was requested."""

from __future__ import annotations

from tests.integration.lua._support import T0, LuaQueue, wait_until_gone


async def test_renews_own_locks_to_the_full_duration(q: LuaQueue) -> None:
    a = await q.active_job(job_id="a")
    b = await q.active_job(job_id="b")
    await q.r.pexpire(q.k.lock("a"), 1000)
    await q.r.pexpire(q.k.lock("b"), 1000)
    before = await q.snapshot()

    res = await q.extend_locks([(a.id, a.token), (b.id, b.token)], lock_ms=60_000)

    assert res == ([], [])
    assert 30_000 < await q.lock_ttl("a") <= 60_000
    assert 30_000 < await q.lock_ttl("b") <= 60_000
    assert await q.snapshot() == before  # same values; only the TTLs moved


async def test_lock_held_by_another_token_is_reported_lost_and_left_alone(q: LuaQueue) -> None:
    job = await q.active_job("w2")
    await q.r.pexpire(q.k.lock(job.id), 1000)

    res = await q.extend_locks([(job.id, "w1:1")], lock_ms=60_000)

    assert res == ([job.id], [])
    assert await q.lock(job.id) == "w2:1"
    assert 0 < await q.lock_ttl(job.id) <= 1000


async def test_expired_but_untaken_lock_is_taken_back(q: LuaQueue) -> None:
    await q.add()
    job = (await q.move_to_active(lock_ms=30)).jobs[0]
    await wait_until_gone(q.r, q.k.lock(job.id))  # the 30 ms lock really expires

    res = await q.extend_locks([(job.id, job.token)], lock_ms=60_000)

    assert res == ([], [])
    assert await q.lock(job.id) == job.token
    assert 30_000 < await q.lock_ttl(job.id) <= 60_000


async def test_job_moved_back_to_wait_is_lost_and_no_lock_is_created(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.stall(job.id, now=T0 + 1)

    assert await q.extend_locks([(job.id, job.token)]) == ([job.id], [])
    assert not await q.r.exists(q.k.lock(job.id))


async def test_removed_job_is_lost_and_no_lock_is_created(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.expire_lock(job.id)
    assert await q.remove(job.id) == 1

    assert await q.extend_locks([(job.id, job.token)]) == ([job.id], [])
    assert await q.key_names() == {"id", "events"}


async def test_job_still_active_whose_hash_was_deleted_is_lost(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.expire_lock(job.id)
    await q.r.delete(q.k.job(job.id))

    assert await q.extend_locks([(job.id, job.token)]) == ([job.id], [])
    assert not await q.r.exists(q.k.lock(job.id))


async def test_no_pairs_is_a_no_op(q: LuaQueue) -> None:
    await q.active_job()
    before = await q.snapshot()
    assert await q.extend_locks([]) == ([], [])
    assert await q.snapshot() == before


async def test_jobs_whose_cancellation_was_requested_are_reported(q: LuaQueue) -> None:
    a = await q.active_job(job_id="a")
    b = await q.active_job(job_id="b")
    c = await q.active_job(job_id="c")
    assert await q.cancel("a") == 2
    assert await q.cancel("c") == 2
    await q.expire_lock("c")  # taken back, and still reported

    res = await q.extend_locks([(a.id, a.token), (b.id, b.token), (c.id, c.token)])

    assert res == ([], ["a", "c"])
    assert (await q.job("a"))["cancel"] == "1"  # the flag stays until the job is finished
    assert await q.lock("c") == c.token


async def test_cancellation_is_not_reported_for_a_lost_job(q: LuaQueue) -> None:
    job = await q.active_job("w2")
    await q.cancel(job.id)

    assert await q.extend_locks([(job.id, "w1:1")]) == ([job.id], [])


async def test_stale_token_cannot_take_back_a_job_another_worker_now_runs(q: LuaQueue) -> None:
    # Without the attempt check, w1 would re-lock the job and then finish it while w2 still runs it.
    old = await q.active_job("w1")  # attempt 1, token w1:1
    await q.stall(old.id, now=T0 + 1)  # w1 stalls: the job goes back to wait
    new = (await q.move_to_active("w2")).jobs[0]  # w2 runs attempt 2
    assert new.token == "w2:2"
    await q.expire_lock(old.id)  # w2's lock lapses too (a blocked event loop), before any stall check

    res = await q.extend_locks([(old.id, old.token)])

    assert res == ([old.id], [])
    assert not await q.r.exists(q.k.lock(old.id))

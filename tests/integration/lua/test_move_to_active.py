"""moveToActive: promote what fell due, then lock and hand out ready jobs (or nothing, and say why)."""

from __future__ import annotations

from tests.integration.lua._support import LOCK_MS, PRIORITY_SHIFT, T0, LuaQueue, wait_until_gone


async def test_takes_one_job_locks_it_and_marks_it_active(q: LuaQueue) -> None:
    await q.add("send", '{"n": 1}')
    await q.clear_marker()
    await q.clear_events()

    taken = await q.move_to_active("w1", now=T0 + 10, lock_ms=20_000)

    assert (taken.next_due, taken.limited_ms) == (-1, 0)
    [job] = taken.jobs
    assert (job.id, job.token) == ("1", "w1:1")
    assert job.hash == {
        "name": "send",
        "data": '{"n": 1}',
        "opts": "{}",
        "timestamp": str(T0),
        "delay": "0",
        "priority": "0",
        "attemptsMade": "0",
        "ats": "1",
        "processedOn": str(T0 + 10),
        "worker": "w1",
    }
    assert await q.job("1") == job.hash
    assert await q.key_names() == {"id", "1", "1:lock", "active", "events"}
    assert await q.zset(q.k.active) == [("1", T0 + 10)]
    assert await q.lock("1") == "w1:1"
    assert 0 < await q.lock_ttl("1") <= 20_000
    assert await q.events() == [{"event": "active", "jobId": "1", "prev": "waiting"}]
    assert not await q.r.exists(q.k.marker)  # nothing left to take: no one else is woken


async def test_takes_up_to_count_in_fifo_order_and_rearms_the_marker_while_jobs_remain(q: LuaQueue) -> None:
    for _ in range(3):
        await q.add()
    await q.clear_marker()

    first = await q.move_to_active(count=2)

    assert [(j.id, j.token) for j in first.jobs] == [("1", "w1:1"), ("2", "w1:1")]
    assert await q.wait_list() == ["3"]
    assert await q.members(q.k.active) == ["1", "2"]
    assert await q.marker() == [("0", 0.0)]  # another idle worker should wake for job 3

    await q.clear_marker()
    second = await q.move_to_active("w2", count=5)

    assert [(j.id, j.token) for j in second.jobs] == [("3", "w2:1")]
    assert not await q.r.exists(q.k.wait)
    assert not await q.r.exists(q.k.marker)
    assert await q.members(q.k.active) == ["1", "2", "3"]


async def test_count_zero_or_empty_queue_takes_nothing_and_changes_nothing(q: LuaQueue) -> None:
    assert await q.move_to_active(count=5) == await q.move_to_active(count=5)
    assert (await q.move_to_active(count=5)).jobs == []
    assert await q.key_names() == set()

    await q.add()
    before = await q.snapshot()
    taken = await q.move_to_active(count=0)
    assert (taken.jobs, taken.next_due, taken.limited_ms) == ([], -1, 0)
    assert await q.snapshot() == before


async def test_delayed_job_is_not_taken_before_due_and_reports_next_due(q: LuaQueue) -> None:
    await q.add(job_id="d", delay=5000)
    await q.add(job_id="e", delay=9000)
    before = await q.snapshot()

    taken = await q.move_to_active(now=T0 + 4999)

    assert (taken.jobs, taken.next_due, taken.limited_ms) == ([], T0 + 5000, 0)
    assert await q.snapshot() == before


async def test_delayed_job_is_promoted_and_taken_at_its_due_time(q: LuaQueue) -> None:
    await q.add(job_id="d", delay=5000)
    await q.add(job_id="e", delay=9000)
    await q.clear_events()
    await q.clear_marker()

    taken = await q.move_to_active(now=T0 + 5000)

    assert [(j.id, j.token) for j in taken.jobs] == [("d", "w1:1")]
    assert taken.next_due == T0 + 9000
    assert await q.zset(q.k.delayed) == [("e", T0 + 9000)]
    assert await q.zset(q.k.active) == [("d", T0 + 5000)]
    assert not await q.r.exists(q.k.wait)
    assert await q.events() == [
        {"event": "waiting", "jobId": "d", "prev": "delayed"},
        {"event": "active", "jobId": "d", "prev": "waiting"},
    ]
    assert (await q.job("d"))["delay"] == "0"  # promoted when due: no longer delayed, as promote() does
    assert await q.marker() == [("0", 0.0)]  # set by the promotion


async def test_promotion_keeps_priority_and_lifo_and_respects_due_order(q: LuaQueue) -> None:
    await q.add(job_id="ready")
    await q.add(job_id="late", delay=3000)
    await q.add(job_id="early", delay=1000)
    await q.add(job_id="lifo", delay=2000, lifo=True)
    await q.add(job_id="prio", delay=1500, priority=4)

    taken = await q.move_to_active(now=T0 + 2500, count=0)  # promote only

    assert taken.jobs == []
    assert taken.next_due == T0 + 3000
    # "early" was promoted before "lifo" (due order); LIFO puts "lifo" at the pop end.
    assert await q.wait_list() == ["lifo", "ready", "early"]
    assert await q.zset(q.k.prioritized) == [("prio", 4 * PRIORITY_SHIFT + 1)]
    assert await q.members(q.k.delayed) == ["late"]


async def test_paused_queue_takes_nothing_but_still_promotes_due_jobs(q: LuaQueue) -> None:
    await q.add(job_id="a")
    await q.add(job_id="d", delay=1000)
    await q.add(job_id="e", delay=5000)
    await q.pause()
    await q.clear_events()

    taken = await q.move_to_active(now=T0 + 1000, count=5)

    assert (taken.jobs, taken.next_due, taken.limited_ms) == ([], T0 + 5000, 0)
    assert await q.wait_list() == ["a", "d"]
    assert not await q.r.exists(q.k.active)
    assert not await q.r.exists(q.k.lock("a"))
    assert await q.events() == [{"event": "waiting", "jobId": "d", "prev": "delayed"}]
    assert "ats" not in await q.job("a")


async def test_rate_limiter_caps_a_window_then_reports_the_wait(q: LuaQueue) -> None:
    for _ in range(5):
        await q.add()

    first = await q.move_to_active(count=5, limit_max=2, limit_ms=60_000)

    assert [j.id for j in first.jobs] == ["1", "2"]
    assert first.limited_ms == 0
    assert await q.r.get(q.k.limiter) == b"2"
    assert 0 < await q.r.pttl(q.k.limiter) <= 60_000
    assert await q.marker() == [("0", 0.0)]

    before = await q.snapshot()
    second = await q.move_to_active(count=5, limit_max=2, limit_ms=60_000)

    assert second.jobs == []
    assert 0 < second.limited_ms <= 60_000
    assert await q.snapshot() == before
    assert await q.wait_list() == ["3", "4", "5"]


async def test_rate_limiter_counts_jobs_across_calls_without_extending_the_window(q: LuaQueue) -> None:
    for _ in range(4):
        await q.add()

    await q.move_to_active(count=1, limit_max=3, limit_ms=60_000)
    await q.r.pexpire(q.k.limiter, 40_000)  # time passes in the window
    taken = await q.move_to_active(count=5, limit_max=3, limit_ms=60_000)

    assert [j.id for j in taken.jobs] == ["2", "3"]  # 3 allowed in the window, 1 already used
    assert await q.r.get(q.k.limiter) == b"3"
    assert 0 < await q.r.pttl(q.k.limiter) <= 40_000  # the window was not restarted


async def test_rate_limiter_opens_a_new_window_once_the_old_one_expired(q: LuaQueue) -> None:
    for _ in range(3):
        await q.add()
    await q.move_to_active(count=5, limit_max=1, limit_ms=50)
    assert (await q.move_to_active(count=5, limit_max=1, limit_ms=50)).jobs == []

    await wait_until_gone(q.r, q.k.limiter)  # the 50 ms window really passes
    taken = await q.move_to_active(count=5, limit_max=1, limit_ms=50)

    assert [j.id for j in taken.jobs] == ["2"]
    assert await q.r.get(q.k.limiter) == b"1"


async def test_rate_limiter_counter_without_ttl_is_reset_not_stuck(q: LuaQueue) -> None:
    await q.add()
    await q.r.set(q.k.limiter, 7)  # a full window with no expiry (e.g. restored by hand)

    taken = await q.move_to_active(count=1, limit_max=2, limit_ms=1000)

    assert [j.id for j in taken.jobs] == ["1"]
    assert await q.r.get(q.k.limiter) == b"1"
    assert 0 < await q.r.pttl(q.k.limiter) <= 1000


async def test_id_in_wait_whose_hash_was_deleted_is_dropped(q: LuaQueue) -> None:
    await q.add(job_id="gone")
    await q.add(job_id="kept")
    await q.add(job_id="p-gone", priority=1)
    await q.add(job_id="p-kept", priority=1)
    await q.r.delete(q.k.job("gone"), q.k.job("p-gone"))
    await q.clear_events()

    taken = await q.move_to_active(count=1)
    assert [j.id for j in taken.jobs] == ["kept"]
    taken = await q.move_to_active(count=1)
    assert [j.id for j in taken.jobs] == ["p-kept"]

    assert not await q.r.exists(q.k.wait)
    assert not await q.r.exists(q.k.prioritized)
    assert await q.members(q.k.active) == ["kept", "p-kept"]
    assert not await q.r.exists(q.k.lock("gone"), q.k.lock("p-gone"), q.k.job("gone"), q.k.job("p-gone"))
    assert await q.events() == [
        {"event": "active", "jobId": "kept", "prev": "waiting"},
        {"event": "active", "jobId": "p-kept", "prev": "prioritized"},
    ]


async def test_each_fetch_of_a_job_gets_a_new_token(q: LuaQueue) -> None:
    job = await q.active_job("w1")
    await q.release([(job.id, job.token)])

    again = await q.move_to_active("w2")

    assert [(j.id, j.token) for j in again.jobs] == [("1", "w2:2")]
    assert await q.lock("1") == "w2:2"
    assert (await q.job("1"))["ats"] == "2"
    assert (await q.job("1"))["worker"] == "w2"
    assert 0 < await q.lock_ttl("1") <= LOCK_MS


async def test_empty_now_reads_the_server_clock_shifted_by_the_offset(q: LuaQueue) -> None:
    # An idle worker queues moveToActive behind its BZPOPMIN: `now` must be read when the script runs.
    sec, usec = await q.r.time()
    server_ms = sec * 1000 + usec // 1000
    offset = -3_600_000  # this worker's clock is an hour behind the server's
    await q.add()
    await q.add(timestamp=server_ms + offset - 1001, delay=1000)  # due, in the worker's clock
    await q.add(timestamp=server_ms + offset, delay=60_000)  # not yet due

    taken = await q.move_to_active(now="", count=5, clock_offset=offset)

    assert len(taken.jobs) == 2
    after_sec, after_usec = await q.r.time()
    after_ms = after_sec * 1000 + after_usec // 1000
    for job in taken.jobs:
        assert server_ms + offset <= int(job.hash["processedOn"]) <= after_ms + offset
    assert taken.next_due == server_ms + offset + 60_000

"""promote: run delayed jobs now, one by id or the earliest `count`."""

from __future__ import annotations

from tests.integration.lua._support import PRIORITY_SHIFT, T0, LuaQueue


async def test_promote_one_job_by_id(q: LuaQueue) -> None:
    await q.add(job_id="a", delay=5000)
    await q.add(job_id="b", delay=6000)
    await q.add(job_id="w")
    await q.clear_events()
    await q.clear_marker()

    assert await q.promote("b") == 1

    assert await q.zset(q.k.delayed) == [("a", T0 + 5000)]
    assert await q.wait_list() == ["w", "b"]
    assert (await q.job("b"))["delay"] == "0"
    assert (await q.job("a"))["delay"] == "5000"
    assert await q.marker() == [("0", 0.0)]
    assert await q.events() == [{"event": "waiting", "jobId": "b", "prev": "delayed"}]


async def test_promote_by_id_of_a_job_that_is_not_delayed_changes_nothing(q: LuaQueue) -> None:
    await q.add(job_id="w")
    await q.add(job_id="d", delay=1000)
    await q.clear_marker()
    before = await q.snapshot()

    assert await q.promote("w") == 0
    assert await q.promote("nope") == 0
    assert await q.snapshot() == before


async def test_promote_all_moves_the_earliest_count_in_due_order(q: LuaQueue) -> None:
    await q.add(job_id="third", delay=3000)
    await q.add(job_id="first", delay=1000)
    await q.add(job_id="second", delay=2000)
    await q.clear_events()

    assert await q.promote("", count=2) == 2

    assert await q.wait_list() == ["first", "second"]
    assert await q.zset(q.k.delayed) == [("third", T0 + 3000)]
    assert await q.events() == [
        {"event": "waiting", "jobId": "first", "prev": "delayed"},
        {"event": "waiting", "jobId": "second", "prev": "delayed"},
    ]
    assert await q.promote("", count=2) == 1
    assert await q.promote("", count=2) == 0
    assert not await q.r.exists(q.k.delayed)


async def test_promote_keeps_priority_and_lifo(q: LuaQueue) -> None:
    await q.add(job_id="w")
    await q.add(job_id="p", delay=1000, priority=7)
    await q.add(job_id="l", delay=2000, lifo=True)

    assert await q.promote() == 2

    assert await q.zset(q.k.prioritized) == [("p", 7 * PRIORITY_SHIFT + 1)]
    assert await q.wait_list() == ["l", "w"]


async def test_promote_nothing_leaves_the_marker_alone(q: LuaQueue) -> None:
    assert await q.promote() == 0
    assert await q.key_names() == set()

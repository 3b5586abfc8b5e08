"""drain: remove waiting (and prioritized, and optionally delayed) jobs, `count` per call."""

from __future__ import annotations

from tests.integration.lua._support import LuaQueue


async def _fill(q: LuaQueue) -> None:
    for i in range(1, 6):
        await q.add(job_id=f"w{i}")
        await q.add_log(f"w{i}", "line")
    await q.add(job_id="p9", priority=9)
    await q.add(job_id="p1", priority=1)
    await q.add(job_id="d2", delay=2000)
    await q.add(job_id="d1", delay=1000)
    await q.clear_events()


async def test_drains_in_batches_wait_first_then_prioritized_and_keeps_delayed(q: LuaQueue) -> None:
    running = await q.active_job("w9", job_id="running")
    await _fill(q)

    assert await q.drain(3) == 3
    assert await q.wait_list() == ["w4", "w5"]  # the next to run went first
    assert not await q.r.exists(q.k.job("w1"), q.k.logs("w1"), q.k.job("w3"))

    assert await q.drain(3) == 3
    assert not await q.r.exists(q.k.wait)
    assert await q.members(q.k.prioritized) == ["p9"]
    assert not await q.r.exists(q.k.job("p1"))

    assert await q.drain(3) == 1
    assert await q.drain(3) == 0

    assert await q.members(q.k.delayed) == ["d1", "d2"]
    assert await q.key_names() == {
        "pc",
        "d1",
        "d2",
        "delayed",
        "marker",
        "events",
        "running",
        "running:lock",
        "active",
    }
    assert await q.lock("running") == running.token
    assert await q.events() == [
        {"event": "emptied", "removed": "3"},
        {"event": "emptied", "removed": "3"},
        {"event": "emptied", "removed": "1"},
    ]


async def test_drains_delayed_jobs_too_when_asked(q: LuaQueue) -> None:
    await _fill(q)

    assert await q.drain(6, delayed=True) == 6
    assert await q.drain(6, delayed=True) == 3  # p9, then d1 and d2 by due time
    assert await q.drain(6, delayed=True) == 0
    assert await q.key_names() == {"pc", "marker", "events"}


async def test_batch_spanning_sets_stops_at_count(q: LuaQueue) -> None:
    await _fill(q)

    assert await q.drain(7, delayed=True) == 7  # 5 waiting + 2 prioritized
    assert await q.members(q.k.delayed) == ["d1", "d2"]
    assert await q.drain(1, delayed=True) == 1
    assert await q.members(q.k.delayed) == ["d2"]


async def test_draining_an_empty_queue_writes_nothing(q: LuaQueue) -> None:
    assert await q.drain(1000, delayed=True) == 0
    assert await q.key_names() == set()

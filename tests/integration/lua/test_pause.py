"""pause: flip the queue's paused flag, announce it, and wake workers on resume."""

from __future__ import annotations

from tests.integration.lua._support import LuaQueue


async def test_pause_sets_the_flag_and_announces_it_once(q: LuaQueue) -> None:
    assert await q.pause() == 1

    assert await q.key_names() == {"meta", "events"}
    assert await q.r.hgetall(q.k.meta) == {b"paused": b"1"}
    assert await q.events() == [{"event": "paused"}]

    before = await q.snapshot()
    assert await q.pause() == 0
    assert await q.snapshot() == before


async def test_resume_clears_the_flag_and_sets_the_marker_once(q: LuaQueue) -> None:
    await q.add()
    await q.pause()
    await q.clear_marker()
    await q.clear_events()

    assert await q.resume() == 1

    assert not await q.r.exists(q.k.meta)
    assert await q.marker() == [("0", 0.0)]
    assert await q.events() == [{"event": "resumed"}]

    await q.clear_marker()
    before = await q.snapshot()
    assert await q.resume() == 0
    assert await q.snapshot() == before


async def test_resume_of_a_queue_never_paused_changes_nothing(q: LuaQueue) -> None:
    assert await q.resume() == 0
    assert await q.key_names() == set()


async def test_pause_keeps_other_meta_fields(q: LuaQueue) -> None:
    await q.r.hset(q.k.meta, "other", "x")

    await q.pause()
    await q.resume()

    assert await q.r.hgetall(q.k.meta) == {b"other": b"x"}

"""heartbeat: a worker's entry with a lapse time by the server clock; a lapsed one is pruned; ttl 0 leaves."""

from __future__ import annotations

from framework.queue.scripts import script
from tests.integration.lua._support import LuaQueue


async def beat(q: LuaQueue, worker: str, ttl: int, info: str = '{"pid": 1}') -> int:
    return int(await script("heartbeat")(q.r, [q.k.workers, q.k.workers_info], [worker, info, ttl]))


async def test_beat_writes_info_and_a_lapse_time_by_the_server_clock(q: LuaQueue) -> None:
    """The entry's score is the server's now + ttl; the info is stored as given."""
    now = await beat(q, "w1", 5000)
    secs, micros = await q.r.time()
    assert abs(secs * 1000 + micros // 1000 - now) < 1000
    assert await q.zset(q.k.workers) == [("w1", now + 5000)]
    assert await q.r.hget(q.k.workers_info, "w1") == b'{"pid": 1}'


async def test_lapsed_workers_are_pruned_by_any_beat(q: LuaQueue) -> None:
    """A worker whose lapse time has passed is removed (zset and info) by another worker's beat."""
    await q.r.zadd(q.k.workers, {"dead": 1})
    await q.r.hset(q.k.workers_info, "dead", "{}")
    await beat(q, "w1", 5000)
    assert await q.members(q.k.workers) == ["w1"]
    assert await q.r.hkeys(q.k.workers_info) == [b"w1"]


async def test_ttl_zero_removes_the_worker(q: LuaQueue) -> None:
    """A closing worker (ttl 0) removes its own entry at once."""
    await beat(q, "w1", 5000)
    await beat(q, "w1", 0, "")
    assert not await q.r.exists(q.k.workers, q.k.workers_info)

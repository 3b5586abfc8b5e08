"""getState: the state of one job, for every state a job can be in."""

from __future__ import annotations

from tests.integration.lua._support import LuaQueue


async def test_waiting(q: LuaQueue) -> None:
    await q.add(job_id="a")
    assert await q.get_state("a") == "waiting"


async def test_paused_waiting_job(q: LuaQueue) -> None:
    await q.add(job_id="a")
    await q.pause()
    assert await q.get_state("a") == "paused"
    await q.resume()
    assert await q.get_state("a") == "waiting"


async def test_prioritized_even_while_paused(q: LuaQueue) -> None:
    await q.add(job_id="a", priority=3)
    assert await q.get_state("a") == "prioritized"
    await q.pause()
    assert await q.get_state("a") == "prioritized"


async def test_delayed(q: LuaQueue) -> None:
    await q.add(job_id="a", delay=1000)
    assert await q.get_state("a") == "delayed"


async def test_active(q: LuaQueue) -> None:
    job = await q.active_job()
    assert await q.get_state(job.id) == "active"


async def test_completed(q: LuaQueue) -> None:
    assert await q.get_state(await q.finished_job("completed")) == "completed"


async def test_failed(q: LuaQueue) -> None:
    assert await q.get_state(await q.finished_job("failed")) == "failed"


async def test_unknown_id(q: LuaQueue) -> None:
    assert await q.get_state("nope") == "unknown"
    assert await q.key_names() == set()


async def test_id_whose_hash_was_deleted_is_unknown(q: LuaQueue) -> None:
    await q.add(job_id="a")
    await q.r.delete(q.k.job("a"))
    assert await q.get_state("a") == "unknown"


async def test_hash_in_no_structure_is_unknown(q: LuaQueue) -> None:
    await q.r.hset(q.k.job("a"), "name", "job")
    assert await q.get_state("a") == "unknown"


async def test_get_state_writes_nothing(q: LuaQueue) -> None:
    await q.add(job_id="a")
    before = await q.snapshot()
    await q.get_state("a")
    await q.get_state("b")
    assert await q.snapshot() == before

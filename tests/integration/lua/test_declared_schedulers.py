"""declareSchedulers and removeDeclaredScheduler: the set of scheduler ids declared in code, and the removal
of a declared scheduler (hash, zset entry and pending job) that leaves run-time schedulers alone."""

from __future__ import annotations

from framework.queue.scripts import script
from tests.integration.lua._support import MAX_EVENTS, T0, LuaQueue, text

RUN1 = T0 + 1000


async def declare(q: LuaQueue, *ids: str) -> int:
    return int(await script("declareSchedulers")(q.r, [q.k.declared_schedulers], list(ids)))


async def remove_declared(q: LuaQueue, sid: str) -> int:
    return int(
        await script("removeDeclaredScheduler")(
            q.r, q.k.remove_declared_scheduler_keys(sid), [q.base, sid, MAX_EVENTS]
        )
    )


async def declared(q: LuaQueue) -> set[str]:
    return {text(x) for x in await q.r.smembers(q.k.declared_schedulers)}


async def test_declare_adds_ids_once(q: LuaQueue) -> None:
    """Declaring returns how many ids are new; declaring again changes nothing."""
    assert await declare(q, "a", "b") == 2
    assert await declare(q, "b", "c") == 1
    assert await declared(q) == {"a", "b", "c"}


async def test_remove_declared_deletes_the_scheduler_and_its_pending_job(q: LuaQueue) -> None:
    """A declared scheduler goes with its hash, zset entry and pending delayed job; its id is forgotten."""
    await declare(q, "s1")
    await q.upsert_scheduler("s1", "v1", RUN1)
    assert await remove_declared(q, "s1") == 1
    assert await declared(q) == set()
    names = await q.key_names()
    assert "scheduler:s1" not in names and f"repeat:s1:{RUN1}" not in names
    assert await q.zset(q.k.schedulers) == [] and await q.zset(q.k.delayed) == []
    assert {"event": "removed", "jobId": f"repeat:s1:{RUN1}"} in await q.events()


async def test_a_scheduler_not_declared_is_never_removed(q: LuaQueue) -> None:
    """A run-time scheduler (its id not in the declared set) is left as it is: -1, nothing written."""
    await q.upsert_scheduler("runtime", "v1", RUN1)
    before = await q.snapshot()
    assert await remove_declared(q, "runtime") == -1
    assert await q.snapshot() == before


async def test_a_declared_id_whose_scheduler_is_gone_is_forgotten(q: LuaQueue) -> None:
    """An id declared but already removed (by hand) returns 0 and leaves the declared set."""
    await declare(q, "gone")
    assert await remove_declared(q, "gone") == 0
    assert await declared(q) == set()

"""addJobsOnce: an add_bulk chunk is written once; sending it again returns the recorded reply."""

from __future__ import annotations

from typing import Any

from framework.queue.scripts import script
from tests.integration.lua._support import T0, LuaQueue, text


async def _once(q: LuaQueue, record: str, jobs: list[dict[str, Any]], ttl_ms: int = 60_000) -> list[Any]:
    args: list[Any] = [q.base, T0, 1000, len(jobs), ttl_ms]
    for job in jobs:
        args += [job.get("job_id", ""), job.get("name", "job"), "{}", "{}", job.get("delay", 0), 0, "0"]
    return text(await script("addJobsOnce")(q.r, [*q.k.add_keys(), record], args))


async def test_a_resent_chunk_writes_nothing_and_returns_the_first_reply(q: LuaQueue) -> None:
    record = q.k.bulk_record("call1", 0)
    first = await _once(q, record, [{"name": "a"}, {"job_id": "custom"}, {"name": "c", "delay": 10}])
    again = await _once(q, record, [{"name": "a"}, {"job_id": "custom"}, {"name": "c", "delay": 10}])
    assert first == ["1", 1, "custom", 1, "2", 1]
    assert again == first
    assert await q.wait_list() == ["1", "custom"]
    assert await q.r.get(q.k.id_counter) == b"2"
    assert 0 < await q.r.pttl(record) <= 60_000


async def test_another_chunk_record_writes_its_own_jobs(q: LuaQueue) -> None:
    await _once(q, q.k.bulk_record("call1", 0), [{"name": "a"}])
    second = await _once(q, q.k.bulk_record("call1", 1), [{"name": "b"}, {"job_id": "x"}])
    assert second == ["2", 1, "x", 1]
    assert await q.wait_list() == ["1", "2", "x"]

"""removeJob: delete a job that is not running, from whichever state it is in."""

from __future__ import annotations

import pytest

from tests.integration.lua._support import LuaQueue


async def _in_state(q: LuaQueue, state: str) -> str:
    if state == "waiting":
        return (await q.add(job_id="x"))[0]
    if state == "prioritized":
        return (await q.add(job_id="x", priority=2))[0]
    if state == "delayed":
        return (await q.add(job_id="x", delay=1000))[0]
    return await q.finished_job(state, job_id="x")


@pytest.mark.parametrize("state", ["waiting", "prioritized", "delayed", "completed", "failed"])
async def test_removes_the_job_and_all_its_keys_from_any_state(q: LuaQueue, state: str) -> None:
    job_id = await _in_state(q, state)
    await q.add(job_id="bystander")
    await q.add_log(job_id, "a line")
    await q.clear_events()
    await q.clear_marker()
    before = await q.snapshot()

    assert await q.remove(job_id) == 1

    after = await q.snapshot()
    assert after.pop("events")[1][0][1] == {"event": "removed", "jobId": job_id}
    assert job_id not in after and f"{job_id}:logs" not in after
    for key in ("wait", "prioritized", "delayed", "completed", "failed"):
        if key in after:
            assert job_id not in str(after[key][1])
    # Nothing else moved: the bystander, counters, marker.
    expected = {
        name: value
        for name, value in before.items()
        if name not in (job_id, f"{job_id}:logs") and name != "events"
    }
    for name, (kind, value, ttl) in list(expected.items()):
        if kind == "list":
            expected[name] = (kind, [m for m in value if m != job_id], ttl)
        elif kind == "zset":
            expected[name] = (kind, [(m, s) for m, s in value if m != job_id], ttl)
        if not expected[name][1]:
            del expected[name]
    assert after == expected
    assert await q.wait_list() == ["bystander"]


async def test_unknown_job_returns_zero_and_changes_nothing(q: LuaQueue) -> None:
    await q.add()
    before = await q.snapshot()

    assert await q.remove("nope") == 0
    assert await q.snapshot() == before


async def test_active_locked_job_is_refused(q: LuaQueue) -> None:
    job = await q.active_job()
    before = await q.snapshot()

    assert await q.remove(job.id) == -1
    assert await q.snapshot() == before


async def test_active_job_whose_lock_lapsed_is_removed(q: LuaQueue) -> None:
    job = await q.active_job()
    await q.expire_lock(job.id)

    assert await q.remove(job.id) == 1
    assert await q.key_names() == {"id", "events"}
